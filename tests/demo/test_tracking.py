"""Track IDs and carried masks: the config's tracker keeps identities through an occlusion and a
crossing; flow-carried masks follow the ground truth better than frozen ones; IDs reach the
JSON, the colors and keep_tracks."""

from types import SimpleNamespace

import numpy as np

from balloon_shapes.config import load_config
from balloon_shapes.data.clips import ClipSpec, clip
from balloon_shapes.demo.tracking import FlowCarrier, Tracker, keep_only, mask_boxes
from balloon_shapes.demo.video import make_tracker
from balloon_shapes.structures import Instances
from balloon_shapes.visualizer import colors_of, draw_instances


def config_tracker(fps=15.0, *overrides) -> Tracker:
    """The tracker a user gets: demo.yaml's ``tracker``, ``same_object_iou`` and ``reid``."""
    cfg = load_config(["input=x.mp4", *overrides], config_name="video_demo")
    return make_tracker(cfg, SimpleNamespace(fps=fps))


def squares(centres, size=64, half=5, label=1):
    """Instances of same-class squares at ``centres`` (x, y)."""
    masks = np.zeros((len(centres), size, 2 * size), bool)
    for k, (x, y) in enumerate(centres):
        masks[k, int(y) - half : int(y) + half, int(x) - half : int(x) + half] = True
    return Instances(mask_boxes(masks), np.full(len(centres), label), np.full(len(centres), 0.9),
                     masks)  # fmt: skip


def test_an_object_keeps_its_id_through_a_three_frame_occlusion():
    tracker = config_tracker()
    ids = []
    for t in range(20):
        x = 10 + 4 * t
        inst = squares([] if 8 <= t <= 10 else [(x, 30)])  # hidden in frames 8, 9, 10
        ids.append(tracker.update(inst, t / 15, painted(inst)).ids.tolist())
    assert ids[0] == [-1] and ids[1] == [0] and ids[7] == [0] and ids[8] == []
    assert ids[11:] == [[0]] * 9  # the same object, not a new one


def test_same_class_objects_keep_their_ids_through_a_crossing():
    tracker = config_tracker()
    history = []
    for t in range(24):
        a, b = (8 + 5 * t, 20 + t), (120 - 5 * t, 44 - t)  # they meet near t = 11
        tracked = tracker.update(squares([a, b]), t / 15, painted(squares([a, b])))
        history.append(tracked.ids.tolist())
    assert history[1] == [0, 1]
    assert history[-1] == [0, 1]  # the one that started left is still 0, now on the right


def painted(inst, colors=None):
    """A frame with each instance's mask painted in its color (gray 128 where none is given)."""
    image = np.zeros((*inst.masks.shape[1:], 3) if len(inst) else (64, 128, 3), np.uint8)
    for k, m in enumerate(inst.masks):
        image[m] = colors[k] if colors is not None else (128, 128, 128)
    return image


def test_an_object_back_after_the_trackers_buffer_gets_its_id_back():
    """Gone 8 s (the tracker's buffer is 90 frames at 30 fps: 3 s), a red square comes back
    beside a new blue one: the red one is 0 again, the blue one a new ID; without ``reid`` the
    tracker alone calls the red one new."""
    red, blue = (220, 30, 30), (30, 30, 220)
    for reid, expected in ((True, [0, 1]), (False, [1, 2])):
        tracker = config_tracker(15.0, *([] if reid else ["reid=null"]))
        for t in range(4):
            inst = squares([(10 + 4 * t, 30)])
            tracker.update(inst, t / 15, painted(inst, [red]))
        for t in range(124, 128):  # frame 124: seconds 8.3
            inst = squares([(20 + 4 * (t - 124), 30), (90, 30)])
            ids = tracker.update(inst, t / 15, painted(inst, [red, blue])).ids.tolist()
        assert ids == expected, (reid, ids)


def truth_instances(truth, shape):
    masks = np.stack([o.mask for o in truth]) if truth else np.zeros((0, *shape), bool)
    ids = np.array([o.track_id for o in truth], np.int64)
    labels = np.array([o.category_id for o in truth], np.int64)
    return Instances(mask_boxes(masks), labels, np.ones(len(truth)), masks, ids)


def iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def test_flow_carried_masks_follow_the_objects_better_than_frozen_ones():
    """every_n=4 on a clip with motion: each model frame's ground truth carried 3 frames on."""
    frames = list(clip(1, ClipSpec(frames=40)))
    carrier = FlowCarrier()
    scores = {"flow": [], "freeze": []}
    for start in range(0, 36, 4):
        shown = truth_instances(frames[start][1], frames[start][0].shape[:2])
        carried = shown
        for t in range(start + 1, start + 4):
            carried = carrier(frames[t - 1][0], frames[t][0], carried)
            for o in frames[t][1]:
                for kind, inst in (("flow", carried), ("freeze", shown)):
                    hit = np.flatnonzero(inst.ids == o.track_id)
                    scores[kind].append(iou(inst.masks[hit[0]], o.mask) if len(hit) else 0.0)
            assert np.allclose(carried.boxes, mask_boxes(carried.masks))  # boxes follow masks
    flow, freeze = np.mean(scores["flow"]), np.mean(scores["freeze"])
    assert flow > 0.9 and flow > freeze + 0.05, (flow, freeze)


def test_colors_follow_track_ids_not_classes_and_ids_are_labelled():
    inst = squares([(40, 60), (120, 60), (200, 60)], size=128, half=16)
    inst.labels = np.array([1, 1, 2])
    inst.ids = np.array([4, 5, 4])
    colors = colors_of(inst)
    assert not np.array_equal(colors[0], colors[1])  # same class, two objects: two colors
    assert np.array_equal(colors[0], colors[2])  # one ID keeps its color whatever its class
    image = np.full((128, 256, 3), 255, np.uint8)
    drawing = draw_instances(image, inst, ["square", "circle"])
    free = np.ones(image.shape[:2], bool)  # where no label covers the fill (OpenCV's text size
    for x0, y0, x1, y1 in drawing.label_boxes:  # moves the labels between its versions)
        free[y0:y1, x0:x1] = False
    fills = []  # each mask's fill: the commonest color of its pixels no label covers
    for m in inst.masks:
        values, counts = np.unique(drawing.image[m & free], axis=0, return_counts=True)
        fills.append(values[counts.argmax()])
    assert np.array_equal(fills[0], fills[2])  # same ID, same fill
    assert not np.array_equal(fills[0], fills[1])


def test_keep_only_keeps_the_named_tracks():
    inst = squares([(20, 20), (60, 20)])
    inst.ids = np.array([0, 3])
    assert keep_only(inst, (3,)).ids.tolist() == [3]
    assert len(keep_only(inst, ())) == 2


def test_one_object_found_as_two_classes_is_one_track():
    """Mask R-CNN's NMS is per class: a circle also called an ellipse comes twice. Untreated,
    the two detections become two tracks that trade the object between them."""
    tracker = config_tracker()
    for t in range(6):
        inst = squares([(10 + 4 * t, 30), (11 + 4 * t, 30), (100, 30)])
        inst.labels = np.array([1, 2, 1])
        inst.scores = np.array([0.9, 0.95, 0.8]) if t % 2 else np.array([0.95, 0.9, 0.8])
        tracked = tracker.update(inst, t / 15, painted(inst))
        assert len(tracked) == 2  # the overlapping pair is one object, the far square another
    assert tracked.ids.tolist() == [0, 1] and tracked.labels.tolist() == [2, 1]


def test_keep_tracks_leaves_the_other_objects_gray_in_a_splash():
    from balloon_shapes.demo.video import frame_picture

    image = np.zeros((64, 128, 3), np.uint8)
    image[..., 0] = 200  # red everywhere: gray is where R == G == B
    inst = squares([(20, 20), (60, 20)])
    inst.ids = np.array([0, 3])
    out = frame_picture(["square"], "splash", (3,))(image, inst)  # the video demo's picture
    assert tuple(out[20, 60]) == (200, 0, 0)  # track 3 keeps its color
    assert len(set(out[20, 20].tolist())) == 1 and len(set(out[50, 100].tolist())) == 1  # gray


