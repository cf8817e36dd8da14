"""Every entry point that takes weights refuses a pickled payload in one line (exit 2) and runs
nothing from it: PyTorch zip (.ckpt), plain pickle (.pth) and Detectron2 (.pkl) files. Run
in-process through the scripts' own ``run_main`` (the subprocess path is tested elsewhere)."""

from __future__ import annotations

import pytest

from balloon_shapes.cli import run_main
from tests.conftest import hostile_weights
from tests.demo.test_video import write_clip


def entry(name: str):
    """(the script's function, its config name) as ``scripts/<name>.py`` calls ``run_main``."""
    if name == "train":
        from balloon_shapes.engine.train import train

        return train, "config"
    if name == "eval":
        from balloon_shapes.evaluation.evaluate import evaluate

        return evaluate, "eval"
    if name == "image_demo":
        from balloon_shapes.demo.image_demo import run_images

        return run_images, "demo"
    if name == "video_demo":
        from balloon_shapes.demo.video import run_video_demo

        return run_video_demo, "video_demo"
    from balloon_shapes.deploy.export import run_export

    return run_export, "export"


@pytest.mark.parametrize("script", ["train", "eval", "image_demo", "video_demo", "export"])
@pytest.mark.parametrize("suffix", [".ckpt", ".pkl"])
def test_a_payload_in_weights_runs_nothing_and_is_one_line(tmp_path, capsys, script, suffix):
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
    fn, config = entry(script)
    code = run_main(fn, [*overrides, *extra], config)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(evil) in err[0], err
    assert "refuse" in err[0] and "weights_only" not in err[0]
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({evil.name, *inputs})
