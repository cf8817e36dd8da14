import pytest
import torch

from balloon_shapes.errors import ConfigError
from balloon_shapes.modeling.precision import (
    autocast,
    autocast_dtype,
    cpu_flags,
    training_precision,
)

CPU, GPU = torch.device("cpu"), torch.device("cuda")
AMX = frozenset({"avx512f", "amx_tile", "amx_bf16"})
EPYC = frozenset({"avx512f", "avx512_bf16", "avx512_vnni"})
OLD = frozenset({"avx2", "fma"})


@pytest.mark.parametrize(
    "amp, device, flags, dtype",
    [
        ("auto", CPU, AMX, torch.bfloat16),
        ("auto", CPU, EPYC, torch.bfloat16),
        ("auto", CPU, OLD, None),
        ("auto", GPU, OLD, torch.float16),
        (True, GPU, OLD, torch.float16),
        (True, CPU, AMX, torch.bfloat16),
        (False, CPU, AMX, None),
        (False, GPU, AMX, None),
    ],
)
def test_auto_picks_bf16_only_with_bf16_units(amp, device, flags, dtype, caplog):
    assert autocast_dtype(amp, device, flags) == dtype
    assert caplog.records == []


def test_forcing_bf16_without_units_warns_once_in_one_line(caplog):
    assert autocast_dtype(True, CPU, OLD) == torch.bfloat16
    (record,) = caplog.records
    assert record.levelname == "WARNING" and "no bf16 units" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_unknown_amp_is_a_config_error():
    with pytest.raises(ConfigError, match="amp='bf16'"):
        autocast_dtype("bf16", CPU, AMX)


def test_cpu_flags_reads_the_flags_line(tmp_path, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    f = tmp_path / "cpuinfo"
    f.write_text("processor : 0\nflags\t\t: fpu avx512_bf16 amx_bf16 amx_tile\nbugs : none\n")
    assert cpu_flags.__wrapped__(str(f)) == {"fpu", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert cpu_flags.__wrapped__(str(tmp_path / "missing")) == frozenset()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # as on a Zen 4: no AMX
    assert cpu_flags.__wrapped__(str(f)) == {"fpu", "avx512_bf16"}
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")  # oneDNN builds no bf16 kernels then
    assert cpu_flags.__wrapped__(str(f)) == {"fpu"}
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert cpu_flags.__wrapped__(str(f)) == {"fpu", "avx512_bf16", "amx_bf16", "amx_tile"}


def test_autocast_runs_a_matmul_in_the_chosen_dtype():
    a = torch.ones(4, 4)
    with autocast(torch.bfloat16, CPU):
        assert (a @ a).dtype == torch.bfloat16
    with autocast(None, CPU):
        assert (a @ a).dtype == torch.float32


def test_eval_warns_once_for_both_color_modes(smoke_cfg, monkeypatch, caplog):
    from balloon_shapes.commands.evaluate import evaluate
    from balloon_shapes.modeling import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: OLD)  # a CPU without bf16 units
    cfg = smoke_cfg("inference.amp=true", "eval.grayscale=compare", "eval.report_images=0")
    metrics = evaluate(cfg)
    warnings = [r for r in caplog.records if "no bf16 units" in r.getMessage()]
    assert len(warnings) == 1 and metrics["precision"] == "bf16"  # RGB and gray runs


@pytest.mark.parametrize(
    "precision, accelerator, flags, chosen",
    [
        ("auto", "cpu", AMX, "bf16-mixed"),
        ("auto", "cpu", EPYC, "bf16-mixed"),
        ("auto", "cpu", OLD, "32-true"),
        ("auto", "gpu", EPYC, "32-true"),
        ("32-true", "cpu", EPYC, "32-true"),
        ("bf16-mixed", "cpu", OLD, "bf16-mixed"),
    ],
)
def test_training_precision_auto_is_bf16_only_on_a_cpu_with_bf16_units(
    precision, accelerator, flags, chosen
):
    assert training_precision(precision, accelerator, flags) == chosen
