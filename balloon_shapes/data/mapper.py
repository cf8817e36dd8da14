"""Dataset dict -> (image tensor, target dict), the one data contract of the project.

Image: float32 [3, H, W], RGB, 0..1. Target: ``boxes`` XYXY float32 [N, 4], ``labels``
int64 [N] (1-based: torchvision keeps 0 for background), ``masks`` uint8 [N, H, W],
``image_id`` int. BGR -> RGB happens here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from balloon_shapes.errors import DataError, first_line
from balloon_shapes.structures import segmentation_to_mask, to_xyxy

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")  # files read as images


class ImageReadError(DataError):
    """An image listed in a dataset is missing or cannot be decoded."""


@dataclass(frozen=True)
class Augment:
    """Training-time augmentations; probabilities come from config (``data.augment``)."""

    hflip: float = 0.0
    grayscale: float = 0.0


def read_image(path: str) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3] as a viewer displays it: EXIF orientation
    applied (annotation tools draw on the rotated image); gray, palette, CMYK, 16-bit and alpha
    normalised. A missing, unreadable or truncated file is an ``ImageReadError``."""
    try:
        with Image.open(path) as im:
            im.load()  # decodes everything now: a truncated file fails here, naming the file
            return pil_to_rgb(ImageOps.exif_transpose(im))
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:  # PIL's decode failures
        raise ImageReadError(f"{path}: not a readable image ({first_line(e)})") from None
    except Image.DecompressionBombError as e:  # more pixels than PIL's limit: a bomb, or huge
        raise ImageReadError(f"{path}: refused, {first_line(e)}") from None


def pil_to_rgb(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> uint8 RGB: 16/32-bit gray keeps its top 8 bits (PIL would clip it at 255),
    float gray is clipped to 0..255, alpha is dropped."""
    if im.mode.startswith("I"):  # I;16, I;16B, I (16-bit PNGs): 0..65535
        gray = (np.clip(np.asarray(im, np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.array(im.convert("RGB"))


def to_gray3(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> 3-channel gray (same luminance in R, G and B)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[:, :, None], 3, axis=2)


def load_pixels(record: dict) -> np.ndarray:
    """The record's image as uint8 RGB: in-memory ``image`` (generated data) or ``file_name``."""
    if "image" in record:
        return record["image"]
    return read_image(record["file_name"])


def targets(record: dict) -> dict[str, torch.Tensor]:
    """Non-crowd annotations of ``record`` as torchvision Mask R-CNN targets."""
    h, w = record["height"], record["width"]
    anns = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0)]
    boxes = [to_xyxy(a["bbox"], a.get("bbox_mode", 0)) for a in anns]
    masks = [segmentation_to_mask(a["segmentation"], h, w) for a in anns]
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([a["category_id"] + 1 for a in anns], dtype=torch.int64),
        "masks": torch.from_numpy(np.stack(masks))
        if masks
        else torch.zeros((0, h, w), dtype=torch.uint8),
        "image_id": torch.tensor(record["image_id"]),
    }


def hflip(image: np.ndarray, target: dict[str, torch.Tensor]) -> tuple[np.ndarray, dict]:
    """Mirror an image and its target left-right."""
    w = image.shape[1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
    return image[:, ::-1], {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 RGB [H, W, 3] -> float32 [3, H, W] in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)


def map_record(
    record: dict, augment: Augment | None = None, rng: np.random.Generator | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Turn one dataset dict into ``(image, target)``, augmenting when ``augment`` is given."""
    image, target = load_pixels(record), targets(record)
    if augment is not None:
        rng = rng or np.random.default_rng()
        if rng.random() < augment.hflip:
            image, target = hflip(image, target)
        if rng.random() < augment.grayscale:
            image = to_gray3(image)
    return to_tensor(image), target
