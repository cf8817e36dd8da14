import cv2
import numpy as np
import pytest

from balloon_shapes.data.mapper import read_image
from balloon_shapes.demo.predictor import as_rgb
from balloon_shapes.visualizer import (
    color_splash,
    grid,
    instance_colors,
    overlay,
    resize_instances,
)


def masks_for(h, w):
    m = np.zeros((2, h, w), bool)
    m[0, 2:10, 3:12] = True
    m[1, 20:30, 15:40] = True
    return m


@pytest.mark.parametrize("gray_input", [False, True])
def test_splash_keeps_color_inside_and_gray_outside(gray_input):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    if gray_input:
        image = np.repeat(image[:, :, :1], 3, axis=2)
    masks = masks_for(32, 48)
    out = color_splash(image, masks)
    inside = masks.any(0)
    assert np.array_equal(out[inside], image[inside])  # exactly the original colors
    lum = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert (out[~inside] == lum[~inside][:, None]).all()  # R = G = B = luminance
    assert out.dtype == np.uint8 and out.shape == image.shape


def test_splash_without_masks_is_all_gray():
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = color_splash(image, np.zeros((0, 8, 8), bool))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_overlay_draws_only_near_instances():
    image = np.zeros((40, 50, 3), np.uint8)
    masks = masks_for(40, 50)
    out = overlay(
        image,
        np.array([[3, 2, 12, 10], [15, 20, 40, 30.0]]),
        ["a", "b"],
        np.array([0.9, 0.8]),
        masks,
    )
    assert out[masks[0]].any() and out[35:, :].sum() == 0 and image.sum() == 0  # copy, not in place
    colors = instance_colors(10)
    assert len({tuple(c) for c in colors}) == 10


def test_grid_tiles_row_major():
    tiles = [np.full((4, 5, 3), v, np.uint8) for v in (10, 20, 30)]
    g = grid(tiles, cols=2, pad=1)
    assert g.shape == (2 * 5 + 1, 2 * 6 + 1, 3)
    assert (g[1:5, 1:6] == 10).all() and (g[1:5, 7:12] == 20).all() and (g[6:10, 1:6] == 30).all()


