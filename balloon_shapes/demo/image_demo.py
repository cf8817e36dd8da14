"""Image demo: a file, folder or glob in; overlays or color splashes out, same file names."""

from __future__ import annotations

import glob
import os
from collections import Counter

from omegaconf import DictConfig

from balloon_shapes.data.mapper import IMAGE_EXTS
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.errors import ConfigError, DataError, OutputError
from balloon_shapes.evaluation.inference import images_per_pass
from balloon_shapes.files import check_writable, ensure_dir, write_image
from balloon_shapes.model_loader import load_model
from balloon_shapes.structures import Instances, label_names
from balloon_shapes.visualizer import color_splash, overlay

PICTURES = ("overlay", "splash")


def list_inputs(spec: str) -> list[str]:
    """Image paths named by a file, a folder (its images, sorted) or a glob; none is an error."""
    if os.path.isdir(spec):
        paths = sorted(
            os.path.join(spec, f) for f in os.listdir(spec) if f.lower().endswith(IMAGE_EXTS)
        )
        if not paths:
            raise DataError(f"{spec}: folder has no images ({', '.join(IMAGE_EXTS)})")
        return paths
    if os.path.isfile(spec):
        return [spec]
    matches = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if not matches:
        raise DataError(f"{spec}: no such image, folder or glob match")
    return matches


def output_paths(paths: list[str], output: str) -> list[str]:
    """Where each input's picture goes: ``output/<name>``. Refused before anything is written
    when that would replace an input (``output`` is the input folder, through any link) or two
    inputs share a name. Nothing is created yet: a model that fails to load leaves no folder."""
    check_writable(output)
    dsts = [os.path.join(output, os.path.basename(p)) for p in paths]
    for src, dst in zip(paths, dsts):
        if os.path.exists(dst) and os.path.samefile(src, dst):
            raise OutputError(f"{dst}: output would overwrite the input; choose another output")
    seen = {}
    for src, dst in zip(paths, dsts):
        if dst in seen:
            raise OutputError(f"{dst}: both {seen[dst]} and {src} would be written here")
        seen[dst] = src
    return dsts


def draw_picture(image, inst: Instances, names: list[str], mode: str):
    """The picture for one image: ``overlay`` (masks, boxes, labels) or ``splash``."""
    check_mode(mode)
    if mode == "splash":
        return color_splash(image, inst.masks)
    return overlay(image, inst, names)


def check_mode(mode: str) -> None:
    """Fail on an unknown ``mode`` before any model is built."""
    if mode not in PICTURES:
        raise ConfigError(f"mode={mode!r}: expected overlay or splash")


def summary(name: str, inst: Instances, names: list[str]) -> str:
    counts = Counter(label_names(inst.labels, names))
    return f"{name}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing")


def run_images(cfg: DictConfig) -> dict:
    """Predict and draw every input image into ``cfg.output``; returns counts per image."""
    check_mode(cfg.mode)
    paths = list_inputs(str(cfg.input))
    dsts = dict(zip(paths, output_paths(paths, str(cfg.output))))  # fails before the model
    model, names = load_model(cfg)
    predictor = Predictor.from_config(cfg, model, names)
    ensure_dir(str(cfg.output))
    counts, per_pass = {}, images_per_pass(predictor.device, cfg.inference.batch_size)
    for start in range(0, len(paths), per_pass):
        chunk = paths[start : start + per_pass]
        images = [predictor.prepare(p) for p in chunk]
        for path, image, inst in zip(chunk, images, predictor.infer(images)):
            name = os.path.basename(path)
            write_image(dsts[path], draw_picture(image, inst, names, cfg.mode))
            print(summary(name, inst, names))
            counts[name] = len(inst)
    return {"images": len(paths), "instances": sum(counts.values())}
