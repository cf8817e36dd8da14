"""Ground-truth clips: deterministic, masks equal to the drawn pixels, MOTS text round trip."""

import numpy as np
import pytest

from balloon_shapes.data.clips import ClipSpec, clip, movers, read_mots, write_clip, write_mots
from balloon_shapes.data.shapes import draw_shape
from balloon_shapes.errors import DataError

SPEC = ClipSpec(frames=100, objects=4)


def test_a_clip_is_a_function_of_its_seed():
    a, b, c = (list(clip(seed, SPEC)) for seed in (3, 3, 4))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_masks_are_the_drawn_pixels_and_objects_cross_leave_and_come_back():
    bg, objects = movers(5, SPEC)
    present = {o: [] for o in range(1, SPEC.objects + 1)}
    hidden = 0
    for t, (image, truth) in enumerate(clip(5, SPEC)):
        union = np.zeros(image.shape[:2], bool)
        for o in truth:
            mover = objects[o.track_id - 1]
            assert not (union & o.mask).any()  # one object per pixel: later ones occlude
            union |= o.mask
            assert (image[o.mask] == mover.color).all() and o.category_id == mover.cls + 1
            alone = np.zeros(image.shape[:2], np.uint8)  # the whole shape, as if alone
            cx, cy, r, angle = mover.at(t, SPEC)
            draw_shape(alone, mover.cls, cx, cy, r, angle, mover.aspect)
            hidden += int(alone.sum() > o.mask.sum())
        stray = (image[~union] != bg).any(1).sum()  # slivers under min_pixels are not objects
        assert stray < SPEC.min_pixels * SPEC.objects
        for k in present:
            present[k].append(any(o.track_id == k for o in truth))
    assert hidden > 10  # objects are partly hidden, by another or by the frame's edge
    back = [np.flatnonzero(np.diff(np.array(p, int)) == 1) for p in present.values()]
    assert any(len(b) for b in back)  # an object left the frame and came back


def test_mots_text_round_trips_and_a_bad_line_names_the_file(tmp_path):
    frames = [truth for _, truth in clip(2, SPEC)]
    write_mots(str(tmp_path / "gt.txt"), frames, SPEC.height, SPEC.width)
    back = read_mots(str(tmp_path / "gt.txt"))
    for t, truth in enumerate(frames):
        got = {o.track_id: o for o in back.get(t, [])}
        assert sorted(got) == [o.track_id for o in truth]
        for o in truth:
            assert got[o.track_id].category_id == o.category_id
            assert np.array_equal(got[o.track_id].mask, o.mask)
    (tmp_path / "bad.txt").write_text("0 1 2 128 128\n")
    with pytest.raises(DataError, match=r"bad\.txt:1: expected"):
        read_mots(str(tmp_path / "bad.txt"))


def test_the_video_holds_the_frames(tmp_path):
    import av

    spec = ClipSpec(frames=6)
    write_clip(1, str(tmp_path / "c.mp4"), str(tmp_path / "c.txt"), spec)
    with av.open(str(tmp_path / "c.mp4")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    drawn = [image for image, _ in clip(1, spec)]
    assert len(decoded) == 6 and decoded[0].shape == drawn[0].shape
    assert np.mean([np.abs(d.astype(int) - x).mean() for d, x in zip(decoded, drawn)]) < 3  # crf 12
    assert len(read_mots(str(tmp_path / "c.txt"))) == 6
