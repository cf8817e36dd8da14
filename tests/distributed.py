"""Run a function in two real processes joined by torch.distributed (gloo, CPU): code that
gathers across processes is tested with two processes, not one."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, fn: Callable, port: int, out: str, args: tuple) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        result = fn(rank, *args)
        Path(out, f"{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()
    # done and written: leave without the interpreter's teardown, where a C++ thread of the
    # process group's stack was once destroyed joinable ("terminate called without an active
    # exception", SIGABRT, once in four suite runs); a failure above still raises as before
    os._exit(0)


def on_two_processes(fn: Callable, out: Path, *args) -> list:
    """``fn(rank, *args)`` on ranks 0 and 1 (``fn`` importable, results json-able)."""
    mp.start_processes(_worker, (fn, free_port(), str(out), args), nprocs=2, start_method="spawn")
    return [json.loads(Path(out, f"{r}.json").read_text()) for r in range(2)]
