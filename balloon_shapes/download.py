"""Downloads with a URL, a pinned SHA-256, a cache dir, resume, a progress bar, and an offline
error that says where to put the file by hand; dataset archives unpacked atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass

from tqdm import tqdm

from balloon_shapes.errors import DownloadError
from balloon_shapes.files import atomic_write

CHUNK = 1 << 20


@dataclass(frozen=True)
class Resource:
    """A downloadable file. ``sha256`` may be a prefix (torchvision pins 8 hex digits in names)."""

    url: str
    filename: str
    sha256: str


def cache_dir() -> str:
    """``$BALLOON_SHAPES_CACHE`` or ``~/.cache/balloon_shapes``."""
    return os.environ.get("BALLOON_SHAPES_CACHE") or os.path.expanduser("~/.cache/balloon_shapes")


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar(path: str) -> str:
    """``<file>.sha256``: the digest pinned for a publisher that gives none (trust on first use).
    It belongs to the file beside it: a pin with no file is stale and is dropped."""
    return path + ".sha256"


def pinned_digest(path: str, resource: Resource) -> str | None:
    """The digest to check ``path`` against: the publisher's, else the pin, else None."""
    if resource.sha256:
        return resource.sha256.lower()
    if os.path.isfile(sidecar(path)):
        with open(sidecar(path)) as f:
            return f.read().strip()
    return None


def verify(path: str, resource: Resource, digest_of: str | None = None) -> str:
    """The file's SHA-256; raises unless it starts with the digest pinned for ``digest_of``
    (default ``path``). With no digest anywhere, nothing is checked (and nothing pinned)."""
    actual = sha256_of(path)
    expected = pinned_digest(digest_of or path, resource)
    if expected is not None and not actual.startswith(expected):
        raise DownloadError(
            f"{path}: SHA-256 {actual[:16]}... does not match the pinned digest;"
            f" delete it and fetch {resource.url} again"
        )
    return actual


def _request(url: str, offset: int) -> urllib.request.Request:
    headers = {"User-Agent": "balloon-shapes"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.Request(url, headers=headers)


def _stream(resource: Resource, part: str, timeout: float) -> None:
    """Append the remote bytes to ``part``, resuming from its current size when the server can."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    with urllib.request.urlopen(_request(resource.url, offset), timeout=timeout) as response:
        if offset and response.status != 206:  # server ignored Range: start over
            offset = 0
        total = int(response.headers.get("Content-Length") or 0) + offset
        with (
            open(part, "ab" if offset else "wb") as f,
            tqdm(
                total=total or None,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=resource.filename,
            ) as bar,
        ):
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                bar.update(len(block))


def fetch(resource: Resource, folder: str | None = None, timeout: float = 30.0) -> str:
    """The verified local path of ``resource``, downloaded into ``folder`` (the cache) if needed."""
    folder = folder or cache_dir()
    path = os.path.join(folder, resource.filename)
    if os.path.isfile(path):
        verify(path, resource)  # a file put there by hand is not pinned: only our downloads
        return path
    if os.path.isfile(sidecar(path)):
        os.remove(sidecar(path))  # its file was deleted (as an error said): a stale pin
    if os.environ.get("BALLOON_SHAPES_OFFLINE") == "1":
        raise DownloadError(
            f"{resource.filename} is not in the cache and BALLOON_SHAPES_OFFLINE=1; "
            f"fetch {resource.url} by hand and put it at {path}"
        )
    os.makedirs(folder, exist_ok=True)
    part = path + ".part"
    try:
        _stream(resource, part, timeout)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(
            f"cannot download {resource.url} ({reason}); fetch it by hand and put it at {path}"
        ) from None
    try:
        actual = verify(part, resource, digest_of=path)
    except DownloadError:
        os.remove(part)
        raise
    os.replace(part, path)
    if not resource.sha256:
        atomic_write(sidecar(path), lambda tmp: _write_text(tmp, actual + "\n"))
    return path


def _write_text(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def check_members(archive: str, members: list[zipfile.ZipInfo]) -> None:
    """Refuse links and paths that climb out of the folder: a zip is data, not a file system."""
    for m in members:
        if stat.S_ISLNK(m.external_attr >> 16):
            raise DownloadError(f"{archive}: {m.filename} is a symbolic link; refusing to unpack")
        parts = m.filename.replace("\\", "/").split("/")
        if ".." in parts or m.filename.startswith("/"):
            raise DownloadError(f"{archive}: {m.filename} points outside the dataset folder")


def unpack(archive: str, root: str, name: str, required: list[str]) -> str:
    """Extract top-level folder ``name`` of ``archive`` to ``root/name`` via a temp dir + rename.

    ``required`` lists paths (relative to ``name``) that must exist, or nothing is moved.
    """
    target = os.path.join(root, name)
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=root, prefix=f".{name}-")
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.infolist() if m.filename.startswith(f"{name}/")]
                check_members(archive, members)
                zf.extractall(tmp, members)
        except zipfile.BadZipFile:
            raise DownloadError(
                f"{archive}: not a zip archive; delete it and download again"
            ) from None
        missing = [r for r in required if not os.path.exists(os.path.join(tmp, name, r))]
        if missing:
            raise DownloadError(f"{archive}: has no {name}/{missing[0]}; is it the right archive?")
        os.replace(os.path.join(tmp, name), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Archive:
    """A zip whose top-level ``folder`` unpacks to ``<data root>/<under>/<folder>``, complete
    when every path in ``required`` (relative to that folder) exists."""

    resource: Resource
    under: str
    folder: str
    required: tuple[str, ...]


def download_dataset(archive: Archive, root: str) -> tuple[str, bool]:
    """(path, downloaded?) of ``archive`` unpacked under ``root``; nothing happens if it is
    there already."""
    parent = os.path.join(root, archive.under)
    target = os.path.join(parent, archive.folder)
    if all(os.path.exists(os.path.join(target, r)) for r in archive.required):
        return target, False
    if os.path.exists(target):
        raise DownloadError(f"{target}: exists but is incomplete; move it away and run again")
    path = fetch(archive.resource)
    return unpack(path, parent, archive.folder, list(archive.required)), True
