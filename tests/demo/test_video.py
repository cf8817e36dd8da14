"""Video pipeline on synthetic clips: frames, fps, size and audio kept; failures leave nothing."""

import json
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from balloon_shapes.demo.video import VideoOptions, run_video
from balloon_shapes.demo.video_io import VideoError, open_camera, open_source, probe
from balloon_shapes.errors import ConfigError, OutputError
from balloon_shapes.structures import Instances
from balloon_shapes.visualizer import color_splash


def write_clip(path, n=12, fps=15, size=(64, 48), audio=False):
    """Moving square on a colored background, optional mono AAC track."""
    w, h = size
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream("aac", rate=16000) if audio else None
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[:] = (30, 120, 200)
            img[10:26, 2 * i : 2 * i + 16] = (250, 60, 60)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            c.mux(v.encode(f))
        c.mux(v.encode())
        if a is not None:
            for k in range(10):
                af = av.AudioFrame.from_ndarray(
                    np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
                )
                af.sample_rate, af.pts = 16000, k * 1024
                c.mux(a.encode(af))
            c.mux(a.encode())


def read_clip(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return frames, Fraction(v.average_rate), (v.width, v.height), [s.type for s in c.streams]


class FakePredictor:
    """Masks the red square by color: a stand-in model with known output."""

    def __init__(self):
        self.calls = 0

    def batch(self, images):
        self.calls += 1
        out = []
        for im in images:
            mask = (im[..., 0] > 180) & (im[..., 2] < 120)
            xs, ys = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
            box = [[xs[0], ys[0], xs[-1] + 1, ys[-1] + 1]] if len(xs) else np.zeros((1, 4))
            box = np.array(box, float)
            out.append(Instances(box, np.array([1]), np.array([0.9]), mask[None]))
        return out


class CtrlCPredictor(FakePredictor):
    """Ctrl-C arrives (in the main thread, as a real one does) at the ``at``-th model call."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def batch(self, images):
        if self.calls + 1 == self.at:
            raise KeyboardInterrupt
        return super().batch(images)


def splash(image, inst):
    return color_splash(image, inst.masks)


@pytest.mark.parametrize("audio", [False, True])
def test_output_keeps_frames_fps_size_and_audio(tmp_path, audio):
    src, dst = tmp_path / "in.mp4", tmp_path / "out" / "splash.mp4"
    write_clip(src, audio=audio)
    info = run_video(
        str(src),
        str(dst),
        FakePredictor().batch,
        splash,
        VideoOptions(batch_size=4, detections_json=str(tmp_path / "det.json")),
    )
    frames, fps, size, streams = read_clip(dst)
    assert info["frames"] == len(frames) == 12 and fps == 15 and size == (64, 48)
    assert streams == (["video", "audio"] if audio else ["video"])
    mid = frames[6].astype(int)
    assert abs(mid[5, 40, 0] - mid[5, 40, 2]) < 12  # background is gray now
    assert mid[18, 20, 0] > 150 and mid[18, 20, 2] < 140  # the square kept its red
    assert (tmp_path / "det.json").exists()
    assert [p.name for p in dst.parent.iterdir()] == ["splash.mp4"]  # no temp files left


def test_every_n_and_max_frames(tmp_path):
    src = tmp_path / "in.mp4"
    write_clip(src)
    pred = FakePredictor()
    options = VideoOptions(batch_size=2, every_n=3, max_frames=8)
    info = run_video(str(src), str(tmp_path / "o.mp4"), pred.batch, splash, options)
    assert info["frames"] == len(read_clip(tmp_path / "o.mp4")[0]) == 8
    assert pred.calls == 3  # frames 0, 3, 6 went to the model, in batches of <= 2 frames read


def test_interrupted_run_leaves_no_output(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(src)
    count = {"n": 0}

    def dies(image, inst):
        count["n"] += 1
        if count["n"] == 5:
            raise KeyboardInterrupt
        return image

    with pytest.raises(KeyboardInterrupt):
        run_video(str(src), str(dst), FakePredictor().batch, dies)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_bad_inputs(tmp_path):
    good = tmp_path / "in.mp4"
    write_clip(good)
    (tmp_path / "text.mp4").write_text("not a video")
    with av.open(str(tmp_path / "empty.mp4"), "w") as c:  # a video stream with no frames
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        af = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        af.sample_rate, af.pts = 16000, 0
        c.mux(a.encode(af))
        c.mux(a.encode())
    cases = [
        (tmp_path / "missing.mp4", "no such file"),
        (tmp_path / "text.mp4", "not a readable video"),
        (tmp_path / "empty.mp4", "zero video frames"),
    ]
    for path, message in cases:
        with pytest.raises(VideoError, match=message):
            probe(str(path))
    before = good.read_bytes()
    link = tmp_path / "link"
    link.symlink_to(tmp_path, target_is_directory=True)
    for dst in (good, link / good.name, tmp_path / "sub" / ".." / good.name):
        with pytest.raises(OutputError, match="overwrite the input"):
            run_video(str(good), str(dst), FakePredictor().batch, splash)
    assert good.read_bytes() == before
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="a file is in the way"):
        run_video(str(good), str(blocker / "o.mp4"), FakePredictor().batch, splash)
    assert blocker.read_text() == "not a folder"
    for bad in ({"every_n": 0}, {"max_frames": 0}, {"max_frames": -1}, {"batch_size": 0}):
        with pytest.raises(ConfigError, match=f"{next(iter(bad))}=.*: must be"):
            VideoOptions(**bad)


def test_each_frame_gets_its_own_detections(tmp_path):
    src, det = tmp_path / "in.mp4", tmp_path / "det.json"
    write_clip(src, n=20)
    info = run_video(
        str(src),
        str(tmp_path / "o.mp4"),
        FakePredictor().batch,
        splash,
        VideoOptions(batch_size=3, detections_json=str(det)),
    )
    records = json.loads(det.read_text())
    assert info["frames"] == 20 and [r["frame"] for r in records] == list(range(20))
    left = [r["instances"][0]["box"][0] for r in records]
    assert np.allclose(np.diff(left), 2, atol=1)  # the square moves 2 px per frame


def test_webcam_reader_on_a_file_and_a_missing_camera(tmp_path):
    src = tmp_path / "in.mp4"
    write_clip(src, n=6, fps=15)
    camera = open_camera(str(src))  # the live reader, fed by a file
    assert camera.live and (camera.width, camera.height) == (64, 48) and camera.count is None
    info = run_video(
        camera, str(tmp_path / "cam.mp4"), FakePredictor().batch, splash, VideoOptions(max_frames=4)
    )
    frames, fps, size, _ = read_clip(tmp_path / "cam.mp4")
    assert info["frames"] == len(frames) == 4 and fps == 15 and size == (64, 48)
    with pytest.raises(VideoError, match="webcam 9: cannot be opened"):
        open_source("9")


def test_ctrl_c_ends_a_live_recording_cleanly(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "cam.mp4"
    write_clip(src, n=12)
    info = run_video(
        open_camera(str(src)),
        str(dst),
        CtrlCPredictor(at=6).batch,
        splash,
        VideoOptions(batch_size=1),
    )
    assert info["frames"] == len(read_clip(dst)[0]) == 5
    with pytest.raises(KeyboardInterrupt):  # a file is not live: Ctrl-C leaves nothing
        run_video(
            str(src),
            str(tmp_path / "f.mp4"),
            CtrlCPredictor(at=3).batch,
            splash,
            VideoOptions(batch_size=1),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.mp4", "in.mp4"]


def write_frames(path, images, times_ms, rotation=0, faststart=False, codec="libx264"):
    """A clip of ``images`` at ``times_ms`` (variable rate), with a display rotation."""
    h, w = images[0].shape[:2]
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as c:
        v = c.add_stream(codec, rate=15)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            v.set_display_rotation(rotation)
        for img, t in zip(images, times_ms):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = t, Fraction(1, 1000)
            c.mux(v.encode(f))
        c.mux(v.encode())


def times_of(path):
    with av.open(str(path)) as c:
        return [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]


def identity(image, instances):
    return image


def test_variable_frame_rate_keeps_each_frame_time(tmp_path):
    times = [0, 100, 150, 400, 450, 1000, 1033]
    images = [np.full((48, 64, 3), 20 * k, np.uint8) for k in range(len(times))]
    src, dst = tmp_path / "vfr.mp4", tmp_path / "out.mp4"
    write_frames(src, images, times)
    info = run_video(str(src), str(dst), FakePredictor().batch, identity)
    assert info["frames"] == len(times)
    assert times_of(dst) == [t / 1000 for t in times]


def test_rotated_video_is_turned_upright_for_the_model_and_the_output(tmp_path):
    stored = np.full((48, 64, 3), 40, np.uint8)
    stored[:8, :8] = 255  # a marker at the stored top-left corner
    src, dst = tmp_path / "portrait.mp4", tmp_path / "out.mp4"
    write_frames(src, [stored] * 3, [0, 66, 133], rotation=-90)  # phones: 90 degrees clockwise
    seen = []

    def predict(images):
        seen.extend(images)
        return FakePredictor().batch(images)

    run_video(str(src), str(dst), predict, identity)
    upright = np.rot90(stored, -1)  # turned clockwise: the marker goes to the top-right
    assert seen[0].shape == (64, 48, 3) and seen[0][:8, -8:].mean() > 200
    assert np.abs(seen[0].astype(int) - upright).mean() < 8
    frames, _, size, _ = read_clip(dst)
    assert size == (48, 64) and np.abs(frames[0].astype(int) - upright).mean() < 8
    with av.open(str(dst)) as c:
        assert next(c.decode(video=0)).rotation == 0  # upright pixels, no rotation flag


@pytest.mark.parametrize(
    "codec, message",
    [  # FFmpeg fails on the cut H.264 stream, but ends the MPEG-4 one early without a word
        ("libx264", "cannot be decoded"),
        ("mpeg4", r"truncated or damaged: \d+ of 30 frames decoded"),
    ],
)
def test_truncated_video_is_an_error_naming_the_file_and_leaves_nothing(tmp_path, codec, message):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    src, dst = tmp_path / "cut.mp4", tmp_path / "out.mp4"
    write_frames(src, images, [66 * k for k in range(30)], faststart=True, codec=codec)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])  # the index is at the front: it lists all 30
    with pytest.raises(VideoError, match=f"cut.mp4: {message}"):
        run_video(str(src), str(dst), FakePredictor().batch, identity)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]


def test_a_tracked_run_gives_track_ids_and_a_per_track_summary(tmp_path):
    """every_n=2: carried masks go through the tracker too, so a track is confirmed at the
    frame after its first (not at its second model frame); frozen ones wait for the model."""
    from tests.demo.test_tracking import config_tracker

    src = tmp_path / "in.mp4"
    write_clip(src, n=12)
    for carry, first in (("flow", 1), ("freeze", 2)):
        det = tmp_path / f"{carry}.json"
        options = VideoOptions(batch_size=3, every_n=2, detections_json=str(det), carry=carry)
        info = run_video(str(src), str(tmp_path / "o.mp4"), FakePredictor().batch, splash,
                         options, config_tracker(), ["square"])  # fmt: skip
        ids = [[i["track_id"] for i in r["instances"]] for r in json.loads(det.read_text())]
        assert ids[:first] == [[-1]] * first and ids[first:] == [[0]] * (12 - first), carry
        assert info["tracks"] == [
            {
                "track_id": 0,
                "class": "square",
                "first_frame": first,
                "last_frame": 11,
                "frames": 12 - first,
            }
        ]


def test_keep_tracks_naming_no_track_is_one_line_and_writes_nothing(tmp_path):
    from tests.demo.test_tracking import config_tracker

    src, dst, det = tmp_path / "in.mp4", tmp_path / "o.mp4", tmp_path / "det.json"
    write_clip(src, n=6)
    dst.write_bytes(b"the user's earlier video")
    options = VideoOptions(keep_tracks=(7,), detections_json=str(det))
    message = r"keep_tracks=\[7\]: no track 7 in this video \(tracks 0-0\)"
    with pytest.raises(ConfigError, match=message):
        run_video(str(src), str(dst), FakePredictor().batch, splash, options, config_tracker())
    assert dst.read_bytes() == b"the user's earlier video" and not det.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o.mp4"]
    with pytest.raises(ConfigError, match="carry='warp': expected one of flow, freeze"):
        VideoOptions(carry="warp")
