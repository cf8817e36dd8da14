"""scripts/annotate.py on a messy folder: a VIA project VIA opens, resumable, the user's edits
kept, one-line errors before anything is written."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from balloon_shapes.config import load_config
from balloon_shapes.data.via import ViaOptions, load_via
from balloon_shapes.demo import annotate
from tests import via_acceptance


@pytest.fixture
def photos(tmp_path):
    """Sizes and kinds of a real folder: color, gray, EXIF-rotated, non-ASCII, a truncated one."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "gray.png"), rng.integers(0, 255, (70, 50), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: VIA shows it 40 wide, 90 high
    Image.fromarray(rng.integers(0, 255, (40, 90, 3), dtype=np.uint8)).save(
        folder / "été.jpg", exif=exif
    )
    (folder / "broken.jpg").write_bytes((folder / "été.jpg").read_bytes()[:200])
    return folder


def run(quick_script, folder, checkpoint, *extra):
    return quick_script(
        "annotate.py", f"input={folder}", f"model.weights={checkpoint}", "score_thresh=0.0", *extra
    )


def project_of(folder):
    return json.loads((folder / "via_project.json").read_text())


def test_annotate_writes_a_project_via_opens_and_training_reads(
    quick_script, photos, smoke_checkpoint
):
    proc = run(quick_script, photos, smoke_checkpoint)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (photos / "via_project.json").read_text()
    assert via_acceptance.problems(text) == []
    project = json.loads(text)
    assert sorted(e["filename"] for e in project["_via_img_metadata"].values()) == [
        "a.png",
        "gray.png",
        "été.jpg",
    ]
    assert "broken.jpg: not a readable image" in proc.stdout  # listed, the rest annotated
    records, report = load_via(
        str(photos), ViaOptions(["square", "circle", "triangle"], "class", "via_project.json")
    )
    assert report.problems == []
    assert {r["file_name"].split("/")[-1]: (r["width"], r["height"]) for r in records}[
        "été.jpg"
    ] == (40, 90)
    assert (
        sum(len(r["annotations"]) for r in records)
        == json.loads(proc.stdout.strip().splitlines()[-1])["regions"]
        > 0
    )


def test_rerun_resumes_and_keeps_the_users_edits(quick_script, photos, smoke_checkpoint):
    assert run(quick_script, photos, smoke_checkpoint).returncode == 0
    project = project_of(photos)
    key = next(k for k, e in project["_via_img_metadata"].items() if e["filename"] == "a.png")
    mine = {
        "shape_attributes": {"name": "rect", "x": 1, "y": 2, "width": 30, "height": 20},
        "region_attributes": {"class": "square", "score": ""},
    }
    project["_via_img_metadata"][key]["regions"] = [mine]  # corrected in VIA
    (photos / "via_project.json").write_text(json.dumps(project))
    cv2.imwrite(str(photos / "new.png"), np.zeros((30, 30, 3), np.uint8))
    proc = run(quick_script, photos, smoke_checkpoint)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["annotated"], result["skipped"]) == (1, 3)
    again = project_of(photos)
    assert again["_via_img_metadata"][key]["regions"] == [mine]
    assert (
        again["_via_image_id_list"][: len(project["_via_image_id_list"])]
        == project["_via_image_id_list"]
    )
    proc = run(quick_script, photos, smoke_checkpoint, "replace=true")
    assert json.loads(proc.stdout.strip().splitlines()[-1])["annotated"] == 4
    assert project_of(photos)["_via_img_metadata"][key]["regions"] != [mine]


def test_killed_run_resumes_from_its_part_files(photos, smoke_checkpoint, monkeypatch):
    # inference.batch_size 4 is for a GPU: a CPU runs (and keeps) one image per pass
    cfg = load_config([f"input={photos}", f"model.weights={smoke_checkpoint}"], "annotate")
    assert cfg.inference.batch_size > 1
    real, calls = annotate.annotate_batch, []

    def dies_on_the_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setattr(annotate, "annotate_batch", dies_on_the_third)
    with pytest.raises(RuntimeError, match="killed"):
        annotate.run_annotate(cfg)
    assert not (photos / "via_project.json").exists()  # written whole at the end, or not
    parts = [p for p in photos.iterdir() if ".part" in p.name]
    assert len(parts) == 1 and len(parts[0].read_text().splitlines()) == 2  # a.png, broken.jpg
    with parts[0].open("a") as f:
        f.write('{"path": "cut sho')  # the line a kill interrupted
    monkeypatch.setattr(annotate, "annotate_batch", real)
    seen = []
    monkeypatch.setattr(annotate, "run_predict", record_paths(annotate.run_predict, seen))
    result = annotate.run_annotate(cfg)
    assert [p.rsplit("/", 1)[-1] for p in seen] == ["broken.jpg", "gray.png", "été.jpg"]
    assert (result["annotated"], result["unreadable"]) == (3, 1)
    assert sorted(e["filename"] for e in project_of(photos)["_via_img_metadata"].values()) == [
        "a.png",
        "gray.png",
        "été.jpg",
    ]
    assert not [p for p in photos.iterdir() if p.name.startswith(".")]  # parts merged, gone


