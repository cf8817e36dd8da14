import zipfile
from pathlib import Path

import pytest

from balloon_shapes.data.balloon import ARCHIVES, BALLOON_ZIP, load_via_folder
from balloon_shapes.download import download_dataset
from balloon_shapes.errors import DownloadError

ROOT = Path(__file__).resolve().parents[1]
(BALLOON,) = ARCHIVES


def zip_dataset(src: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in src.rglob("*"):
            zf.write(path, Path("balloon") / path.relative_to(src))
        zf.writestr("__MACOSX/balloon/._junk", b"x")


def test_unpacks_atomically_and_is_idempotent(balloon_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("BALLOON_SHAPES_CACHE", str(cache))
    zip_dataset(balloon_root, cache / BALLOON_ZIP.filename)
    data = tmp_path / "data"
    path, fresh = download_dataset(BALLOON, str(data))
    assert fresh and len(load_via_folder(path, "train")) == 3
    assert sorted(p.name for p in data.iterdir()) == ["balloon"]  # no temp dirs left
    assert download_dataset(BALLOON, str(data)) == (path, False)


@pytest.fixture
def cached_zip(tmp_path, monkeypatch):
    """Where the balloon zip sits in an empty download cache (BALLOON_SHAPES_CACHE set)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("BALLOON_SHAPES_CACHE", str(cache))
    return cache / BALLOON_ZIP.filename


def test_wrong_archive_leaves_nothing(tmp_path, cached_zip):
    with zipfile.ZipFile(cached_zip, "w") as zf:
        zf.writestr("balloon/readme.txt", "no annotations here")
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match="right archive"):
        download_dataset(BALLOON, str(data))
    assert list(data.iterdir()) == []


def test_links_in_an_archive_are_refused(tmp_path, cached_zip):
    import stat

    with zipfile.ZipFile(cached_zip, "w") as zf:
        link = zipfile.ZipInfo("balloon/train")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc")
        zf.writestr("balloon/train/via_region_data.json", "{}")
        zf.writestr("balloon/val/via_region_data.json", "{}")
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match="balloon/train is a symbolic link"):
        download_dataset(BALLOON, str(data))
    assert list(data.iterdir()) == []


def test_offline_download_script_says_what_to_fetch(script, tmp_path):
    env = {
        "BALLOON_SHAPES_OFFLINE": "1",
        "BALLOON_SHAPES_CACHE": str(tmp_path / "c"),
    }
    proc = script("download.py", "balloon", "--root", str(tmp_path / "d"), env=env, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and BALLOON_ZIP.url in lines[0] and str(tmp_path / "c") in lines[0]
    assert not (tmp_path / "d").exists()
