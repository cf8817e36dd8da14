"""Downloads with a URL, a pinned SHA-256, a cache dir, resume, a progress bar, and an offline
error that says where to put the file by hand."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from tqdm import tqdm

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed or did not verify; the message says what to do by hand."""


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


def pinned_digest(path: str, resource: Resource, actual: str) -> str:
    """The digest to check against. Where the publisher gives none (empty ``sha256``), the first
    verified download pins it in ``<file>.sha256`` beside the final file (trust on first use)."""
    if resource.sha256:
        return resource.sha256.lower()
    final = path[: -len(".part")] if path.endswith(".part") else path
    sidecar = final + ".sha256"
    if os.path.isfile(sidecar):
        with open(sidecar) as f:
            return f.read().strip()
    with open(sidecar, "w") as f:
        f.write(actual + "\n")
    return actual


def verify(path: str, resource: Resource) -> None:
    """Raise unless the file's SHA-256 starts with the pinned digest."""
    actual = sha256_of(path)
    if not actual.startswith(pinned_digest(path, resource, actual)):
        raise DownloadError(
            f"{path}: SHA-256 {actual[:16]}... does not match the pinned digest;"
            f" delete it and fetch {resource.url} again"
        )


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
        verify(path, resource)
        return path
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
        verify(part, resource)
    except DownloadError:
        os.remove(part)
        raise
    os.replace(part, path)
    return path
