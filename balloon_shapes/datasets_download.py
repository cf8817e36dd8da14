"""Fetch and unpack datasets: a verified archive in the cache, unpacked atomically under a root."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile

from balloon_shapes.download import DownloadError, Resource, fetch


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
                members = [m for m in zf.namelist() if m.startswith(f"{name}/")]
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