def test_carrying_only_around_each_mask_gives_the_whole_frame_warp():
    """The carrier warps each mask in a window around it: the same masks as warping the whole
    frame, also for a mask reaching past its (model) box and one moving the furthest."""
    import cv2

    frames = list(clip(3, ClipSpec(frames=6)))
    inst = truth_instances(frames[0][1], frames[0][0].shape[:2])
    inst.boxes = inst.boxes + np.array([6, 6, -6, -6])  # boxes tighter than their masks
    carrier = FlowCarrier()
    moved = carrier(frames[0][0], frames[1][0], inst)
    flow = carrier.flow(frames[1][0], frames[0][0])
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    whole = [cv2.remap(m.astype(np.uint8) * 255, gx + flow[..., 0], gy + flow[..., 1],
                       cv2.INTER_LINEAR) >= 128 for m in inst.masks]  # fmt: skip
    kept = [k for k, m in enumerate(whole) if m.any()]
    assert np.array_equal(moved.masks, np.stack([whole[k] for k in kept]))


RED, GREEN = (220, 30, 30), (30, 200, 30)


def reidentify(reid, frames):
    """Our IDs per frame; ``frames``: (seconds, [(tracker ID, x, color, label), ...])."""
    out = []
    for seconds, objects in frames:
        inst = squares([(x, 30) for _, x, _, _ in objects])
        inst.ids = np.array([t for t, *_ in objects], np.int64)
        inst.labels = np.array([label for *_, label in objects], np.int64)
        image = painted(inst, [color for _, _, color, _ in objects])
        out.append(reid(inst, image, seconds).ids.tolist())
    return out


def test_reid_pairs_returning_objects_by_color_within_class_and_memory():
    from balloon_shapes.demo.tracking import ReIdentifier

    def reid(same_class=True):
        return ReIdentifier(max_distance=0.3, memory_s=10.0, same_class=same_class, bins=8)

    start = (0.0, [(0, 20, RED, 1), (1, 100, GREEN, 1)])
    # both leave; they come back under new tracker IDs, each where the other was
    assert reidentify(reid(), [start, (5.0, [(2, 20, GREEN, 1), (3, 100, RED, 1)])])[-1] == [1, 0]
    # another class, or after the memory: a new object
    assert reidentify(reid(), [start, (5.0, [(2, 20, RED, 2)])])[-1] == [2]
    assert reidentify(reid(False), [start, (5.0, [(2, 20, RED, 2)])])[-1] == [0]
    assert reidentify(reid(), [start, (11.0, [(2, 20, RED, 1)])])[-1] == [2]
    # one still in the frame cannot be taken; an unconfirmed detection stays -1
    also = (1.0, [(0, 20, RED, 1), (2, 60, RED, 1), (-1, 90, GREEN, 1)])
    assert reidentify(reid(), [start, also])[-1] == [0, 2, -1]


def test_reid_never_gives_one_id_twice_in_a_frame():
    """The tracker takes up its lost track 0 again after track 1 took over its ID: track 1,
    the last to take it, keeps it; track 0 gets a new one."""
    from balloon_shapes.demo.tracking import ReIdentifier

    reid = ReIdentifier(max_distance=0.3, memory_s=10.0, same_class=True, bins=8)
    frames = [(0.0, [(0, 20, RED, 1)]), (1.0, [(1, 60, RED, 1)])]
    frames.append((1.1, [(1, 62, RED, 1), (0, 20, RED, 1)]))
    assert reidentify(reid, frames) == [[0], [0], [0, 1]]


