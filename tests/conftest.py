"""Shared fixtures: a tiny config composed from configs/ with the smoke experiment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from balloon_shapes.config import load_config


def _cores_for_this_process() -> int:
    """Under pytest-xdist (`make test` runs ``-n auto``) each worker and the processes it starts
    get cores of their own: two torch runtimes spinning 2 OpenMP threads each on the same 2
    cores slowed a training test 4x (26 -> 112 s). Serially, 2 threads as before."""
    if not hasattr(os, "sched_setaffinity"):
        return 2
    cores = sorted(os.sched_getaffinity(0))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or workers > len(cores):
        return min(2, len(cores))
    mine = cores[int(worker.removeprefix("gw")) :: workers]
    os.sched_setaffinity(0, mine)  # inherited by the worker's threads and child processes
    return len(mine)


torch.set_num_threads(_cores_for_this_process())


@pytest.fixture
def smoke_cfg(tmp_path):
    """Compose the smoke config (64 px shapes, 2 iterations) writing into ``tmp_path``."""

    def make(*overrides: str):
        return load_config(["+experiment=smoke", f"output_dir={tmp_path}", *overrides])

    return make


def write_balloon_dataset(root, n_train: int = 3, n_val: int = 2, size=(120, 160)) -> None:
    """Drawn 'balloons' (ellipses) on textured backgrounds: JPEGs + VIA 2.x (train) / 1.x (val)."""
    import json

    import cv2
    import numpy as np

    h, w = size
    for split, n in (("train", n_train), ("val", n_val)):
        folder = root / split
        folder.mkdir(parents=True)
        entries = {}
        for i in range(n):
            rng = np.random.default_rng([len(split), i])
            image = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
            cx, cy, rx, ry = int(rng.integers(40, w - 40)), int(rng.integers(40, h - 40)), 25, 32
            color = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.ellipse(image, (cx, cy), (rx, ry), 0, 0, 360, color, -1)
            name = f"{split}_{i}.jpg"
            cv2.imwrite(str(folder / name), image)
            t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            shape = {
                "name": "polygon",
                "all_points_x": (cx + rx * np.cos(t)).round().tolist(),
                "all_points_y": (cy + ry * np.sin(t)).round().tolist(),
            }
            region = {"shape_attributes": shape, "region_attributes": {}}
            regions = [region] if split == "train" else {"0": region}
            entries[f"{name}{i}"] = {
                "filename": name,
                "size": -1,
                "regions": regions,
                "file_attributes": {},
            }
        (folder / "via_region_data.json").write_text(json.dumps(entries))


@pytest.fixture
def balloon_root(tmp_path):
    """A tiny generated balloon dataset root (train/ and val/ with VIA json)."""
    root = tmp_path / "balloon"
    write_balloon_dataset(root)
    return root


def _run_script(name: str, *args: str, env: dict | None = None, timeout: int = 300):
    """Run ``scripts/<name>`` in a subprocess from the repository root; captures text output."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, str(root / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def script():
    """``script("train.py", "+experiment=smoke", ...)`` -> CompletedProcess."""
    return _run_script


class Payload:
    """Pickled, it runs ``touch marker`` when unpickled naively: a hostile weights file."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def hostile_weights(path, marker) -> None:
    """A weights file at ``path`` (.pkl: a plain pickle; else torch's zip) whose loading by a
    plain unpickler creates ``marker``."""
    import pickle

    if str(path).endswith(".pkl"):
        path.write_bytes(pickle.dumps({"model": {"w": Payload(marker)}, "__author__": "x"}))
    else:
        torch.save({"state_dict": {"w": Payload(marker)}}, path)


def run_in_process(name: str, *args: str) -> tuple[int, str, str]:
    """``scripts/<name> args`` run in this process as ``python scripts/<name>`` would run it
    (its ``__main__``, ``sys.argv``): (exit code, stdout, stderr). Seconds faster than a
    subprocess, for the many one-line-error cases; each script also has subprocess tests."""
    import contextlib
    import io
    import runpy
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / name
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [str(path), *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def quick_script(monkeypatch):
    """``script``'s signature and result, run in this process (``run_in_process``): for the
    one-line-error cases, where starting Python and torch would be most of the test's time."""
    import subprocess

    def run(name: str, *args: str, env: dict | None = None, timeout: int = 300):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code, out, err = run_in_process(name, *args)
        return subprocess.CompletedProcess([name, *args], code, out, err)

    return run


@pytest.fixture
def tiny_disk(tmp_path):
    """A tmpfs of ``size`` bytes (root only; skipped, saying why, where mounting is denied)."""
    mounted = []

    def make(size: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)  # fmt: skip
        if proc.returncode:
            pytest.skip(f"cannot mount a small tmpfs to fill ({proc.stderr.strip()[:80]})")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture(scope="session")
def smoke_checkpoint(tmp_path_factory):
    """A 2-iteration shapes checkpoint (``+experiment=smoke``) shared by the demo-like tools'
    tests: their pipelines, not the model's quality, are under test."""
    out = tmp_path_factory.mktemp("smoke_run")
    code, _, err = run_in_process("train.py", "+experiment=smoke", f"output_dir={out}")
    assert code == 0, err[-2000:]
    return out / "checkpoints" / "last.ckpt"
