"""Image(s) -> instances, for demos: any image layout in, numpy instances out.

Accepts paths, RGB or BGR uint8 arrays, gray [H,W] or [H,W,1], RGBA, and 16-bit images;
the model comes from ``model_loader.load_model``.
"""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from balloon_shapes.data.mapper import read_image, to_gray3, to_tensor
from balloon_shapes.evaluation.inference import auto_device, inference_model
from balloon_shapes.modeling.precision import autocast, autocast_dtype
from balloon_shapes.structures import Instances, to_instances


def as_rgb(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Any image array -> uint8 RGB [H,W,3]: gray replicated, alpha dropped, 16-bit scaled."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    image = image[:, :, :3]
    return np.ascontiguousarray(image[:, :, ::-1] if bgr else image)


def prepare_image(image, grayscale: bool) -> np.ndarray:
    """A path or an array of any layout -> the RGB uint8 image a model sees (3-channel gray
    when ``grayscale``)."""
    rgb = read_image(image) if isinstance(image, str) else as_rgb(image)
    return to_gray3(rgb) if grayscale else rgb


class Predictor:
    """Runs a Mask R-CNN on images; ``grayscale`` converts inputs to 3-channel gray first.

    Takes ``model`` over: eval mode on the device (NHWC on a CPU), and a box score threshold
    raised to ``score_thresh``; pass a copy to keep using the model elsewhere.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        class_names: list[str],
        *,
        score_thresh: float,
        mask_thresh: float,
        device: str,
        amp: str | bool,
        grayscale: bool = False,  # a color model sees color; demo.yaml's grayscale is false too
    ) -> None:
        self.device = auto_device(device)
        self.model = inference_model(model, self.device)
        # an exported model has no heads: its runtime drops them before pasting masks
        heads = getattr(self.model, "roi_heads", self.model)
        if getattr(heads, "score_thresh", score_thresh) < score_thresh:
            # detections below the demo's threshold would be dropped anyway: not running the
            # mask head on them nor pasting their masks at full size gives the same instances
            # (NMS only lets a higher score suppress a box), faster. torchvision keeps scores
            # > thresh, compared in float32, so the model gets the float32 just below ours.
            heads.score_thresh = float(np.nextafter(np.float32(score_thresh), np.float32(0)))
        self.class_names, self.score_thresh = class_names, score_thresh
        self.mask_thresh = mask_thresh
        self.dtype = autocast_dtype(amp, self.device)  # None: fp32
        self.grayscale = grayscale

    @classmethod
    def from_config(cls, cfg: DictConfig, model: torch.nn.Module, names: list[str]) -> Predictor:
        """The demos' predictor: thresholds, device, precision and grayscale from ``cfg``."""
        return cls(
            model,
            names,
            score_thresh=cfg.score_thresh,
            mask_thresh=cfg.model.mask_thresh,
            device=cfg.inference.device,
            amp=cfg.inference.amp,
            grayscale=cfg.grayscale,
        )

    def prepare(self, image) -> np.ndarray:
        """The RGB uint8 image the model sees (gray when ``grayscale``)."""
        return prepare_image(image, self.grayscale)

    def batch(self, images: list) -> list[Instances]:
        """Instances for each image (paths or arrays of any layout), scored >= ``score_thresh``."""
        return self.infer([self.prepare(im) for im in images])

    @torch.no_grad()
    def infer(self, images: list[np.ndarray]) -> list[Instances]:
        """Instances for images already ``prepare``d (demos draw on those same pixels)."""
        if not images:  # a batch whose every file was unreadable
            return []
        tensors = [to_tensor(im).to(self.device) for im in images]
        with autocast(self.dtype, self.device):
            outputs = self.model(tensors)
        return [to_instances(o, self.score_thresh, self.mask_thresh) for o in outputs]

    def __call__(self, image) -> Instances:
        return self.batch([image])[0]
