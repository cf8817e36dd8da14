"""Video pipeline: decode in a thread, the model in the main thread, draw and encode in a thread.

Decoding, the model, drawing and encoding overlap; the output keeps the input's resolution,
frame rate and frame count, copies the audio track, and is written to a temp file renamed at
the end, so an interrupted run leaves no partial video. A webcam index is a live source: it
runs until ``max_frames`` or Ctrl-C, which ends the recording cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm import tqdm

from balloon_shapes.config import check_value, yaml_node
from balloon_shapes.demo.image_demo import check_mode, draw_picture
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.demo.tracking import (
    CARRY,
    FlowCarrier,
    ReIdentifier,
    Tracker,
    TrackLog,
    keep_only,
    summary_lines,
)
from balloon_shapes.demo.video_io import (
    END,
    FALLBACK_FPS,
    Encoder,
    Source,
    check_output,
    open_source,
    threaded,
)
from balloon_shapes.errors import ConfigError
from balloon_shapes.evaluation.inference import images_per_pass
from balloon_shapes.files import atomic_write, write_json
from balloon_shapes.model_loader import load_model
from balloon_shapes.structures import Instances


def _demo_default(key: str):
    return dataclasses.field(default_factory=lambda: yaml_node("demo.yaml")[key])


@dataclass(frozen=True)
class VideoOptions:
    """How frames are grouped and how much is done: the demo config's keys of the same names,
    with demo.yaml's defaults."""

    batch_size: int = dataclasses.field(  # the inference group's, in base.yaml
        default_factory=lambda: yaml_node("base.yaml").inference.batch_size
    )
    every_n: int = _demo_default("every_n")  # the model every n frames, instances carried between
    max_frames: int | None = _demo_default("max_frames")
    detections_json: str | None = _demo_default("detections_json")
    carry: str = _demo_default("carry")  # flow | freeze: how masks go from a model frame on
    keep_tracks: tuple[int, ...] = dataclasses.field(  # IDs the run must see (drawn by the caller)
        default_factory=lambda: tuple(yaml_node("demo.yaml").keep_tracks)
    )

    def __post_init__(self) -> None:
        check_value("inference.batch_size", self.batch_size)
        for key in ("every_n", "max_frames"):
            check_value(key, getattr(self, key))
        if self.carry not in CARRY:
            raise ConfigError(f"carry={self.carry!r}: expected one of {', '.join(CARRY)}")


def run_video(
    src: str | Source,
    dst: str,
    predict: Callable[[list[np.ndarray]], list[Instances]],
    draw: Callable[[np.ndarray, Instances], np.ndarray],
    options: VideoOptions | None = None,
    tracker: Tracker | None = None,
    names: list[str] | None = None,
) -> dict:
    """Process a video file (or a :class:`Source`) into ``dst``; returns frames, fps, output
    and, with a ``tracker``, the per-track summary (``names``: the class names).

    ``predict`` maps a batch of frames to their instances, ``draw`` a frame and its instances
    to the output picture.
    """
    options = options or VideoOptions()
    source = src if isinstance(src, Source) else open_source(src)
    check_output(source.name, dst)
    fps = source.fps or FALLBACK_FPS  # some sources read as 0 fps: keep the writer alive
    source = dataclasses.replace(source, fps=fps)
    n, count = options.max_frames, source.count
    total = min(count, n) if count and n else (count or n)
    detections: list[dict] = []
    log = TrackLog()

    def write(tmp: str) -> None:
        encoder = Encoder(source, tmp, source.audio and n is None, draw)
        encoder.start()
        try:
            with (
                tqdm(total=total, unit="frame", desc=os.path.basename(source.name)) as bar,
                contextlib.closing(threaded(source.read(n))) as decoded,
            ):
                carry = FlowCarrier() if options.carry == "flow" else None
                loop = FrameLoop(predict, options.every_n, encoder, bar, detections, carry,
                                 tracker, seconds_of(source), log)  # fmt: skip
                loop.run(_batches(decoded, options.batch_size), source)
        finally:
            encoder.q.put(END)
            encoder.join()
        if encoder.error:
            raise encoder.error
        check_kept(options.keep_tracks, log)  # before any file is in place
        if options.detections_json:
            write_json(options.detections_json, detections)

    atomic_write(dst, write)  # an interrupted run leaves no partial video
    out = {"frames": len(detections), "fps": float(fps), "output": dst}
    if tracker is not None:
        out["tracks"] = log.summary(names or [])
    return out


def seconds_of(source: Source) -> Callable[[int], float]:
    """Frame index -> its time in seconds: the file's own (variable frame rates), else i / fps."""
    times = source.timestamps
    if times is not None and times.pts:
        return lambda i: float(times.pts[min(i, len(times.pts) - 1)] * times.time_base)
    return lambda i: i / float(source.fps)


def check_kept(keep: tuple[int, ...], log: TrackLog) -> None:
    """``keep_tracks`` naming a track the video never had is the user's mistake."""
    missing = sorted(set(keep) - set(log.votes))
    if missing:
        seen = f"tracks {min(log.votes)}-{max(log.votes)}" if log.votes else "no tracks"
        raise ConfigError(
            f"keep_tracks={list(keep)}: no track {missing[0]} in this video ({seen}); "
            "run once without keep_tracks and read the track summary"
        )


