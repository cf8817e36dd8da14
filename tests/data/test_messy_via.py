"""The VIA loader and the mapper on data shaped like the real world (tests/messy_data.py)."""

import numpy as np
import pytest
from messy_data import COLOR, TRAIN, VAL, truncate, write_messy_via
from PIL import Image

from balloon_shapes.data.balloon import main as check_main
from balloon_shapes.data.mapper import ImageReadError, map_record, read_image
from balloon_shapes.data.via import ViaError, ViaOptions, load_via
from balloon_shapes.engine.data import TrainStream

OPTIONS = ViaOptions(["balloon"], "kind")
GRAY_MODES = ("L", "I;16")  # objects are found by luminance there, not by color


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy")
    return root, write_messy_via(root)


def object_pixels(image: np.ndarray, mode: str) -> np.ndarray:
    """Where the solid COLOR objects are (by luminance in gray and palette files)."""
    if mode in GRAY_MODES:
        lum = np.array(Image.fromarray(np.uint8([[COLOR]])).convert("L"))[0, 0]
        return np.abs(image[..., 0].astype(int) - int(lum)) < 12
    return np.abs(image.astype(int) - COLOR).sum(-1) < 90


@pytest.mark.parametrize("split,items", [("train", TRAIN), ("val", VAL)])
def test_masks_land_on_the_object_pixels_whatever_the_file(messy, split, items):
    root, _ = messy
    records, report = load_via(str(root / split), OPTIONS)
    assert [r["file_name"].rsplit("/", 1)[1] for r in records] == [i[0] for i in items]
    for record, (name, (h, w), mode, shapes, _) in zip(records, items):
        image, target = map_record(record)
        assert image.shape == (3, h, w) and (record["height"], record["width"]) == (h, w), name
        expected = len(shapes) if "unknown" not in name else 0
        assert (
            target["masks"].shape == (expected, h, w)
            and target["masks"].dtype.is_floating_point is False
        )
        assert target["boxes"].shape == (expected, 4), name
        if expected:
            pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            found = object_pixels(pixels, mode)
            mask = target["masks"].numpy().astype(bool).any(0)
            iou = (found & mask).sum() / (found | mask).sum()
            assert iou > 0.85, (name, iou)


def test_exif_rotated_jpeg_is_read_upright(messy):
    root, pixels = messy
    path = root / "train" / "sideways.jpg"
    with Image.open(path) as im:
        assert im.size == (160, 120)  # stored sideways
    image = read_image(str(path))
    assert image.shape == (160, 120, 3)
    drawn = np.zeros((160, 120), bool)
    drawn[90:140, 10:70] = True  # the rect as annotated on the upright image
    found = object_pixels(image, "RGB")
    assert (found & drawn).sum() / (found | drawn).sum() > 0.9


def test_negatives_and_unknown_classes_are_kept_and_train(messy):
    root, _ = messy
    records, report = load_via(str(root / "train"), OPTIONS)
    assert report.negatives == 2 and len(report.problems) == 1 and "kite" in report.problems[0]
    negatives = [r for r in records if not r["annotations"]]
    stream = TrainStream(negatives, 2, None, seed=0, shuffle=False)
    images, targets = stream.batch(0)
    assert all(t["masks"].shape[0] == 0 and t["labels"].shape == (0,) for t in targets)


def test_mode_conversions(messy):
    root, pixels = messy
    deep = read_image(str(root / "train" / "deep16.png"))
    with Image.open(root / "train" / "deep16.png") as im:
        assert im.mode.startswith("I")
        raw = np.asarray(im, np.int64)
    assert np.array_equal(deep[..., 0], (raw >> 8).astype(np.uint8))  # top 8 bits, not clipped
    cmyk = read_image(str(root / "train" / "cmyk.jpg"))
    assert np.abs(cmyk.astype(int) - pixels["train"]["cmyk.jpg"]).mean() < 6
    rgba = read_image(str(root / "train" / "rgba.png"))
    assert np.array_equal(rgba, pixels["train"]["rgba.png"])


def test_truncated_jpeg_fails_naming_the_file_and_check_flags_it(messy, tmp_path, capsys):
    root = tmp_path / "d"
    write_messy_via(root)
    bad = root / "val" / "val_big.jpg"
    truncate(bad)
    with pytest.raises(ImageReadError, match="val_big.jpg"):
        read_image(str(bad))
    with pytest.raises(ViaError, match="val_big.jpg"):
        load_via(str(root / "val"), OPTIONS)
    code = check_main(["--check", str(root), "--classes", "balloon", "--class-key", "kind"])
    out = capsys.readouterr().out
    assert code == 2 and "1 errors" in out and "val_big.jpg" in out
    code = check_main(["--check", str(messy[0]), "--classes", "balloon", "--class-key", "kind"])
    assert code == 0
