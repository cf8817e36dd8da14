"""Video I/O: files and cameras as frame sources (rotation, variable frame rates, truncation),
the output codec, a background reader, and the encoder thread that draws, encodes and copies
audio. No model here: ``video.py`` is the pipeline."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from balloon_shapes.errors import DataError, OutputError
from balloon_shapes.files import ensure_dir
from balloon_shapes.structures import Instances

CODECS = ("libx264", "h264", "mpeg4")  # probed in order: pip builds of OpenCV lack H.264
FALLBACK_FPS = Fraction(30)
END = object()  # closes a frame queue


class VideoError(DataError):
    """Bad video input or output; the message names the file."""


@dataclass
class Source:
    """Where frames come from: a video file, or a camera (``live``: no end, no audio)."""

    name: str
    width: int
    height: int
    fps: Fraction
    count: int | None
    audio: bool
    read: Callable[[int | None], Iterator[np.ndarray]]  # max_frames -> RGB frames
    live: bool = False
    timestamps: Timestamps | None = None  # a file's frame times, kept in the output (VFR)


@dataclass(frozen=True)
class Timestamps:
    """Presentation times of a file's frames, in display order: ``pts[i] * time_base`` s."""

    time_base: Fraction
    pts: list[int]


def upright(frame: av.VideoFrame) -> np.ndarray:
    """The frame as RGB, turned as a player shows it: phones store portrait video sideways with
    a display rotation (counterclockwise degrees; ``np.rot90`` turns counterclockwise too)."""
    return np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), quarter_turns(frame)))


def quarter_turns(frame: av.VideoFrame) -> int:
    return round((frame.rotation or 0) / 90) % 4


def probe(path: str) -> tuple[int, int, Fraction, int | None, bool]:
    """(width, height, fps, frame count or None, has audio) of a video file."""
    if not os.path.isfile(path):
        raise VideoError(f"{path}: no such file")
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise VideoError(f"{path}: has zero video frames (no video stream)")
            v = c.streams.video[0]
            fps = v.average_rate or v.guessed_rate
            frames = v.frames or None
            first = next(c.decode(video=0), None)
            if first is None:
                raise VideoError(f"{path}: has zero video frames")
            w, h = (
                (first.height, first.width)
                if quarter_turns(first) % 2
                else (first.width, first.height)
            )
            return w, h, Fraction(fps or 0), frames, bool(c.streams.audio)
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: not a readable video ({type(e).__name__})") from None


def open_source(spec: str | int) -> Source:
    """A video file path, or a webcam index (an int, or a string of digits naming no file)."""
    if isinstance(spec, int) or (str(spec).isdigit() and not os.path.exists(str(spec))):
        return open_camera(int(spec))
    path = str(spec)
    width, height, fps, count, audio = probe(path)
    read = lambda n: frames(path, n, count)  # noqa: E731
    return Source(path, width, height, fps, count, audio, read, timestamps=frame_times(path))


def frame_times(path: str) -> Timestamps:
    """The video stream's packet times in display order, from the first frame's (no decoding)."""
    with av.open(path) as c:
        stream = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(stream) if p.pts is not None)
        return Timestamps(stream.time_base, [t - pts[0] for t in pts] if pts else [])