@dataclass
class FrameLoop:
    """The model's side of the pipeline: predicts every ``every_n``-th frame, queues each frame
    with its instances for the encoder, and records the detections."""

    predict: Callable[[list[np.ndarray]], list[Instances]]
    every_n: int
    encoder: Encoder
    bar: tqdm
    detections: list[dict]
    carry: FlowCarrier | None = None  # None: the last model frame's masks stay in place
    tracker: Tracker | None = None
    seconds: Callable[[int], float] = float
    log: TrackLog = dataclasses.field(default_factory=TrackLog)
    previous: np.ndarray | None = None

    def run(self, batches: Iterator[list[tuple[int, np.ndarray]]], source: Source) -> None:
        """All batches; Ctrl-C ends a live source cleanly (a file's run is interrupted)."""
        h, w = source.height, source.width
        last = Instances(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros((0, h, w), bool))
        try:
            for batch in batches:
                last = self.step(batch, last)
        except KeyboardInterrupt:
            if not source.live:
                raise
            print(f"{source.name}: stopped after {len(self.detections)} frames")

    def step(self, batch: list[tuple[int, np.ndarray]], last: Instances) -> Instances:
        todo = [image for i, image in batch if i % self.every_n == 0]
        results = iter(self.predict(todo)) if todo else iter(())
        for i, image in batch:
            if i % self.every_n == 0:
                last = next(results)
                if self.tracker is not None:
                    last = self.tracker.update(last, self.seconds(i), image)
            elif self.carry is not None and self.previous is not None:
                last = self.carry(self.previous, image, last)
                if self.tracker is not None:  # motion seen each frame; a track confirmed at once
                    last = self.tracker.update(last, self.seconds(i), image, carried=True)
            self.previous = image
            self.encoder.q.put((i, image, last))
            self.detections.append(_frame_record(i, last))
            self.log.add(i, last)
            self.bar.update(1)
        if self.encoder.error:
            raise self.encoder.error
        return last


def _batches(items: Iterator[np.ndarray], size: int) -> Iterator[list[tuple[int, np.ndarray]]]:
    batch = []
    for i, item in enumerate(items):
        batch.append((i, item))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _frame_record(i: int, inst: Instances) -> dict:
    """One frame of the detections JSON; ``track_id`` when tracked (-1: not yet confirmed)."""
    records = [
        {"label": int(c), "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
        for c, s, b in zip(inst.labels, inst.scores, inst.boxes)
    ]
    for record, track in zip(records, inst.ids if inst.ids is not None else ()):
        record["track_id"] = int(track)
    return {"frame": i, "instances": records}


def run_video_demo(cfg: DictConfig) -> dict:
    """``scripts/video_demo.py``: splash or overlay each frame of ``input`` into ``output``."""
    check_mode(cfg.mode)
    if cfg.keep_tracks and cfg.tracker is None:
        raise ConfigError("keep_tracks needs tracking: set tracker back (see demo.yaml)")
    source = open_source(cfg.input)  # bad input fails before the model is built
    dst = str(cfg.output)
    if not os.path.splitext(dst)[1]:  # a folder: name the video after the input
        stem = os.path.splitext(os.path.basename(source.name))[0]
        dst = os.path.join(dst, f"{stem}_{cfg.mode}.mp4")
    model, names = load_model(cfg)
    predictor = Predictor.from_config(cfg, model, names)
    # frames are prepared (gray when grayscale=true) once, in the decode thread: the model
    # sees and the picture shows the same pixels
    prepared = dataclasses.replace(
        source, read=lambda n: _mapped(predictor.prepare, source.read(n))
    )
    keep = tuple(cfg.keep_tracks or ())
    draw = frame_picture(names, cfg.mode, keep)
    batch = images_per_pass(predictor.device, cfg.inference.batch_size)
    options = VideoOptions(batch, cfg.every_n, cfg.max_frames, cfg.detections_json, cfg.carry, keep)
    info = run_video(
        prepared, dst, predictor.infer, draw, options, make_tracker(cfg, source), names
    )
    if info.get("tracks"):
        print("\n".join(summary_lines(info["tracks"])))
    return info


def frame_picture(names: list[str], mode: str, keep: tuple[int, ...] = ()) -> Callable:
    """What the encoder draws for a frame: ``mode``'s picture of the ``keep`` tracks (all if
    empty; in a splash the others stay gray)."""
    return lambda image, inst: draw_picture(image, keep_only(inst, keep), names, mode)


def make_tracker(cfg: DictConfig, source: Source) -> Tracker | None:
    """The config's ``tracker`` (null: none), told the video's frame rate."""
    if cfg.tracker is None:
        return None
    tracker = instantiate(cfg.tracker, frame_rate=float(source.fps or FALLBACK_FPS))
    reid = None if cfg.reid is None else ReIdentifier(**cfg.reid)
    return Tracker(tracker, cfg.same_object_iou, reid)


def _mapped(fn: Callable[[np.ndarray], np.ndarray], frames: Iterator) -> Iterator[np.ndarray]:
    """``fn`` of each frame; closing this closes ``frames`` (a camera is released)."""
    with contextlib.closing(frames):
        for frame in frames:
            yield fn(frame)
