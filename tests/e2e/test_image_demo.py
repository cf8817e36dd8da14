import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkpoint(smoke_checkpoint):
    return smoke_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["mode=splash"], ["grayscale=true"], []])
def test_image_demo_writes_same_names(quick_script, tmp_path, checkpoint, extra):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(photos / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(photos / "gray.png"), rng.integers(0, 255, (48, 64), dtype=np.uint8))
    out = tmp_path / "out"
    proc = quick_script(
        "image_demo.py",
        f"input={photos}",
        f"model.weights={checkpoint}",
        f"output={out}",
        "score_thresh=0.0",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "gray.png"]
    assert cv2.imread(str(out / "b.png")).shape == (48, 64, 3)
    assert (
        sum(line.startswith(("a.jpg:", "b.png:", "gray.png:")) for line in proc.stdout.splitlines())
        == 3
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["input=/nonexistent/*.jpg"], "no such image"),
        (["input=x.jpg", "mode=sparkle"], "mode"),
        (["input=x.jpg", "model.weights=/nope.ckpt"], None),
    ],
)
def test_image_demo_bad_input_one_line(quick_script, args, message):
    proc = quick_script("image_demo.py", *args, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in proc.stderr
    if message:
        assert message in lines[0]


@pytest.mark.slow
def test_video_demo_script(script, quick_script, tmp_path, checkpoint):
    sys.path.insert(0, str(ROOT / "tests" / "demo"))
    from test_video import read_clip, write_clip

    src = tmp_path / "clip.mp4"
    write_clip(src, n=6, audio=True)
    proc = script(
        "video_demo.py",
        f"input={src}",
        f"output={tmp_path / 'out.mp4'}",
        f"model.weights={checkpoint}",
        "score_thresh=0.0",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames, fps, size, streams = read_clip(tmp_path / "out.mp4")
    assert len(frames) == 6 and fps == 15 and size == (64, 48) and streams == ["video", "audio"]
    assert "track  class" in proc.stdout  # the per-track summary ends the run
    same = quick_script(
        "video_demo.py", f"input={src}", f"output={src}", f"model.weights={checkpoint}"
    )
    missing = quick_script(
        "video_demo.py", f"input={tmp_path / 'nope.mp4'}", f"output={tmp_path / 'o.mp4'}"
    )
    camera = quick_script("video_demo.py", "input=7", f"output={tmp_path}")
    untracked = quick_script("video_demo.py", f"input={src}", "keep_tracks=[1]", "tracker=null")
    no_such = quick_script("video_demo.py", f"input={src}", f"output={tmp_path / 'k.mp4'}",
                           f"model.weights={checkpoint}", "keep_tracks=[99]")  # fmt: skip
    cases = ((same, "overwrite the input"), (missing, "no such file"), (camera, "webcam 7"),
             (untracked, "keep_tracks needs tracking"), (no_such, "no track 99"))  # fmt: skip
    for proc, message in cases:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "frame/s]" not in ln]
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "k.mp4").exists()


def test_grayscale_demo_runs_and_draws_on_the_gray_image(quick_script, tmp_path, checkpoint):
    color = np.random.default_rng(1).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), color)
    for gray, name in (("true", "gray"), ("false", "rgb")):
        proc = quick_script(
            "image_demo.py",
            f"input={tmp_path / 'c.png'}",
            f"output={tmp_path / name}",
            f"model.weights={checkpoint}",
            f"grayscale={gray}",
            "score_thresh=1.5",  # nothing drawn
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    expected = cv2.cvtColor(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert np.array_equal(cv2.imread(str(tmp_path / "gray" / "c.png")), expected)
    assert np.array_equal(cv2.imread(str(tmp_path / "rgb" / "c.png")), color)


def test_image_demo_never_overwrites_its_inputs(quick_script, tmp_path, checkpoint):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), np.full((40, 60, 3), 90, np.uint8))
    before = (photos / "a.jpg").read_bytes()
    link = tmp_path / "link"
    link.symlink_to(photos, target_is_directory=True)
    for output in (photos, link):
        proc = quick_script(
            "image_demo.py", f"input={photos}", f"output={output}", f"model.weights={checkpoint}"
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and "overwrite the input" in lines[0]
    assert (photos / "a.jpg").read_bytes() == before and len(list(photos.iterdir())) == 1


def test_image_demo_refuses_unsafe_checkpoints_and_empty_folders(quick_script, tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": Evil()}))
    text = tmp_path / "notes.pth"
    text.write_text("epoch 3: loss 0.2\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    x = tmp_path / "x.jpg"
    cases = [
        ([f"input={x}", f"model.weights={evil}"], "evil.ckpt: not a safe PyTorch checkpoint"),
        ([f"input={x}", f"model.weights={text}"], "notes.pth: not a PyTorch checkpoint"),
        ([f"input={tmp_path / 'empty'}"], "has no images"),
        ([f"input={x}", f"output={tmp_path / 'file' / 'out'}"], "file is a file"),
    ]
    for args, message in cases:
        proc = quick_script("image_demo.py", *args, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
        assert "pwned" not in proc.stdout