def test_reid_histogram_reads_the_mask_box_only_and_misses_no_pixel():
    """Only the mask's box is read, yet the histogram is the whole frame's inside the mask,
    also for a mask in two parts touching the frame's last row and column; each pixel counts 1
    in its bin and half in each neighbouring one per channel (built here pixel by pixel)."""
    from balloon_shapes.demo.tracking import ReIdentifier

    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[5:9, 3:7] = mask[47, 63] = mask[30, 63] = True
    expected = np.zeros((4, 4, 4))
    for r, g, b in (image[mask] // 64).astype(int):  # uint8 would wrap at r - 1
        for dr, dg, db in np.ndindex(3, 3, 3):
            at = (r + dr - 1, g + dg - 1, b + db - 1)
            if all(0 <= c < 4 for c in at):
                expected[at] += 0.5 ** ((dr != 1) + (dg != 1) + (db != 1))
    got = ReIdentifier(0.5, 10.0, False, bins=4).histogram(image, mask)
    assert np.allclose(got, expected.ravel() / expected.sum(), rtol=0, atol=1e-6)


def test_reid_a_color_across_a_bin_edge_is_still_the_same_object():
    """RGB 127 and 128 fall in two bins of 8 (compression moves colors across): hard bins
    make them disjoint (distance 1); counted half in the neighbouring bins they are 0.54 apart
    (sqrt(1 - 2 sqrt(1/8))), within 0.6; a color three bins away stays 1."""
    from balloon_shapes.demo.tracking import ReIdentifier

    def last_id(red: int) -> int:
        reid = ReIdentifier(max_distance=0.6, memory_s=10.0, same_class=False, bins=8)
        frames = [(0.0, [(0, 20, (127, 30, 30), 1)]), (5.0, [(1, 20, (red, 30, 30), 1)])]
        return reidentify(reid, frames)[-1]

    assert last_id(128) == [0]
    assert last_id(200) == [1]


def test_reid_a_track_the_tracker_takes_up_again_onto_another_object_is_matched_anew():
    """Red and green leave; the tracker takes up red's lost track 0 on the green one coming
    back (motion alone): it is green's ID 1, and red, back under a new track, gets 0 again. A
    track taken up again that looks like no lost object keeps the tracker's ID."""
    from balloon_shapes.demo.tracking import ReIdentifier

    def reid():
        return ReIdentifier(max_distance=0.3, memory_s=10.0, same_class=True, bins=8)

    start = [(0.0, [(0, 20, RED, 1), (1, 100, GREEN, 1)]), (0.1, [(1, 100, GREEN, 1)]), (0.2, [])]
    back = [(2.0, [(0, 30, GREEN, 1)]), (2.1, [(0, 32, GREEN, 1), (3, 90, RED, 1)])]
    assert reidentify(reid(), start + back)[-2:] == [[1], [1, 0]]
    assert reidentify(reid(), start + [(2.0, [(0, 30, (30, 30, 220), 1)])])[-1] == [0]


def test_reid_a_track_the_tracker_carries_onto_another_color_is_matched_anew():
    """Red leaves; in the next frame the tracker carries green's track 1 onto the red one
    coming back where green was (motion alone hands it over): it is red's ID 0, and green,
    back under a new track, gets 1 again. Carried onto a color never seen: a new ID."""
    from balloon_shapes.demo.tracking import ReIdentifier

    def reid():
        return ReIdentifier(max_distance=0.3, memory_s=10.0, same_class=True, bins=8)

    start = [(0.0, [(0, 20, RED, 1), (1, 100, GREEN, 1)]), (0.1, [(1, 100, GREEN, 1)])]
    swap = [(0.2, [(1, 100, RED, 1)]), (0.3, [(1, 100, RED, 1), (2, 20, GREEN, 1)])]
    assert reidentify(reid(), start + swap)[-2:] == [[0], [0, 1]]
    blue = (30, 30, 220)
    assert reidentify(reid(), start + [(0.2, [(1, 100, blue, 1)])])[-1] == [2]


def test_reid_on_a_carried_frame_reads_only_new_tracks_colors():
    """Carried masks repeat the model frame's colors: of three tracks, the one new track's
    histogram is the only one computed (a carried frame runs the tracker 3 times in 4)."""
    from balloon_shapes.demo.tracking import ReIdentifier

    reid = ReIdentifier(max_distance=0.3, memory_s=10.0, same_class=True, bins=8)
    calls = []
    read = reid.histogram
    reid.histogram = lambda image, mask: calls.append(mask.sum()) or read(image, mask)
    reidentify(reid, [(0.0, [(0, 20, RED, 1), (1, 60, GREEN, 1)])])
    inst = squares([(22, 30), (62, 30), (100, 30)])
    inst.ids = np.array([0, 1, 2])
    calls.clear()
    out = reid(inst, painted(inst, [RED, GREEN, RED]), 0.1, carried=True)
    assert out.ids.tolist() == [0, 1, 2] and len(calls) == 1
