"""Atomic file writing: a temp file beside the target, then a rename (nothing half-written)."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator

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


FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left; disk quota exceeded


def atomic_write(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Call ``write(tmp_path)`` then rename to ``path``; the temp file is removed on failure.
    A full disk (or quota) is the user's ``OutputError``, naming the file."""
    folder = ensure_dir(os.path.dirname(os.path.abspath(path)))
    clean_once(folder)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=temp_prefix(), suffix=suffix or os.path.splitext(path)[1]
    )
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno in FULL:
            raise OutputError(f"{path}: no space left on device ({os.strerror(e.errno)})") from None
        raise


def temp_prefix() -> str:
    """``.tmp-<host>-<pid>-``: temp names say whose they are, so a later run can tell that
    the writer was killed (``remove_stale_temps``)."""
    return f".tmp-{socket.gethostname()}-{os.getpid()}-"


def remove_stale_temps(folder: str) -> list[str]:
    """Remove temp files and folders a killed writer on this host left in ``folder`` (its
    process is gone); another host's, or a live process's, are left alone. Returns their names."""
    pattern = re.compile(rf"\.tmp-{re.escape(socket.gethostname())}-(\d+)-")
    stale = [
        name
        for name in os.listdir(folder)
        if (m := pattern.match(name)) and not process_alive(int(m.group(1)))
    ]
    for name in stale:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):  # another run cleaned it first
                os.remove(path)
    return stale


@functools.cache
def clean_once(folder: str) -> None:
    """``remove_stale_temps`` the first time this process writes into ``folder``: a demo writing
    thousands of pictures lists its folder once, not once per picture."""
    remove_stale_temps(folder)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def json_bytes(obj) -> bytes:
    """``obj`` as indented JSON, the form every json file of ours has."""
    return (json.dumps(obj, indent=2) + "\n").encode()


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, _write, suffix=os.path.splitext(path)[1])


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_bytes(path, json_bytes(obj))


def fsync_file(path: str) -> None:
    """Flush ``path``'s bytes to disk, so a rename after it never exposes an empty file."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_image(path: str, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image in the format its extension names (.jpg, .png, ...), atomically."""
    ext = os.path.splitext(path)[1] or ".png"

    ok, encoded = cv2.imencode(ext, np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        raise OutputError(f"{path}: OpenCV cannot write {ext} images; use .png or .jpg")

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # Python reports a full disk; cv2.imwrite only says False
            f.write(encoded.tobytes())

    atomic_write(path, _write, suffix=ext)


@contextlib.contextmanager
def staged_outputs(output_dir: str, names: Iterable[str]) -> Iterator[str]:
    """A hidden folder inside ``output_dir`` that a run writes its outputs into. When the run
    ends well they replace the previous run's files of ``names`` as a set (those this run did
    not write are removed): ``output_dir`` never mixes two runs. When it fails (or is killed:
    ``remove_stale_temps``), ``output_dir`` is left as it was."""
    ensure_dir(output_dir, "output_dir")
    remove_stale_temps(output_dir)
    stage = tempfile.mkdtemp(dir=output_dir, prefix=temp_prefix())
    try:
        try:
            yield stage
        except OutputError as e:  # name the file the user knows, not its staged copy
            raise OutputError(str(e).replace(stage, output_dir)) from None
        for name in names:  # renames within one filesystem: no bytes are written here
            staged, final = os.path.join(stage, name), os.path.join(output_dir, name)
            if os.path.exists(staged):
                os.replace(staged, final)
            elif os.path.exists(final):
                os.remove(final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def new_folder(out_dir: str) -> Iterator[str]:
    """A temp folder beside ``out_dir`` to write into; it becomes ``out_dir`` when the block
    ends well and is removed when it fails. An existing ``out_dir`` with anything in it is
    refused first (``OutputError``): nothing of the user's is replaced."""
    parent = ensure_dir(os.path.dirname(os.path.abspath(out_dir)))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: is a file; choose a new folder")
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise OutputError(f"{out_dir}: exists and is not empty; choose a new folder")
    tmp = tempfile.mkdtemp(dir=parent, prefix=temp_prefix())
    try:
        yield tmp
        if os.path.exists(out_dir):
            os.rmdir(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


PREVIOUS_MARK = ".balloon-shapes-previous-run"  # marks a folder ``set_aside`` may replace


def set_aside(output_dir: str, names: Iterable[str]) -> str | None:
    """Move a previous run's ``names`` from ``output_dir`` into ``<output_dir>.previous`` (which
    replaces the run set aside before it), so that a new run never mixes its files with an
    older one's; the user's other files stay. Returns that folder, or None if nothing was there."""
    present = [n for n in names if os.path.lexists(os.path.join(output_dir, n))]
    if not present:
        return None
    aside = os.path.normpath(output_dir) + ".previous"
    if os.path.lexists(aside):
        if not os.path.isfile(os.path.join(aside, PREVIOUS_MARK)):
            raise OutputError(
                f"{aside}: exists and is not a run set aside by balloon-shapes; move it away "
                f"(a new run into {output_dir} keeps the previous one there)"
            )
        shutil.rmtree(aside)
    os.makedirs(aside)
    with open(os.path.join(aside, PREVIOUS_MARK), "w") as f:
        f.write(f"the previous run's outputs from {output_dir}\n")
    for name in present:
        os.replace(os.path.join(output_dir, name), os.path.join(aside, name))
    return aside
