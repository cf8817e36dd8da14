"""Atomic writes: a killed writer's temp file is removed by the next write into its folder;
a live writer's, or another host's, is left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from balloon_shapes.files import atomic_write, remove_stale_temps

ROOT = Path(__file__).resolve().parents[1]
HANGS = """
import sys, time
from balloon_shapes.files import atomic_write
def write(tmp):
    open(tmp, "wb").write(b"x" * 1_000_000)
    print("written", flush=True)
    time.sleep(600)
atomic_write(sys.argv[1], write)
"""


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "model.onnx"
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGS, str(target)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".tmp-") and not target.exists()
    host = socket.gethostname()
    live = tmp_path / f".tmp-{host}-{os.getpid()}-live.onnx"  # this process: still writing
    other = tmp_path / ".tmp-another-host-1-x.onnx"  # a writer elsewhere on a shared disk
    live.write_text("")
    other.write_text("")
    atomic_write(str(target), lambda tmp: Path(tmp).write_text("done"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, "model.onnx"]
    )
    assert target.read_text() == "done"


def test_stale_temp_folders_go_too(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    time.sleep(0.1)
    folder = tmp_path / f".tmp-{socket.gethostname()}-{dead}-ir"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "model.bin").write_bytes(b"0" * 1000)
    assert remove_stale_temps(str(tmp_path)) == [folder.name] and not folder.exists()