def record_paths(run_predict, seen):
    def wrapped(cfg, model, paths, *args):
        seen.extend(paths)
        return run_predict(cfg, model, paths, *args)

    return wrapped


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda f: (f / "via_project.json").write_text("{oops"), [], "not valid JSON"),
        (
            lambda f: (f / "via_project.json").write_text(json.dumps({"a.png1": {"x": 1}})),
            [],
            "not a VIA 2.x project",
        ),
        (lambda f: None, ["review_band=[0.8,0.2]"], "review_band"),
        (lambda f: None, ["tolerance=-1"], "tolerance"),
        (lambda f: None, ["project=/tmp/elsewhere/p.json"], "outside the project's folder"),
    ],
)
def test_user_mistakes_are_one_line_and_leave_the_project(
    quick_script, photos, smoke_checkpoint, setup, args, message
):
    setup(photos)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    proc = run(quick_script, photos, smoke_checkpoint, *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr[-1500:]
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


@pytest.mark.slow
def test_the_loop_trains_on_the_corrected_project(quick_script, photos, smoke_checkpoint, tmp_path):
    """Pre-annotate train/ and val/, correct in "VIA" (a region's class changed, one drawn),
    then train.py reads the projects as saved."""
    root = tmp_path / "mine"
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        for name in ("a.png", "gray.png"):
            (root / split / name).write_bytes((photos / name).read_bytes())
        assert run(quick_script, root / split, smoke_checkpoint, "score_thresh=0.3").returncode == 0
    project = project_of(root / "train")
    entry = next(iter(project["_via_img_metadata"].values()))
    entry["regions"].append(
        {
            "shape_attributes": {"name": "polygon", "all_points_x": [5, 40, 20],
                                 "all_points_y": [5, 8, 30]},
            "region_attributes": {"class": "triangle", "score": ""},
        }
    )  # fmt: skip
    (root / "train" / "via_project.json").write_text(json.dumps(project))
    classes = ["square", "circle", "triangle", "ellipse"]
    records, _ = load_via(str(root / "train"), ViaOptions(classes, "class", "via_project.json"))
    assert records[0]["annotations"][-1]["category_id"] == 2
    out = tmp_path / "run"
    proc = quick_script(
        "train.py", "+experiment=my_via", f"data.root={root}", f"data.classes={classes}",
        "data.class_key=class", "data.json_name=via_project.json", "model.weights=null",
        "model.backbone=resnet18", "model.min_size=96", "model.max_size=128",
        "train.max_iter=2", f"output_dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["iter"] == 2


def test_rank_writes_the_ranking_beside_the_project(quick_script, photos, smoke_checkpoint):
    proc = run(quick_script, photos, smoke_checkpoint, "rank=flip", "top=2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = (photos / "ranking.csv").read_text().splitlines()
    assert rows[0] == "rank,image,uncertainty" and len(rows) == 4
    values = [float(r.split(",")[2]) for r in rows[1:]]
    assert values == sorted(values, reverse=True)
    stored = {
        e["filename"]: float(e["file_attributes"]["uncertainty"])
        for e in project_of(photos)["_via_img_metadata"].values()
    }
    assert {r.split(",")[1]: float(r.split(",")[2]) for r in rows[1:]} == pytest.approx(stored)
    assert sum(line.startswith(("    1.", "    2.")) for line in proc.stdout.splitlines()) == 2
    proc = run(quick_script, photos, smoke_checkpoint, "rank=confidence")
    assert proc.returncode == 2 and "rank='confidence'" in proc.stderr


@pytest.mark.slow
def test_two_processes_share_the_images_and_rank_0_merges(script, photos, smoke_checkpoint):
    """trainer.devices=2 (DDP, gloo): Lightning shards the images, each rank keeps its part
    file, rank 0 merges them into one project, printed once."""
    for i in range(5):
        cv2.imwrite(str(photos / f"more{i}.png"), np.full((40, 60, 3), 40 * i, np.uint8))
    proc = script(
        "annotate.py", f"input={photos}", f"model.weights={smoke_checkpoint}",
        "score_thresh=0.0", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.strategy=ddp", "inference.batch_size=1", "rank=flip",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(e["filename"] for e in project_of(photos)["_via_img_metadata"].values())
    readable = sorted(p.name for p in photos.iterdir() if p.suffix in (".png", ".jpg"))
    assert names == [n for n in readable if n != "broken.jpg"]  # both ranks' shards
    assert proc.stdout.count('"annotated": 8') == 1  # merged and printed by rank 0 only
    assert len((photos / "ranking.csv").read_text().splitlines()) == 1 + 8
    assert not [p for p in photos.iterdir() if ".part" in p.name]
