"""An exported model behind torchvision's interface, so ``eval.py``, the demos and the
predictor take ``model.weights=model.onnx`` exactly as they take a checkpoint."""

from __future__ import annotations

import torch

from balloon_shapes.deploy.runtime import ExportedModel
from balloon_shapes.modeling.precision import BF16_UNITS, cpu_flags

EXPORTED_SUFFIXES = (".onnx", ".xml")  # ONNX Runtime, OpenVINO


def is_exported(weights) -> bool:
    return isinstance(weights, str) and weights.endswith(EXPORTED_SUFFIXES)


class ExportedDetector(torch.nn.Module):
    """``model(images)`` -> one torchvision output dict per image, computed by the runtime
    (ONNX Runtime for .onnx, OpenVINO for .xml). Under a CPU bf16 autocast (``amp=auto`` on a
    CPU with AMX or AVX512-BF16), OpenVINO runs in bf16 too, as the eager model would."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.runtime = ExportedModel(path)
        self.bf16: ExportedModel | None = None  # compiled on first use
        self.score_thresh = 0.0  # detections scored at or below it are dropped before pasting

    def runtime_now(self) -> ExportedModel:
        """The fp32 runtime, or the bf16 one inside a CPU bf16 autocast (OpenVINO only:
        ONNX Runtime's CPU kernels are fp32)."""
        asked = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        if self.runs_in(asked) is None:
            return self.runtime
        if self.bf16 is None:
            self.bf16 = ExportedModel(self.path, precision="bf16")
        return self.bf16

    def runs_in(self, dtype: torch.dtype | None) -> torch.dtype | None:
        """What an autocast to ``dtype`` really runs: bf16 on OpenVINO on a CPU with bf16 units,
        else fp32 (None)."""
        bf16 = dtype == torch.bfloat16 and self.runtime.backend == "openvino"
        bf16 = bf16 and bool(BF16_UNITS & cpu_flags())
        return torch.bfloat16 if bf16 else None

    @property
    def class_names(self) -> list[str] | None:
        return self.runtime.class_names

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        outs, runtime = [], self.runtime_now()
        for image in images:
            out = runtime(image.detach().float().cpu().contiguous().numpy(), self.score_thresh)
            outs.append({k: torch.from_numpy(v).to(image.device) for k, v in out.items()})
        return outs
