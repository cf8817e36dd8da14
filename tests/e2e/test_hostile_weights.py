"""Every entry point that takes weights refuses a pickled payload in one line (exit 2) and runs
nothing from it: PyTorch zip (.ckpt) and Detectron2 (.pkl) files. Each script runs in this
process as ``python scripts/<name>`` would (``run_in_process``)."""

from __future__ import annotations

import pytest

from tests.conftest import hostile_weights, run_in_process
from tests.demo.test_video import write_clip


@pytest.mark.parametrize("script", ["train", "eval", "image_demo", "video_demo", "export"])
@pytest.mark.parametrize("suffix", [".ckpt", ".pkl"])
def test_a_payload_in_weights_runs_nothing_and_is_one_line(tmp_path, script, suffix):
    evil, marker = tmp_path / f"evil{suffix}", tmp_path / "pwned"
    hostile_weights(evil, marker)
    inputs = {"in.png"} | ({"in.mp4"} if script == "video_demo" else set())
    (tmp_path / "in.png").write_bytes(b"")  # never decoded: the weights fail first
    if script == "video_demo":
        write_clip(tmp_path / "in.mp4", n=2)
    extra = {
        "image_demo": [f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'out'}"],
        "video_demo": [f"input={tmp_path / 'in.mp4'}", f"output={tmp_path / 'out.mp4'}"],
        "export": [f"output={tmp_path / 'out.onnx'}"],
    }.get(script, [])
    overrides = ["+experiment=smoke", f"model.weights={evil}", f"output_dir={tmp_path / 'o'}"]
    code, _, err = run_in_process(f"{script}.py", *overrides, *extra)
    err = err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(evil) in err[0], err
    assert "refuse" in err[0] and "weights_only" not in err[0]
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({evil.name, *inputs})
