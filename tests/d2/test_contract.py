"""The Detectron2 side keeps the project's contract: every weights file Detectron2 is handed
goes through our restricted loading (nothing in it runs), yacs files are read as safe YAML
with every key checked, and d2_train_net reports a user's mistake in one line (exit 2)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import hostile_weights
from tests.d2.conftest import WHY

pytest.importorskip("detectron2", reason=WHY)

from balloon_shapes.d2.yacs_config import load_cfg  # noqa: E402
from balloon_shapes.errors import ConfigError, WeightsError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPES = str(ROOT / "configs" / "detectron2" / "shapes_R50_FPN.yaml")


@pytest.mark.parametrize("name", ["evil.pkl", "evil.pth"])
def test_trainer_loads_weights_through_restricted_loading(registered, tmp_path, name):
    from balloon_shapes.d2.trainer import Trainer
    from tests.d2.conftest import tiny_cfg

    evil, marker = tmp_path / name, tmp_path / "pwned"
    hostile_weights(evil, marker)
    cfg = tiny_cfg("shapes_train", str(tmp_path / "out"))
    cfg.MODEL.WEIGHTS = str(evil)
    trainer = Trainer(cfg)
    with pytest.raises(WeightsError, match="refuses|not a safe") as err:
        trainer.resume_or_load(resume=False)
    assert str(evil) in str(err.value) and not marker.exists()
    if name.endswith(".pkl"):  # the payload is real: Detectron2's own loader runs it
        pickle.loads(evil.read_bytes())
        assert marker.exists()


def test_yacs_files_are_safe_yaml_with_known_keys(tmp_path):
    marker = tmp_path / "pwned"
    cases = {
        "unsafe.yaml": (f"VERSION: !!python/object/apply:os.system ['touch {marker}']\n", "safe"),
        "typo.yaml": ("SOLVER_TYPO: 3\nSOLVER:\n  BASE_LRR: 1\n", "SOLVER_TYPO, SOLVER.BASE_LRR"),
        "broken.yaml": ("MODEL: [unclosed\n", "not a safe, valid YAML"),
        "list.yaml": ("- 1\n- 2\n", "holds list"),
        "type.yaml": ("SOLVER:\n  MAX_ITER: [1, 2]\n", "type"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            load_cfg(str(tmp_path / name))
        assert name in str(err.value)
    assert not marker.exists()
    with pytest.raises(ConfigError, match="SOLVER.MAX_ITERS: no such Detectron2 config key"):
        load_cfg(SHAPES, ["SOLVER.MAX_ITERS", "3"])
    with pytest.raises(ConfigError, match="odd list"):
        load_cfg(SHAPES, ["SOLVER.MAX_ITER"])
    with pytest.raises(ConfigError, match="no such yacs file"):
        load_cfg(str(tmp_path / "missing.yaml"))
    assert load_cfg(SHAPES, ["SOLVER.MAX_ITER", "3"]).SOLVER.MAX_ITER == 3


def train_net(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "d2_train_net.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_train_net_refuses_a_hostile_pkl_on_the_cpu_in_one_line(tmp_path):
    evil, marker = tmp_path / "evil.pkl", tmp_path / "pwned"
    hostile_weights(evil, marker)
    out = ["OUTPUT_DIR", str(tmp_path / "out")]
    proc = train_net("--config-file", SHAPES, "--eval-only", "MODEL.WEIGHTS", str(evil), *out)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(evil) in errors[0] and "refuses" in errors[0]
    assert "Traceback" not in proc.stderr and not marker.exists()
    assert "no GPU here, training on the CPU" in proc.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (["SOLVER.TYPO", "3"], "SOLVER.TYPO: no such Detectron2 config key"),
        (["BALLOON_SHAPES.DATA_ROOT", "/no/such/balloon"], "/no/such/balloon"),
    ],
)
def test_train_net_user_errors_are_one_line(tmp_path, extra, message):
    balloon = str(ROOT / "configs" / "detectron2" / "balloon_R101_FPN.yaml")
    proc = train_net("--config-file", balloon, *extra, "OUTPUT_DIR", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


@pytest.mark.parametrize("name", ["evil.pkl", "evil.pth"])
def test_detectron2_engine_loads_weights_through_restricted_loading(tmp_path, name):
    from balloon_shapes.config import load_config
    from balloon_shapes.model_loader import build_inference_model

    evil, marker = tmp_path / name, tmp_path / "pwned"
    hostile_weights(evil, marker)
    engine = ["model.engine=detectron2", f"model.d2_config={SHAPES}", f"model.weights={evil}"]
    with pytest.raises(WeightsError, match="refuses|not a safe") as err:
        build_inference_model(load_config(["+experiment=smoke", *engine]).model)
    assert str(evil) in str(err.value) and not marker.exists()
