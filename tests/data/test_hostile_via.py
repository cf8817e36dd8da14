"""VIA json that parses but is wrong in shape, hostile, or leaks between splits: every problem
is one line naming the file and entry, ``--check`` lists all of them, nothing crashes."""

from __future__ import annotations

import json
import shutil
import struct
import zlib

import pytest

from balloon_shapes.data.balloon import load_via_folder
from balloon_shapes.data.balloon import main as check_main
from balloon_shapes.data.mapper import ImageReadError, read_image
from balloon_shapes.data.via import ViaError, load_via, shared_images
from tests.conftest import write_balloon_dataset

RECT = {"name": "rect", "x": 10, "y": 10, "width": 20, "height": 20}
JSON = "via_region_data.json"


def entry(filename, regions=None) -> dict:
    regions = [{"shape_attributes": RECT, "region_attributes": {}}] if regions is None else regions
    return {"filename": filename, "size": -1, "regions": regions, "file_attributes": {}}


@pytest.fixture
def root(tmp_path):
    write_balloon_dataset(tmp_path / "ds", n_train=2, n_val=1)
    return tmp_path / "ds"


def write(folder, entries: dict, **extra) -> None:
    (folder / JSON).write_text(json.dumps({**entries, **extra}))


WRONG_SHAPES = [  # (entry, what the one line says)
    (entry("train_0.jpg", ["a region as a string"]), "region 0 is a str, not an object"),
    (entry("train_0.jpg", [{"shape_attributes": [1, 2]}]), "shape_attributes must be an object"),
    (entry("train_0.jpg", [{"shape_attributes": RECT, "region_attributes": "x"}]), "region_att"),
    (entry(17), "'filename' must be a non-empty string, not 17"),
    (entry("train_0.jpg", "regions"), "'regions' must be a list or an object, not str"),
    ("an entry as a string", "': is a str, not an object"),
]


@pytest.mark.parametrize("bad, message", WRONG_SHAPES)
def test_an_entry_of_the_wrong_shape_is_one_line_naming_it(root, bad, message):
    write(root / "train", {"ok": entry("train_1.jpg"), "bad": bad})
    with pytest.raises(ViaError, match="entry 'bad'") as err:
        load_via(str(root / "train"))
    assert message in str(err.value) and JSON in str(err.value)


def test_region_attribute_definitions_of_the_wrong_shape(root):
    write(root / "train", {}, _via_img_metadata={"a": entry("train_0.jpg")})
    project = json.loads((root / "train" / JSON).read_text())
    for attributes, message in [
        ({"region": ["kind"]}, "_via_attributes.region is a list"),
        (["region"], "_via_attributes is a list"),
        ({"region": {"kind": {"options": ["a"]}}}, "region.kind: not an attribute definition"),
    ]:
        (root / "train" / JSON).write_text(json.dumps({**project, "_via_attributes": attributes}))
        with pytest.raises(ViaError, match=message):
            load_via(str(root / "train"))


def test_check_lists_every_problem_instead_of_dying_at_the_first(root, capsys):
    entries = {f"bad{i}": bad for i, (bad, _) in enumerate(WRONG_SHAPES)}
    write(root / "train", {"ok": entry("train_1.jpg"), **entries}, _via_attributes=[])
    assert check_main(["--check", str(root)]) == 2
    out = capsys.readouterr().out
    assert all(message in out for _, message in WRONG_SHAPES)
    assert "_via_attributes is a list" in out and "1 images" in out


def test_a_200k_deep_json_is_one_line(root):
    (root / "train" / JSON).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ViaError, match="nested too deeply"):
        load_via(str(root / "train"))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` (its pixel data is missing)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_one_line(root):
    (root / "train" / "bomb.png").write_bytes(png_header(40_000, 40_000))
    with pytest.raises(ImageReadError, match="bomb.png: refused, .*exceeds limit"):
        read_image(str(root / "train" / "bomb.png"))
    write(root / "train", {"a": entry("bomb.png")})
    with pytest.raises(ViaError, match="bomb.png: refused"):
        load_via(str(root / "train"))


def test_an_image_listed_twice_is_an_error(root):
    write(root / "train", {"a": entry("train_0.jpg"), "b": entry("train_0.jpg", [])})
    with pytest.raises(ViaError, match="train_0.jpg is listed twice .*'a'.*merge"):
        load_via(str(root / "train"))


@pytest.mark.parametrize("name", ["../../secret.jpg", "../val/val_0.jpg", "/etc/hostname"])
def test_a_filename_leading_outside_the_folder_is_an_error(root, tmp_path, name):
    shutil.copy(root / "val" / "val_0.jpg", tmp_path / "secret.jpg")
    write(root / "train", {"a": entry(name)})
    with pytest.raises(
        ViaError, match=f"^{root / 'train' / JSON}: entry 'a': filename .*leads outside"
    ):
        load_via(str(root / "train"))


def test_an_image_linked_from_outside_loads_with_a_problem(root, tmp_path):
    shutil.move(root / "train" / "train_0.jpg", tmp_path / "elsewhere.jpg")
    (root / "train" / "train_0.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    records, report = load_via(str(root / "train"))
    assert len(records) == 2
    assert [p for p in report.problems if "a link to" in p and "elsewhere.jpg" in p]


def test_the_same_image_in_train_and_val_is_a_warning(root, capsys, caplog):
    shutil.copy(root / "train" / "train_1.jpg", root / "val" / "copy.jpg")
    write(root / "val", {"a": entry("val_0.jpg"), "b": entry("copy.jpg")})
    assert check_main(["--check", str(root)]) == 0
    assert "copy.jpg: the same image as" in capsys.readouterr().out
    with caplog.at_level("WARNING"):
        assert len(load_via_folder(str(root), "val")) == 2
    assert "the same image as" in caplog.text and "train_1.jpg" in caplog.text


def test_minimal_entries_and_export_level_via_keys_load(root):
    """Entries with only ``filename`` and ``regions`` are VIA; a top-level ``_via_*`` key of an
    export is metadata, not an image."""
    write(root / "train", {"a": {"filename": "train_0.jpg", "regions": []}},
          _via_attributes={"region": {}}, _via_settings={"ui": {}})  # fmt: skip
    records, report = load_via(str(root / "train"))
    assert len(records) == 1 and report.errors == []


def test_attribute_errors_name_the_file(root):
    write(root / "train", {}, _via_img_metadata={"a": entry("train_0.jpg")}, _via_attributes=[])
    with pytest.raises(ViaError, match=f"^{root / 'train' / JSON}: _via_attributes"):
        load_via(str(root / "train"))


def test_only_identical_bytes_count_as_the_same_image(root, capsys):
    """Two copies are both reported; a different image of the same size is not."""
    train = root / "train" / "train_0.jpg"
    shutil.copy(train, root / "val" / "copy1.jpg")
    shutil.copy(train, root / "val" / "copy2.jpg")
    other = bytearray(train.read_bytes())
    other[-3] ^= 0xFF  # same size, different bytes (inside the JPEG's entropy data)
    (root / "val" / "same_size.jpg").write_bytes(bytes(other))
    names = ("copy1.jpg", "copy2.jpg", "same_size.jpg")
    pairs = shared_images(
        [{"file_name": str(root / "val" / n)} for n in names], str(root / "train")
    )
    assert sorted(p for p, _ in pairs) == [str(root / "val" / n) for n in names[:2]]