def open_camera(device: int | str) -> Source:
    """A live OpenCV capture (``device``: camera index; a file path works too, for tests)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our line says it
    try:
        cap = cv2.VideoCapture(device)
        ok, first = cap.read() if cap.isOpened() else (False, None)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not ok:
        cap.release()
        raise VideoError(f"webcam {device}: cannot be opened (no camera there, or it is busy)")
    fps = Fraction(cap.get(cv2.CAP_PROP_FPS) or 0).limit_denominator(1001)

    def read(max_frames: int | None) -> Iterator[np.ndarray]:
        try:
            image, i = first, 0
            while image is not None and (max_frames is None or i < max_frames):
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                ok, image = cap.read()
                image, i = (image if ok else None), i + 1
        finally:
            cap.release()

    height, width = first.shape[:2]
    return Source(f"webcam{device}", width, height, fps, None, False, read, live=True)


def check_output(src: str, dst: str) -> None:
    """``dst`` can be written and is not the input, through any symlink or ``..``."""
    if os.path.realpath(src) == os.path.realpath(dst) or (
        os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst)
    ):
        raise OutputError(f"{dst}: output would overwrite the input")
    if os.path.isdir(dst):
        raise OutputError(f"{dst}: is a folder; name the output video file")
    ensure_dir(os.path.dirname(os.path.abspath(dst)), "output video's folder")


def pick_codec(
    container, fps: Fraction, width: int, height: int, time_base: Fraction | None = None
):
    """The first encoder in CODECS this PyAV build has; ``time_base`` for exact frame times."""
    for name in CODECS:
        if name in av.codecs_available:
            try:
                stream = container.add_stream(name, rate=fps)
            except (av.error.FFmpegError, ValueError):
                continue
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            if time_base is not None:  # MPEG-4 part 2 caps the denominator at 65535
                ok = time_base.denominator <= 65535
                stream.codec_context.time_base = time_base if ok else Fraction(1, 1000)
            # one encoder thread: more would fight the model's OpenMP threads for the cores
            stream.codec_context.thread_count = 1
            return stream
    raise VideoError(f"no video encoder among {CODECS} in this PyAV build")


def frames(path: str, max_frames: int | None, expected: int | None = None) -> Iterator[np.ndarray]:
    """Upright RGB frames of a video file. A decode failure, or fewer frames than its index
    lists (a truncated file), is a ``VideoError`` naming the file: no half video is written."""
    n = 0
    try:
        with av.open(path) as c:
            for frame in c.decode(video=0):
                if max_frames is not None and n >= max_frames:
                    return
                yield upright(frame)
                n += 1
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: cannot be decoded ({type(e).__name__}: {e.strerror})") from None
    if expected and n < min(expected, max_frames or expected):
        raise VideoError(f"{path}: truncated or damaged: {n} of {expected} frames decoded")


def threaded(iterable: Iterator, maxsize: int = 16) -> Iterator:
    """Iterate ``iterable`` in a background thread (decoding overlaps the model).

    Closing the returned generator stops the thread and closes ``iterable`` (a camera is
    released), even when the consumer quits early.
    """
    q: queue.Queue = queue.Queue(maxsize)
    failure: list[BaseException] = []
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def work() -> None:
        try:
            for item in iterable:
                if not put(item):
                    break
        except BaseException as e:  # surfaced in the consumer
            failure.append(e)
        finally:
            getattr(iterable, "close", lambda: None)()
            put(END)

    threading.Thread(target=work, daemon=True).start()
    try:
        while (item := q.get()) is not END:
            yield item
    finally:
        stop.set()
    if failure:
        raise failure[0]


class Encoder(threading.Thread):
    """Draws and encodes (frame index, image, instances) from a queue into ``tmp``; copies
    ``src``'s audio at the end. The model keeps the main thread and its warm thread pool."""

    def __init__(
        self,
        source: Source,
        tmp: str,
        audio: bool,
        draw: Callable[[np.ndarray, Instances], np.ndarray],
    ) -> None:
        super().__init__(daemon=True)
        self.src, self.tmp, self.audio, self.draw = source.name, tmp, audio, draw
        self.fps, self.size, self.times = (
            source.fps,
            (source.width, source.height),
            source.timestamps,
        )
        self.q: queue.Queue = queue.Queue(16)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with av.open(self.tmp, "w", format="mp4") as out:
                tb = self.times.time_base if self.times else None
                stream = pick_codec(out, self.fps, *self.size, tb)
                audio_in = audio_out = None
                if self.audio:
                    audio_in = av.open(self.src)
                    audio_out = out.add_stream_from_template(audio_in.streams.audio[0])
                for i, image, instances in iter(self.q.get, END):
                    frame = av.VideoFrame.from_ndarray(self.draw(image, instances), format="rgb24")
                    frame.pts, frame.time_base = self.timestamp(i)
                    out.mux(stream.encode(frame))
                out.mux(stream.encode())
                if audio_in is not None:
                    for packet in audio_in.demux(audio_in.streams.audio[0]):
                        if packet.dts is not None:
                            packet.stream = audio_out
                            out.mux(packet)
                    audio_in.close()
        except BaseException as e:
            self.error = e
            while self.q.get() is not END:  # drain so the producer never blocks
                pass

    def timestamp(self, i: int) -> tuple[int, Fraction]:
        """Frame ``i``'s (pts, time_base): the input's own time (variable frame rates stay as
        they were), or ``i / fps`` for a live source."""
        if self.times is not None and i < len(self.times.pts):
            return self.times.pts[i], self.times.time_base
        return i, 1 / self.fps