def test_as_rgb_normalises_layouts(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert as_rgb(gray).shape == (3, 4, 3) and (as_rgb(gray)[..., 2] == gray).all()
    assert as_rgb(gray[:, :, None]).shape == (3, 4, 3)
    rgba = np.dstack([gray, gray + 1, gray + 2, np.full_like(gray, 255)])
    assert np.array_equal(as_rgb(rgba), rgba[:, :, :3])
    assert np.array_equal(as_rgb(rgba[:, :, :3], bgr=True), rgba[:, :, 2::-1])
    deep = (gray.astype(np.uint16) << 8) | 0xFF
    assert np.array_equal(as_rgb(deep)[..., 0], gray)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    cv2.imwrite(str(tmp_path / "a.png"), rgba[:, :, [2, 1, 0, 3]])  # OpenCV writes BGRA
    assert np.array_equal(read_image(str(tmp_path / "d.png"))[..., 1], gray)
    assert np.array_equal(read_image(str(tmp_path / "a.png")), rgba[:, :, :3])


def test_grid_takes_images_of_different_sizes():
    tiles = [np.full((40, 90, 3), 10, np.uint8), np.full((70, 30, 3), 20, np.uint8)]
    g = grid(tiles, cols=2, pad=2)
    assert g.shape == (70 + 4, 2 * 90 + 6, 3)
    assert (g == 10).sum() == 40 * 90 * 3 and (g == 20).sum() == 70 * 30 * 3


def test_resize_instances_scales_image_masks_and_boxes_together():
    image = np.zeros((100, 50, 3), np.uint8)
    masks = np.zeros((1, 100, 50), bool)
    masks[0, 10:30, 5:15] = True
    out, m, b = resize_instances(image, masks, np.array([[5, 10, 15, 30]]), 200)
    assert out.shape == (200, 100, 3) and m.shape == (1, 200, 100) and m.sum() == 4 * masks.sum()
    assert np.allclose(b, [[10, 20, 30, 60]])


def test_overlay_blends_masks_and_draws_exact_boxes_and_captions():
    image = np.full((50, 60, 3), 40, np.uint8)
    mask = np.zeros((1, 50, 60), bool)
    mask[0, 25:30, 15:25] = True
    box = np.array([[10, 20, 30, 34.0]])
    out = overlay(image, box, ["a"], np.array([0.9]), mask)
    color = instance_colors(1)[0]
    assert np.array_equal(
        out[mask[0]], np.broadcast_to((40 * 0.5 + color * 0.5).astype(np.uint8), (50, 3))
    )
    c = tuple(int(v) for v in color)
    assert (out[20, 10:30] == c).all() and (out[33, 10:30] == c).all()  # 1-px edges, inclusive
    assert (out[20:34, 10] == c).all() and (out[20:34, 29] == c).all()
    assert (out[34, 10:31] == 40).all() and (out[20:34, 30] == 40).all()  # nothing past x1-1/y1-1
    assert (out[22, 12:28] == 40).all()  # thickness 1: inside the edge untouched
    caption = (out[:20] != 40).any(2).sum()  # the caption sits above the box
    bare = (overlay(image, box, ["a"], None, mask)[:20] != 40).any(2).sum()
    assert caption > bare > 0  # "a 0.90" is wider than "a"


def test_instance_colors_are_uint8_rgb():
    colors = instance_colors(3)
    assert colors.dtype == np.uint8 and colors.shape == (3, 3)


def test_splash_with_one_mask_keeps_its_color():
    image = np.random.default_rng(2).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    mask = np.zeros((1, 6, 6), bool)
    mask[0, 1:3, 1:3] = True
    assert np.array_equal(color_splash(image, mask)[mask[0]], image[mask[0]])


def test_grid_centres_a_smaller_image_on_white():
    g = grid([np.zeros((9, 9, 3), np.uint8), np.zeros((3, 3, 3), np.uint8)], cols=2, pad=0)
    assert g.dtype == np.uint8 and g.shape == (9, 18, 3)
    assert (g[3:6, 12:15] == 0).all() and (g[:3, 9:] == 255).all() and (g[6:, 9:] == 255).all()
    assert (g[3:6, 9:12] == 255).all() and (g[3:6, 15:] == 255).all()


def test_resize_instances_uses_area_down_nearest_up_and_keeps_shapes():
    dot = np.zeros((3, 3, 3), np.uint8)
    dot[1, 1] = 255
    down, m, b = resize_instances(dot, np.ones((2, 3, 3), bool), np.zeros((2, 4)), 1)
    assert down[0, 0, 0] == 28  # the 3x3 average (area), not the centre sample
    assert m.dtype == bool and m.shape == (2, 1, 1) and b.shape == (2, 4)
    edge = np.zeros((1, 2, 3), np.uint8)
    edge[0, 1] = 255
    up, _, _ = resize_instances(edge, np.zeros((0, 1, 2), bool), np.zeros((0, 4)), 4)
    assert up[:, :, 0].tolist() == [[0, 0, 255, 255]] * 2  # nearest: no blended pixels
    thin, _, _ = resize_instances(
        np.zeros((100, 1, 3), np.uint8), np.zeros((0, 100, 1), bool), np.zeros((0, 4)), 50
    )
    assert thin.shape == (50, 1, 3)


@pytest.mark.parametrize("size", [50, 800])
def test_overlay_caption_font_size_and_place_are_pinned(size):
    """The caption is Hershey simplex, anti-aliased, 1 px thick, sized min(h, w) / 400 (at least
    0.3), its baseline 2 px above the box (at least 8 px from the top)."""
    image = np.full((size, size, 3), 40, np.uint8)
    box = [size // 5, size // 2, size // 2, size - 2]
    out = overlay(
        image, np.array([box], float), ["cat"], np.array([0.875]), np.zeros((1, size, size), bool)
    )
    expected = image.copy()
    c = tuple(int(v) for v in instance_colors(1)[0])
    cv2.rectangle(expected, (box[0], box[1]), (box[2] - 1, box[3] - 1), c, 1)
    scale = max(0.3, size / 400)
    cv2.putText(
        expected,
        "cat 0.88",
        (box[0], box[1] - 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        c,
        1,
        cv2.LINE_AA,
    )
    assert np.array_equal(out, expected)
    top = overlay(
        image, np.array([[5.0, 0, 20, 10]]), ["cat"], None, np.zeros((1, size, size), bool)
    )
    expected = image.copy()  # a box at the top edge keeps its caption inside the image
    cv2.rectangle(expected, (5, 0), (19, 9), c, 1)
    cv2.putText(expected, "cat", (5, 8), cv2.FONT_HERSHEY_SIMPLEX, scale, c, 1, cv2.LINE_AA)
    assert np.array_equal(top, expected)
