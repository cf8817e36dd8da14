import cv2
import numpy as np
import pytest
import torch

from balloon_shapes.data.mapper import (
    Augment,
    ImageReadError,
    hflip,
    map_record,
    read_image,
    targets,
)
from balloon_shapes.data.shapes import to_record
from balloon_shapes.structures import segmentation_to_mask, to_xyxy


def test_map_record_follows_the_data_contract():
    rec = to_record(0, 5)
    image, target = map_record(rec)
    assert image.dtype == torch.float32 and image.shape == (3, 128, 128)
    assert 0 <= image.min() and image.max() <= 1
    n = len(rec["annotations"])
    assert target["boxes"].shape == (n, 4) and target["boxes"].dtype == torch.float32
    assert target["labels"].dtype == torch.int64
    assert target["labels"].tolist() == [a["category_id"] + 1 for a in rec["annotations"]]
    assert target["masks"].shape == (n, 128, 128) and target["masks"].dtype == torch.uint8
    # RGB order: the in-memory image is RGB and stays RGB
    assert torch.equal(
        (image * 255).round().byte(), torch.from_numpy(rec["image"]).permute(2, 0, 1)
    )


def test_hflip_keeps_boxes_tight_around_masks():
    rec = to_record(0, 9)
    image, target = hflip(rec["image"], targets(rec))
    assert np.array_equal(image, rec["image"][:, ::-1])
    for box, mask in zip(target["boxes"], target["masks"]):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [
            xs.min().item(),
            ys.min().item(),
            xs.max().item() + 1,
            ys.max().item() + 1,
        ]


def test_augment_is_reproducible_with_the_same_rng():
    rec = to_record(0, 2)
    aug = Augment(hflip=0.5, grayscale=0.5)
    a = [map_record(rec, aug, np.random.default_rng(k))[0] for k in range(8)]
    b = [map_record(rec, aug, np.random.default_rng(k))[0] for k in range(8)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len({x.sum().item() for x in a}) > 1  # the augmentations really happen


def test_grayscale_augment_makes_channels_equal():
    image, _ = map_record(to_record(0, 1), Augment(grayscale=1.0), np.random.default_rng(0))
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_polygon_segmentation_and_xywh_boxes():
    mask = segmentation_to_mask([[2, 2, 8, 2, 8, 6, 2, 6]], 10, 12)
    assert mask.shape == (10, 12) and mask[3:6, 3:8].all() and not mask[8:].any()
    assert to_xyxy([1, 2, 3, 4], 1) == [1, 2, 4, 6]
    with pytest.raises(ValueError, match="bbox_mode"):
        to_xyxy([1, 2, 3, 4], 4)


def test_read_image_converts_bgr_gray_and_reports_bad_files(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    assert (read_image(str(tmp_path / "blue.png"))[..., 2] == 200).all()
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((4, 5), 7, np.uint8))
    assert read_image(str(tmp_path / "gray.png")).shape == (4, 5, 3)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    for name in ("broken.jpg", "missing.png"):
        with pytest.raises(ImageReadError, match=name):
            read_image(str(tmp_path / name))


def test_read_errors_name_the_file_and_the_reason_in_one_line(tmp_path):
    from balloon_shapes.errors import first_line

    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError("  first\nsecond ")) == "first"
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ImageReadError) as err:
        read_image(str(tmp_path / "x.png"))
    assert str(err.value).startswith(f"{tmp_path / 'x.png'}: not a readable image (")
    assert "\n" not in str(err.value)
