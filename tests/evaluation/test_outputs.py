"""An evaluation's files replace the previous run's as a set, or not at all: a failed or
killed run, or a full disk, leaves the folder as it was; a full disk is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from balloon_shapes.cli import run_main
from balloon_shapes.commands import evaluate as evaluate_lib

SMOKE = ["+experiment=smoke", "data.val_size=3", "eval.worst_images=2", "eval.report_images=2"]


def run(out: Path, *extra: str) -> int:
    return run_main(evaluate_lib.evaluate, [*SMOKE, f"output_dir={out}", *extra], "eval")


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_a_run_replaces_the_previous_runs_files_as_a_set(tmp_path):
    out = tmp_path / "eval"
    assert run(out, "eval.grayscale=compare") == 0
    assert {"robustness.png", "pr_curves_gray.png", "metrics.json"} <= set(contents(out))
    (out / "my_notes.txt").write_text("the user's")
    assert run(out, "eval.worst_images=0") == 0
    left = set(contents(out))
    assert not {"robustness.png", "pr_curves_gray.png", "worst_images.png"} & left
    assert {"metrics.json", "report.html", "pr_curves.png", "my_notes.txt"} <= left
    assert not [n for n in left if n.startswith(".tmp-")]


@pytest.mark.slow
def test_a_failing_run_leaves_the_previous_one_untouched(tmp_path, monkeypatch):
    out = tmp_path / "eval"
    assert run(out) == 0
    before = contents(out)

    written, write = [], evaluate_lib.write_bytes

    def fails(path, data):
        if len(written) == 3:
            raise RuntimeError("planted failure after the results json and figures were written")
        written.append(path)
        write(path, data)

    monkeypatch.setattr(evaluate_lib, "write_bytes", fails)
    assert run(out, "eval.grayscale=compare") == 1
    assert contents(out) == before


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_previous_run(tmp_path, tiny_disk, capsys):
    assert run(tmp_path / "first") == 0
    first = contents(tmp_path / "first")
    disk = tiny_disk(sum(map(len, first.values())) + 64 * 1024)  # the old run fits, a new not
    for name, data in first.items():
        (disk / name).write_bytes(data)
    capsys.readouterr()
    assert run(disk) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "no space left on device" in err[0], err
    assert f"{disk}/pr_curves.png" in err[0] and ".tmp-" not in err[0]
    assert contents(disk) == first
