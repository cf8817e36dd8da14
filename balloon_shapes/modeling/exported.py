"""An exported model behind torchvision's interface, so ``eval.py``, the demos and the
predictor take ``model.weights=model.onnx`` exactly as they take a checkpoint."""

from __future__ import annotations

import torch

from balloon_shapes.runtime import ExportedModel

EXPORTED_SUFFIXES = (".onnx", ".xml")  # ONNX Runtime, OpenVINO


def is_exported(weights) -> bool:
    return isinstance(weights, str) and weights.endswith(EXPORTED_SUFFIXES)


class ExportedDetector(torch.nn.Module):
    """``model(images)`` -> one torchvision output dict per image, computed by the runtime
    (ONNX Runtime for .onnx, OpenVINO for .xml)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.runtime = ExportedModel(path)

    @property
    def class_names(self) -> list[str] | None:
        return self.runtime.class_names

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        outs = []
        for image in images:
            out = self.runtime(image.detach().float().cpu().contiguous().numpy())
            outs.append({k: torch.from_numpy(v).to(image.device) for k, v in out.items()})
        return outs
