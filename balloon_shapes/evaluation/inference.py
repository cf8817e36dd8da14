"""Batched inference over dataset records -> compact per-image predictions (RLE masks)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from balloon_shapes.data.mapper import load_pixels, to_gray3, to_tensor
from balloon_shapes.deploy.exported import ExportedDetector
from balloon_shapes.modeling.precision import autocast, autocast_dtype
from balloon_shapes.structures import encode_rles, to_instances


class ImageDataset(Dataset):
    """Item ``i``: (image [3,H,W] RGB 0..1, image_id); ``grayscale`` gives 3-channel gray."""

    def __init__(self, records, grayscale: bool = False) -> None:
        self.records, self.grayscale = records, grayscale

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        pixels = load_pixels(self.records[i])
        if self.grayscale:
            pixels = to_gray3(pixels)
        return to_tensor(pixels), self.records[i]["image_id"]


def auto_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def inference_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in eval mode on ``device``; NHWC on a CPU, where oneDNN convolutions run
    faster that way (``benchmarks/video_fps.py``)."""
    model = model.eval().to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model


def images_per_pass(device: torch.device, batch_size: int) -> int:
    """``batch_size`` on a GPU; 1 on a CPU, where a batch takes longer per image than one
    image at a time (the README's inference tables)."""
    return batch_size if device.type == "cuda" else 1


def loader_workers(model: torch.nn.Module, num_workers: int) -> int:
    """``num_workers``, but none for an exported model: loader workers leave torch's SIGCHLD
    handler installed, and once OpenVINO has run bf16 on AMX in the process the next child to
    exit kills it with SIGSEGV (cf. CPython bpo-46968). The runtime's threads use the cores."""
    return 0 if isinstance(model, ExportedDetector) else num_workers


@dataclass(frozen=True)
class InferenceSettings:
    """How ``predict`` runs: ``cfg.inference`` and the model's ``mask_thresh`` (the defaults
    live in base.yaml, so every field is given)."""

    mask_thresh: float
    batch_size: int
    num_workers: int
    device: str  # auto | cpu | cuda
    amp: str | bool  # auto | true | false (modeling.precision)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> InferenceSettings:
        i = cfg.inference
        return cls(cfg.model.mask_thresh, i.batch_size, i.num_workers, i.device, i.amp)

    @functools.cached_property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, resolved (and a forced bf16 warned about) once per settings."""
        return autocast_dtype(self.amp, auto_device(self.device))


def compact(output: dict, image_id: int, mask_thresh: float) -> dict:
    """One model output -> ``image_id``, boxes, scores, labels and RLE masks (every score)."""
    inst = to_instances(output, 0.0, mask_thresh)
    return {
        "image_id": image_id,
        "boxes": inst.boxes,
        "scores": inst.scores,
        "labels": inst.labels,
        "masks": encode_rles(inst.masks),
    }


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    records,
    settings: InferenceSettings,
    grayscale: bool = False,
    desc: str = "inference",
) -> list[dict]:
    """Run ``model`` on every record: per image ``image_id``, ``boxes`` XYXY float [N,4],
    ``scores`` [N], ``labels`` [N] (1-based contiguous), ``masks`` (RLEs)."""
    dev, dtype = auto_device(settings.device), settings.dtype
    model = inference_model(model, dev)
    loader = DataLoader(
        ImageDataset(records, grayscale),
        batch_size=images_per_pass(dev, settings.batch_size),
        num_workers=loader_workers(model, settings.num_workers),
        collate_fn=lambda b: tuple(zip(*b)),
    )
    out = []
    with tqdm(total=len(records), unit="img", desc=desc) as bar:
        for images, ids in loader:
            with autocast(dtype, dev):
                outputs = model([im.to(dev) for im in images])
            out += [compact(o, i, settings.mask_thresh) for o, i in zip(outputs, ids)]
            bar.update(len(images))
    return out
