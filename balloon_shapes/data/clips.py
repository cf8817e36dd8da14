"""Videos of moving shapes with exact per-frame masks and identities: the ground truth that
tracking and mask propagation are measured against.

A clip is a pure function of ``(seed, spec)``. Each object keeps its class, color and depth;
it moves at a constant velocity, bouncing off walls outside the frame (so it leaves and comes
back where it left), turns and breathes in size. Later objects occlude earlier ones. The
ground truth is written in the MOTS text format (``frame id class height width rle``, one
line per visible object per frame, frames from 1 as MOTSChallenge numbers them) that TrackEval
reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from balloon_shapes.config import yaml_node
from balloon_shapes.data.shapes import CLASSES, Shape, _random_color, compose
from balloon_shapes.errors import DataError
from balloon_shapes.files import atomic_write
from balloon_shapes.structures import decode_rles, encode_rle

DEFAULTS = yaml_node("clips.yaml")


@dataclass(frozen=True)
class ClipSpec:
    """How a clip is drawn; the defaults are configs/clips.yaml's."""

    height: int = DEFAULTS.height
    width: int = DEFAULTS.width
    frames: int = DEFAULTS.frames
    fps: int = DEFAULTS.fps
    objects: int = DEFAULTS.objects
    min_size: float = DEFAULTS.min_size
    max_size: float = DEFAULTS.max_size
    max_speed: float = DEFAULTS.max_speed
    max_spin: float = DEFAULTS.max_spin
    scale: float = DEFAULTS.scale
    margin: float = DEFAULTS.margin
    min_pixels: int = DEFAULTS.min_pixels
    min_color_dist: float = DEFAULTS.min_color_dist


@dataclass(frozen=True)
class Mover:
    """One object: class index, start centre, velocity, radius, turn, breathing, aspect, RGB."""

    cls: int
    x: float
    y: float
    vx: float
    vy: float
    r: float
    angle: float
    spin: float
    phase: float
    aspect: float
    color: tuple[int, int, int]

    def at(self, t: int, spec: ClipSpec) -> tuple[float, float, float, float]:
        """(cx, cy, radius, angle) at frame ``t``: bouncing off the canvas's walls, which lie
        ``margin`` outside the frame (an object leaves, turns and comes back where it left)."""
        pad = spec.margin * min(spec.height, spec.width)
        cx = bounce(self.x + self.vx * t, -pad, spec.width + pad)
        cy = bounce(self.y + self.vy * t, -pad, spec.height + pad)
        r = self.r * (1 + spec.scale * np.sin(0.15 * t + self.phase))
        return cx, cy, r, self.angle + self.spin * t


def bounce(x: float, low: float, high: float) -> float:
    """``x`` folded into [low, high] as a ball bouncing between two walls (a triangle wave)."""
    span = high - low
    u = (x - low) % (2 * span)
    return low + (u if u <= span else 2 * span - u)


@dataclass(frozen=True)
class Truth:
    """One object in one frame: its identity (1-based), class (1-based) and mask."""

    track_id: int
    category_id: int
    mask: np.ndarray


def movers(seed: int, spec: ClipSpec) -> tuple[np.ndarray, list[Mover]]:
    """The background color and the clip's objects, from ``seed`` alone."""
    rng = np.random.default_rng([seed, 7919])
    bg = rng.integers(0, 256, size=3)
    side = min(spec.height, spec.width)
    out = []
    for _ in range(spec.objects):
        speed, heading = rng.uniform(0.3, 1.0) * spec.max_speed, rng.uniform(0, 2 * np.pi)
        out.append(Mover(
            cls=int(rng.integers(len(CLASSES))),
            x=rng.uniform(0, spec.width), y=rng.uniform(0, spec.height),
            vx=speed * np.cos(heading), vy=speed * np.sin(heading),
            r=rng.uniform(spec.min_size, spec.max_size) * side,
            angle=rng.uniform(0, 2 * np.pi), spin=rng.uniform(-1, 1) * spec.max_spin,
            phase=rng.uniform(0, 2 * np.pi), aspect=rng.uniform(0.4, 0.7),
            color=tuple(int(c) for c in _random_color(rng, bg, spec.min_color_dist)),
        ))  # fmt: skip
    return bg.astype(np.uint8), out


def render_frame(bg: np.ndarray, objects: list[Mover], t: int, spec: ClipSpec):
    """Frame ``t`` (uint8 RGB) and its ground truth, painted as the shapes generator paints an
    image (later objects over earlier ones); an object's identity is its place in ``objects``."""
    scene = [Shape(o.cls, *o.at(t, spec), o.aspect, o.color) for o in objects]
    image, instances = compose(bg, scene, spec)
    truth = [Truth(i["index"] + 1, i["category_id"] + 1, i["mask"].astype(bool)) for i in instances]
    return image, truth


def clip(seed: int, spec: ClipSpec = ClipSpec()) -> Iterator[tuple[np.ndarray, list[Truth]]]:
    """Every frame of clip ``seed`` with its ground truth."""
    bg, objects = movers(seed, spec)
    for t in range(spec.frames):
        yield render_frame(bg, objects, t, spec)


def write_clip(seed: int, video: str, mots: str, spec: ClipSpec = ClipSpec()) -> None:
    """Clip ``seed`` as an H.264 .mp4 (``video``) and its ground truth as MOTS text (``mots``)."""
    frames = list(clip(seed, spec))

    def encode(tmp: str) -> None:
        with av.open(tmp, "w", format="mp4") as out:
            stream = out.add_stream("libx264", rate=spec.fps, options={"crf": "12"})
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            for t, (image, _) in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = t, Fraction(1, spec.fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode())

    atomic_write(video, encode, suffix=".mp4")
    write_mots(mots, [truth for _, truth in frames], spec.height, spec.width)


def write_mots(path: str, frames: list[list[Truth]], height: int, width: int) -> None:
    """MOTS text: ``frame track_id category_id height width rle`` per object, frames from 1."""
    lines = [
        f"{t + 1} {o.track_id} {o.category_id} {height} {width} {encode_rle(o.mask)['counts']}"
        for t, truth in enumerate(frames)
        for o in truth
    ]

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))

    atomic_write(path, write, suffix=".txt")


def read_mots(path: str) -> dict[int, list[Truth]]:
    """A MOTS text file -> {frame index from 0: objects}; a malformed line is a ``DataError``."""
    frames: dict[int, list[Truth]] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6 or not all(p.isdigit() for p in parts[:5]) or parts[0] == "0":
                expected = "'frame id class height width rle', frames from 1"
                raise DataError(f"{path}:{n}: expected {expected}")
            t, track, cls, h, w = map(int, parts[:5])
            mask = decode_rles([{"size": [h, w], "counts": parts[5]}], h, w)[0]
            frames.setdefault(t - 1, []).append(Truth(track, cls, mask))
    return frames


def names(seed: int, folder: str) -> tuple[str, str]:
    """Where clip ``seed``'s video and ground truth go in ``folder``."""
    return os.path.join(folder, f"clip{seed}.mp4"), os.path.join(folder, f"clip{seed}.txt")
