"""Fetch and unpack datasets: a verified archive in the cache, unpacked atomically under a root."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile

from balloon_shapes.download import DownloadError, Resource, fetch


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


def download_dataset(
    resource: Resource, root: str, name: str, required: list[str]
) -> tuple[str, bool]:
    """(path, downloaded?) of dataset ``name`` under ``root``; nothing happens if it is there."""
    target = os.path.join(root, name)
    if all(os.path.exists(os.path.join(target, r)) for r in required):
        return target, False
    if os.path.exists(target):
        raise DownloadError(f"{target}: exists but is incomplete; move it away and run again")
    return unpack(fetch(resource), root, name, required), True
