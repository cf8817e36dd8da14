import cv2
import numpy as np
import pytest

from balloon_shapes.data.mapper import read_image
from balloon_shapes.demo.predictor import as_rgb
from balloon_shapes.structures import Instances
from balloon_shapes.visualizer import (
    class_colors,
    color_splash,
    comparison_tile,
    draw_instances,
    grid,
    instance_colors,
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
    out, inst = resize_instances(
        image, Instances(np.array([[5, 10, 15, 30]]), [1], [1], masks), 200
    )
    assert out.shape == (200, 100, 3) and inst.masks.shape == (1, 200, 100)
    assert inst.masks.sum() == 4 * masks.sum() and np.allclose(inst.boxes, [[10, 20, 30, 60]])


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


def none(h, w):
    return Instances(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros((0, h, w), bool))


def test_resize_instances_uses_area_down_nearest_up_and_keeps_shapes():
    dot = np.zeros((3, 3, 3), np.uint8)
    dot[1, 1] = 255
    two = Instances(np.zeros((2, 4)), [1, 2], [1, 1], np.ones((2, 3, 3), bool))
    down, inst = resize_instances(dot, two, 1)
    assert down[0, 0, 0] == 28  # the 3x3 average (area), not the centre sample
    assert inst.masks.dtype == bool and inst.masks.shape == (2, 1, 1) and inst.boxes.shape == (2, 4)
    edge = np.zeros((1, 2, 3), np.uint8)
    edge[0, 1] = 255
    up, _ = resize_instances(edge, none(1, 2), 4)
    assert up[:, :, 0].tolist() == [[0, 0, 255, 255]] * 2  # nearest: no blended pixels
    thin, _ = resize_instances(np.zeros((100, 1, 3), np.uint8), none(100, 1), 50)
    assert thin.shape == (50, 1, 3)


def disks(h, w, n, seed=0, radius=(30, 80), spread=(150, 360)):
    """``n`` overlapping disks crowded in the middle of an h x w image, random classes."""
    rng = np.random.default_rng(seed)
    masks, boxes = [], []
    for _ in range(n):
        m = np.zeros((h, w), np.uint8)
        cx, cy = (int(v) for v in rng.integers(*spread, 2))
        r = int(rng.integers(*radius))
        cv2.circle(m, (cx, cy), r, 1, -1)
        masks.append(m.astype(bool))
        boxes.append([cx - r, cy - r, cx + r + 1, cy + r + 1])
    return Instances(np.array(boxes, float), rng.integers(1, 4, n), rng.random(n), np.array(masks))


NAMES = ["circle", "square", "triangle"]


@pytest.mark.parametrize("n", [3, 12, 30])
def test_labels_never_overlap_and_stay_inside_the_image(n):
    image = np.full((512, 512, 3), (200, 120, 60), np.uint8)
    drawn = draw_instances(image, disks(512, 512, n), NAMES)
    b = drawn.label_boxes
    assert b.shape == (n, 4)
    assert (b[:, :2] >= 0).all() and (b[:, 2] <= 512).all() and (b[:, 3] <= 512).all()
    for i in range(n):
        for j in range(i + 1, n):
            iw = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
            ih = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
            assert iw <= 0 or ih <= 0, f"labels {i} and {j} overlap: {b[i]} {b[j]}"


def test_a_label_at_the_top_edge_moves_inside_and_the_best_score_keeps_its_corner():
    image = np.zeros((200, 300, 3), np.uint8)
    masks = np.zeros((2, 200, 300), bool)
    inst = Instances(np.array([[10.0, 0, 80, 40], [12, 2, 80, 40]]), [1, 2], [0.6, 0.9], masks)
    b = draw_instances(image, inst, NAMES).label_boxes
    assert b[1, 0] == 12 and b[1, 1] == 0  # higher score first: at its corner, pushed inside
    assert b[0, 1] >= b[1, 3]  # the other label moved below it, not on top of it


def test_outline_is_drawn_darker_along_every_mask_border_and_fill_is_blended():
    image = np.full((300, 300, 3), 160, np.uint8)
    inst = disks(300, 300, 4, seed=3, radius=(20, 40), spread=(60, 240))
    inst.scores[:] = 0.5
    out = draw_instances(image, inst, NAMES, alpha=0.5)
    colors = class_colors(inst.labels)
    labels = np.zeros((300, 300), bool)
    for x0, y0, x1, y1 in out.label_boxes:
        labels[y0:y1, x0:x1] = True
    lines = np.zeros((300, 300), np.uint8)  # box edges, +-1 px
    for x0, y0, x1, y1 in inst.boxes.astype(int):
        cv2.rectangle(lines, (x0, y0), (x1 - 1, y1 - 1), 1, 3)
    labels |= lines.astype(bool)
    for i, (m, color) in enumerate(zip(inst.masks, colors)):
        m8 = m.astype(np.uint8)
        cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
        border = (m8 - cv2.erode(m8, cross)).astype(bool) & ~labels  # a 4-neighbour outside
        others = np.zeros_like(m)
        for j, o in enumerate(inst.masks):
            if j != i:
                others |= cv2.dilate(o.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        border &= ~others
        assert border.sum() > 20
        fill = (160 * 0.5 + color * 0.5).astype(np.uint8)
        edge = (color * 0.45).astype(int)
        # at least 90 % of the border is nearer the dark outline color than the fill
        px = out.image[border].astype(int)
        dark = (np.abs(px - edge).sum(1) < np.abs(px - fill.astype(int)).sum(1)).mean()
        assert dark > 0.9, f"mask {i}: only {dark:.0%} of its border is outlined"
        inner = cv2.erode(m8, np.ones((9, 9), np.uint8)).astype(bool) & ~labels & ~others
        assert inner.any() and (out.image[inner] == fill).all()


def test_a_mask_with_a_hole_is_outlined_inside_too():
    """A ring (a balloon's string loop, a donut): its hole's border is outlined as well."""
    image = np.full((120, 120, 3), 160, np.uint8)
    ring = np.zeros((120, 120), np.uint8)
    cv2.circle(ring, (60, 60), 45, 1, -1)
    cv2.circle(ring, (60, 60), 20, 0, -1)
    inst = Instances(np.array([[15.0, 15, 106, 106]]), np.array([1]), np.array([0.9]),
                     ring[None].astype(bool))  # fmt: skip
    out = draw_instances(image, inst, NAMES, alpha=0.5).image
    edge = (class_colors(inst.labels)[0] * 0.45).astype(int)
    hole_border = ring.astype(bool) & cv2.dilate(1 - ring, np.ones((3, 3), np.uint8)).astype(bool)
    hole_border[:, :] &= np.hypot(*np.mgrid[-60:60, -60:60]) < 30  # only the inner edge
    assert hole_border.sum() > 50
    outline = (np.abs(out.astype(int) - edge).sum(2) < 30).astype(np.uint8)
    near = cv2.dilate(outline, np.ones((3, 3), np.uint8)).astype(bool)  # within a pixel
    assert near[hole_border].mean() > 0.95


def test_colors_are_stable_per_class():
    assert np.array_equal(class_colors([2, 1, 2])[0], class_colors([2])[0])
    assert np.array_equal(class_colors([3])[0], instance_colors(4)[3])
    assert len({tuple(c) for c in class_colors([1, 2, 3, 4])}) == 4


def test_text_grows_with_the_image():
    inst = Instances(np.array([[10.0, 10, 40, 40]]), [1], [0.9], np.zeros((1, 100, 100), bool))
    small = draw_instances(np.zeros((100, 100, 3), np.uint8), inst, NAMES).label_boxes[0]
    big_inst = Instances(inst.boxes * 10, [1], [0.9], np.zeros((1, 1000, 1000), bool))
    big = draw_instances(np.zeros((1000, 1000, 3), np.uint8), big_inst, NAMES).label_boxes[0]
    assert (big[3] - big[1]) > 1.3 * (small[3] - small[1])
    gt = draw_instances(np.zeros((100, 100, 3), np.uint8), inst, NAMES, scores=False)
    assert gt.label_boxes[0, 2] - gt.label_boxes[0, 0] < small[2] - small[0]  # no " 0.90"


def test_comparison_tile_puts_ground_truth_left_and_prediction_right():
    image = np.zeros((100, 200, 3), np.uint8)
    masks = np.zeros((1, 100, 200), bool)
    masks[0, 40:60, 20:60] = True
    gt = Instances(np.array([[20.0, 40, 60, 60]]), [1], [1.0], masks)
    tile = comparison_tile(image, gt, none(100, 200), NAMES, 100)
    assert tile.shape[1] == 100 + 3 + 100
    left, right = tile[-50:, :100], tile[-50:, 103:]
    assert left.any() and not right.any()  # the missed object shows on the left only


def test_png_bytes_and_figure_png_decode_to_the_picture_drawn():
    from matplotlib.figure import Figure

    from balloon_shapes.visualizer import figure_png, png_bytes

    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0] = 200  # red: a channel swap would decode blue
    decoded = cv2.imdecode(np.frombuffer(png_bytes(rgb), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded[:, :, ::-1], rgb)  # PNG is lossless
    fig = Figure(figsize=(2, 1))
    fig.patch.set_facecolor((1.0, 0.0, 0.0))
    drawn = cv2.imdecode(np.frombuffer(figure_png(fig), np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape[:2] == (100, 200)  # 100 dpi
    assert drawn[50, 100].tolist() == [0, 0, 255]  # BGR red
