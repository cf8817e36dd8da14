"""``model.engine=detectron2``: a real Detectron2 runs the model (its ``DefaultPredictor``:
resize, channel order, weights), behind torchvision's interface, so our predictor, ``eval.py``
and the demos take it unchanged. Also our yacs config keys, shared with ``scripts/d2_train_net.py``.

Detectron2 is optional: it is imported only when this engine is asked for.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from balloon_shapes.errors import ConfigError


def add_balloon_config(cfg) -> None:
    """Our keys, as Detectron2 projects add theirs (``add_pointrend_config``)."""
    from detectron2.config import CfgNode

    cfg.BALLOON_SHAPES = CfgNode()
    cfg.BALLOON_SHAPES.ZOO_CONFIG = ""  # model-zoo config merged first, e.g. the COCO R101-FPN
    cfg.BALLOON_SHAPES.HEADS_ONLY_ITERS = 0  # train only the heads (backbone frozen) until then
    cfg.BALLOON_SHAPES.DATA_ROOT = ""  # balloon/VIA root; "": data.root of data/balloon.yaml
    cfg.BALLOON_SHAPES.VIA_CLASSES = ()  # (): data.classes of configs/data/balloon.yaml
    cfg.BALLOON_SHAPES.VIA_CLASS_KEY = ""  # "": every region is the first class
    cfg.BALLOON_SHAPES.COCO_JSON = ""  # coco_json: the annotations file ...
    cfg.BALLOON_SHAPES.COCO_IMAGE_ROOT = ""  # ... and the folder its file_names are under
    cfg.BALLOON_SHAPES.SHAPES_HW = ()  # (height, width); (): configs/data/shapes.yaml's
    cfg.BALLOON_SHAPES.SHAPES_VAL_IMAGES = 0  # 0: data.val_size of configs/data/shapes.yaml


def load_cfg(config: str, opts: list | None = None):
    """A yacs file of ours (on top of the model-zoo file it names) or a model-zoo name such as
    ``COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml``, then ``opts`` (KEY VALUE ...)."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    cfg = get_cfg()
    add_balloon_config(cfg)
    if not os.path.isfile(config):
        try:
            config = model_zoo.get_config_file(config)
        except RuntimeError:
            raise ConfigError(f"{config}: no such yacs file or Detectron2 zoo config") from None
    probe = cfg.clone()
    probe.merge_from_file(config)
    if probe.BALLOON_SHAPES.ZOO_CONFIG:
        cfg.merge_from_file(model_zoo.get_config_file(probe.BALLOON_SHAPES.ZOO_CONFIG))
    cfg.merge_from_file(config)  # ours wins over the zoo's
    cfg.merge_from_list(list(opts or []))
    return cfg


class Detectron2Model(nn.Module):
    """Detectron2's ``DefaultPredictor`` with torchvision's interface: RGB 0..1 images [3,H,W]
    in; ``boxes``, 1-based ``labels``, ``scores`` and masks [N,1,H,W] (0/1) out."""

    def __init__(self, d2_cfg) -> None:
        super().__init__()
        from detectron2.engine import DefaultPredictor

        self.predictor = DefaultPredictor(d2_cfg)
        self.model = self.predictor.model  # a submodule: .to() and .eval() reach it

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
