"""Every script and benchmark answers ``--help`` without starting work, and each benchmark runs
end to end at a ``--smoke`` size: nothing imports them, so a rename would break them silently."""

import json
import os
import runpy
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
# cpu_inference, int8_accuracy and video_realtime export and quantize R50/R101 or fine-tune: 40 s
# to minutes even at --smoke
SMOKE = {  # name -> its smoke arguments (one probability is enough to run grayscale_augment)
    "shapes_cpu.py": ["--smoke"],
    "grayscale_augment.py": ["--smoke", "0.3"],
    "video_fps.py": ["--smoke"],
    "video_quality.py": ["--smoke"],
    "eval_speed.py": ["--smoke"],
    "annotate_speed.py": ["--smoke"],
    "active_labeling.py": ["--smoke", "--measures", "flip"],  # 2 tiny trainings, not 4
    "cross_class_suppression.py": ["--smoke"],
    "inference_sweep.py": ["--smoke"],
    "roi_align_speed.py": ["--repeats", "2"],
    "train_precision.py": ["--steps", "1", "train.batch_size=2"],
}


def run(path: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, cwd=cwd,
        env=env, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_entry_point_answers_help(path, monkeypatch, capsys):
    """Run as ``__main__`` with ``--help`` (in this process: the imports are paid once)."""
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    monkeypatch.syspath_prepend(str(path.parent))
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code in (0, None), out
    first = out.strip().splitlines()[0]
    assert first.startswith("usage:") or len(first) > 20, out[:300]


@pytest.mark.parametrize("args", [["--help"], ["--config-file", "x.yaml"]])
def test_d2_train_net_without_detectron2_says_so(args, monkeypatch, capsys):
    """Detectron2 is optional: --help still answers, a run is one line, exit 2."""
    for name in ("detectron2", "detectron2.engine"):
        monkeypatch.setitem(sys.modules, name, None)  # as on a machine without it
    path = ROOT / "scripts" / "d2_train_net.py"
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(path), run_name="__main__")
    out, err = capsys.readouterr()
    if args == ["--help"]:
        assert done.value.code == 0 and out.startswith("usage:") and "not installed" in out
    else:
        assert done.value.code == 2 and err.strip().splitlines() == [
            "error: detectron2 is not installed (optional: build it from source; no registry "
            "wheels)"
        ]


def test_every_entry_point_is_found():
    assert len(ENTRY_POINTS) >= 14


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOKE)
def test_benchmark_runs_at_smoke_size(name, tmp_path, monkeypatch, capsys):
    """In this process (Python and torch start once), in ``tmp_path`` (outputs/ lands there);
    annotate_speed in its own: OpenVINO here, then a child exiting, crashes pytest."""
    path = ROOT / "benchmarks" / name
    if name == "annotate_speed.py":
        proc = run(path, *SMOKE[name], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = proc.stdout
    else:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", [str(path), *SMOKE[name]])
        monkeypatch.syspath_prepend(str(path.parent))
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as done:  # a clean end may exit 0 too; any other code fails here
            assert done.code in (0, None), capsys.readouterr().err[-3000:]
        out = capsys.readouterr().out
    assert out.strip(), "a benchmark prints its figures"


def test_no_dependency_forbids_apache_2():
    """The project is Apache-2.0: no (A)GPL dependency (LGPL is fine, as linked libraries)."""
    declared = metadata.requires("balloon-shapes")
    names = {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in declared}
    for name in names:
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue  # an extra not installed here
        license_field = meta.get("License") or ""  # some packages paste their whole text
        fields = [meta.get("License-Expression") or "", license_field[:80]]
        fields += [c for c in meta.get_all("Classifier", []) if c.startswith("License ::")]
        for field in fields:
            copyleft = "GPL" in field.replace("LGPL", "") or "GNU General Public" in field
            assert not (copyleft or "Affero" in field), f"{name}: {field}"
    assert metadata.metadata("balloon-shapes")["License-Expression"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def frontier(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """benchmarks/frontier.py run as ``__main__`` in this process: (exit code, stdout, stderr)."""
    path = ROOT / "benchmarks" / "frontier.py"
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(path), run_name="__main__")
    return done.value.code, *capsys.readouterr()


def test_frontier_reads_runs_and_names_a_bad_one_in_one_line(tmp_path, monkeypatch, capsys):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    rows = [{"iter": 400, "train_seconds": 180.0, "segm_AP50": 0.458, "segm_AP": 0.32},
            {"iter": 800, "train_seconds": 370.0, "segm_AP50": 0.816, "segm_AP": 0.6}]  # fmt: skip
    (good / "metrics.json").write_text(json.dumps({"history": rows}))
    (bad / "metrics.json").write_text(json.dumps({"segm_AP50": 0.9}))  # a final figure only
    plot = tmp_path / "f.png"
    code, out, err = frontier(monkeypatch, capsys, f"3-8, 12-01={good}", "--plot", str(plot))
    assert code == 0, err
    assert "3-8, 12-01: 400:0.458@180s 800:0.816@370s | segm AP 0.600 | 0.46 s/it" in out
    assert plot.stat().st_size > 10_000
    for arg, problem in ((f"x={bad}", "no validation history"), (f"x={tmp_path}/none", "no such")):
        code, out, err = frontier(monkeypatch, capsys, arg, "--plot", str(tmp_path / "g.png"))
        assert code == 2 and problem in err, err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "g.png").exists()


def test_video_quality_on_the_ground_truth_scores_its_tracking_alone(tmp_path, monkeypatch, capsys):
    """``--truth``: each model frame's detections are that frame's ground truth, so the masks
    are exact (J 1) and only the tracker's first, unconfirmed sighting costs HOTA."""
    path = ROOT / "benchmarks" / "video_quality.py"
    args = [
        "--truth",
        "--seeds",
        "2",
        "--frames",
        "30",
        "--every-n",
        "1",
        "--plot",
        str(tmp_path / "v.png"),
    ]
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    runpy.run_path(str(path), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    head, row = ([c.strip() for c in next(x for x in lines if x.startswith(p)).split("|")]
                 for p in ("| every_n", "| 1 |"))  # fmt: skip
    cell = dict(zip(head, row))
    assert float(cell["J"]) == 1.0 and float(cell["HOTA"]) > 0.9, cell
    assert float(cell["fps_0"]) > 0 and float(cell["fps"]) > 0, cell  # replayed: no model
    assert (tmp_path / "v.png").stat().st_size > 10_000
