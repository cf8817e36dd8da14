"""Atomic file writing: a temp file beside the target, then a rename (nothing half-written)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable

import cv2
import numpy as np

from balloon_shapes.errors import OutputError


def read_json(path: str, error: type[Exception]) -> object:
    """Parse a UTF-8 json file; malformed content raises ``error`` naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid JSON ({e})") from None
    except RecursionError:  # the parser's own limit on nesting: only the file's shape causes it
        raise error(f"{path}: JSON nested too deeply to be an annotation file") from None


def ensure_dir(path: str, what: str = "output folder") -> str:
    """Create folder ``path`` with its parents; a file in the way or no permission is the user's
    ``OutputError`` (one line), raised before anything is written."""
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"{path}: {what} cannot be created: a file is in the way") from None
    except PermissionError:
        raise OutputError(f"{path}: {what} cannot be created: permission denied") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {what} is not writable")
    return path


def check_writable(path: str, what: str = "output folder") -> None:
    """Raise ``OutputError`` unless folder ``path`` exists writable or could be created, without
    creating anything (so a later failure leaves no empty folder behind)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise OutputError(f"{path}: {what} cannot be created: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {what} is not writable ({probe})")


def atomic_write(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` then rename to ``path``; the temp file is removed on failure."""
    folder = ensure_dir(os.path.dirname(os.path.abspath(path)))
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1]
    )
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    atomic_write(path, _write)


def fsync_file(path: str) -> None:
    """Flush ``path``'s bytes to disk, so a rename after it never exposes an empty file."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_image(path: str, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image in the format its extension names (.jpg, .png, ...), atomically."""
    ext = os.path.splitext(path)[1] or ".png"

    def _write(tmp: str) -> None:
        if not cv2.imwrite(tmp, np.ascontiguousarray(image_rgb[:, :, ::-1])):
            raise OSError(f"{path}: could not encode {ext}")

    atomic_write(path, _write, suffix=ext)


def write_figure(path: str, fig) -> None:
    """Save a matplotlib ``Figure`` as a 100-dpi PNG, atomically."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"), suffix=".png")
