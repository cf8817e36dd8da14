"""``model.engine=detectron2``: a real Detectron2 runs the model (its ``DefaultPredictor``:
resize, channel order, weights), behind torchvision's interface, so our predictor, ``eval.py``
and the demos take it unchanged.

Detectron2 is optional: it is imported only when this engine is asked for.
"""

from __future__ import annotations

import torch
from torch import nn

from balloon_shapes.d2.yacs_config import load_cfg
from balloon_shapes.errors import ConfigError


class Detectron2Model(nn.Module):
    """Detectron2's ``DefaultPredictor`` with torchvision's interface: RGB 0..1 images [3,H,W]
    in; ``boxes``, 1-based ``labels``, ``scores`` and masks [N,1,H,W] (0/1) out."""

    def __init__(self, d2_cfg) -> None:
        super().__init__()
        from detectron2.engine import DefaultPredictor

        from balloon_shapes.d2.checkpointer import SafeCheckpointer

        weights, d2_cfg = d2_cfg.MODEL.WEIGHTS, d2_cfg.clone()
        d2_cfg.MODEL.WEIGHTS = ""  # its own loader unpickles: ours reads the file instead
        self.predictor = DefaultPredictor(d2_cfg)
        self.model = self.predictor.model  # a submodule: .to() and .eval() reach it
        SafeCheckpointer(self.model).load(weights)

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [self.one(image) for image in images]

    def one(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb = (image.permute(1, 2, 0) * 255).round().byte().cpu().numpy()
        original = rgb[:, :, ::-1] if self.predictor.input_format == "BGR" else rgb
        return as_torchvision(self.predictor(original)["instances"])


def as_torchvision(instances) -> dict[str, torch.Tensor]:
    """Detectron2 ``Instances`` (0-based ``pred_classes``, bool ``pred_masks``) as a torchvision
    output: ``boxes``, 1-based ``labels``, ``scores``, masks [N,1,H,W] (0/1)."""
    inst = instances.to("cpu")
    return {
        "boxes": inst.pred_boxes.tensor,
        "labels": inst.pred_classes + 1,
        "scores": inst.scores,
        "masks": inst.pred_masks[:, None].float(),
    }


def detectron2_weights(weights: str) -> str:
    """A file Detectron2 can load: our named zoo weights are fetched (verified, cached) first;
    paths and Detectron2's own URLs pass through."""
    from balloon_shapes.modeling.weights import ZOO, resolve

    return resolve(weights)[0] if weights in ZOO else weights


def build_detectron2_model(cfg) -> Detectron2Model:
    """The model described by ``model.d2_config`` with ``model.weights``, on the CPU unless a
    GPU is there (Detectron2's own default device is CUDA)."""
    if not cfg.get("d2_config"):
        raise ConfigError("model.engine=detectron2 needs model.d2_config=<yacs file or zoo name>")
    try:
        import detectron2  # noqa: F401
    except ImportError:
        raise ConfigError(
            "model.engine=detectron2: detectron2 is not installed (build it from source)"
        ) from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    opts = ["MODEL.DEVICE", device, "MODEL.ROI_HEADS.NUM_CLASSES", cfg.num_classes]
    if cfg.weights:
        opts += ["MODEL.WEIGHTS", detectron2_weights(str(cfg.weights))]
    return Detectron2Model(load_cfg(str(cfg.d2_config), opts))
