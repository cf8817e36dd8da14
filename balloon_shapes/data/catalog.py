"""Dataset catalog: a name -> loader returning Detectron2-format dicts, plus metadata.

Built-in names live in one plain dict (``BUILTIN``); user datasets are added with
``register``. Nothing is registered as a hidden side effect of importing other modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from omegaconf import DictConfig, OmegaConf

from balloon_shapes.config import yaml_node
from balloon_shapes.data import balloon, coco, shapes
from balloon_shapes.errors import ConfigError, DataError

Loader = Callable[..., Sequence[dict]]


@dataclass(frozen=True)
class Entry:
    """A registered dataset: its loader (called with config-supplied keyword args) and metadata."""

    loader: Loader
    metadata: dict[str, Any] = field(default_factory=dict)


SHAPES_META = {"thing_classes": list(shapes.CLASSES), "evaluator_type": "coco"}
SHAPES_TRAIN_SEED_OFFSET = 1_000_003  # train stream never overlaps the val images


def _spec(
    spec: shapes.ShapesSpec | Mapping | None, changes: Mapping | None = None
) -> shapes.ShapesSpec:
    """``spec`` (a ShapesSpec or its fields) with ``changes`` applied; an unknown field is a
    ConfigError naming it and the known ones."""
    given = dataclasses.asdict(spec) if isinstance(spec, shapes.ShapesSpec) else dict(spec or {})
    fields = {**given, **dict(changes or {})}
    known = {f.name for f in dataclasses.fields(shapes.ShapesSpec)}
    if unknown := sorted(set(fields) - known):
        raise ConfigError(
            f"data.shapes has no field {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    out = shapes.ShapesSpec(**fields)
    if not 0 <= out.min_shapes <= out.max_shapes:
        raise ConfigError(
            f"shapes per image {out.min_shapes}-{out.max_shapes} (min_shapes-max_shapes of "
            "data.shapes with data.train_shapes): expected 0 <= min_shapes <= max_shapes"
        )
    if not 0 <= out.edge_cut <= 1:
        raise ConfigError(f"data.shapes edge_cut={out.edge_cut}: expected a chance in [0, 1]")
    return out


def _shapes_train(
    seed: int = 0,
    size: int = 2**31 - 1,
    spec: shapes.ShapesSpec | Mapping | None = None,
    changes: Mapping | None = None,
) -> Sequence[dict]:
    """The endless training stream (2**31 images), disjoint from the val images: drawn as
    ``spec`` with the train-only ``changes`` on top (None: ``data.train_shapes``), so what
    training draws never moves the val set."""
    changes = yaml_node("data/shapes.yaml").train_shapes if changes is None else changes
    return shapes.ShapesDicts(seed + SHAPES_TRAIN_SEED_OFFSET, size, _spec(spec, changes))


def _shapes_val(
    seed: int = 0, size: int | None = None, spec: shapes.ShapesSpec | Mapping | None = None
) -> Sequence[dict]:
    """The fixed val set: images 0..size-1 of stream ``seed`` (``data.val_size`` by default)."""
    size = yaml_node("data/shapes.yaml").val_size if size is None else size
    return shapes.ShapesDicts(seed, size, _spec(spec))


BALLOON_META = {"thing_classes": ["balloon"], "evaluator_type": "coco"}
VIA_META = {"evaluator_type": "coco"}  # thing_classes come from data.classes

BUILTIN: dict[str, Entry] = {
    "shapes_train": Entry(_shapes_train, SHAPES_META),
    "shapes_val": Entry(_shapes_val, SHAPES_META),
    "balloon_train": Entry(partial(balloon.load_via_folder, split="train"), BALLOON_META),
    "balloon_val": Entry(partial(balloon.load_via_folder, split="val"), BALLOON_META),
    "via_train": Entry(partial(balloon.load_via_folder, split="train"), VIA_META),
    "via_val": Entry(partial(balloon.load_via_folder, split="val"), VIA_META),
    # coco_json: classes and the id map come from the json (class_names, coco.coco_metadata)
    "coco_2017_val": Entry(
        coco.load_coco, {"thing_classes": coco.COCO_CLASSES, "evaluator_type": "coco"}
    ),
    "coco_json": Entry(coco.load_coco, {"evaluator_type": "coco"}),
}

_REGISTRY: dict[str, Entry] = dict(BUILTIN)


class UnknownDatasetError(ConfigError, KeyError):
    """Raised for a dataset name nobody registered; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0])


DOWNLOADS = {"balloon": balloon.ARCHIVES, "coco-val": coco.ARCHIVES}  # scripts/download.py


def register(name: str, loader: Loader, metadata: dict[str, Any] | None = None) -> None:
    """Register ``loader`` under ``name``; re-registering a name is an error (as in Detectron2)."""
    if name in _REGISTRY:
        raise ValueError(f"dataset {name!r} is already registered")
    _REGISTRY[name] = Entry(loader, dict(metadata or {}))


def remove(name: str) -> None:
    """Forget a registered dataset (tests and notebooks re-register freely)."""
    _REGISTRY.pop(name, None)


def _entry(name: str) -> Entry:
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownDatasetError(f"dataset {name!r} is not registered; known datasets: {known}")
    return _REGISTRY[name]


def get(name: str, **kwargs: Any) -> Sequence[dict]:
    """The records of dataset ``name``; ``kwargs`` go to its loader (root, seed, size, ...)."""
    return _entry(name).loader(**kwargs)


def metadata(name: str) -> dict[str, Any]:
    """Metadata of dataset ``name`` (``thing_classes`` and friends)."""
    return dict(_entry(name).metadata)


def class_names(data_cfg: DictConfig) -> list[str]:
    """The classes of a ``data`` config, the one place every layer asks: ``data.classes`` where
    it names them (VIA), the val dataset's ``thing_classes``, else its json's categories."""
    if data_cfg.get("classes"):
        return [str(c) for c in data_cfg.classes]
    meta = metadata(data_cfg.val)
    if "thing_classes" in meta:
        return list(meta["thing_classes"])
    if data_cfg.get("json_file"):
        return coco.coco_metadata(data_cfg.json_file)["thing_classes"]
    raise ConfigError(f"dataset {data_cfg.val!r}: names no classes; set data.classes=[...]")


def names() -> list[str]:
    """All registered dataset names, sorted."""
    return sorted(_REGISTRY)


def bind(name: str, **kwargs: Any) -> Callable[[], Sequence[dict]]:
    """A zero-argument loader for ``name``: the shape Detectron2's DatasetCatalog wants."""
    return partial(get, name, **kwargs)


def load_records(data_cfg: DictConfig, split: str, required: bool = False) -> Sequence[dict]:
    """Records of ``data.<split>`` (train/val) with ``data.<split>_args``; val cut to
    ``val_size``/``limit``. ``required``: no images at all is the user's error (training)."""
    args = OmegaConf.to_container(data_cfg[f"{split}_args"], resolve=True) or {}
    records = get(data_cfg[split], **args)
    if split == "val":
        for key in ("val_size", "limit"):
            cap = data_cfg.get(key)
            if cap is not None and cap < 1:
                raise ConfigError(f"data.{key}={cap}: must be at least 1, or null for all")
            if cap is not None and len(records) > cap:
                records = records[:cap]
    if required and len(records) == 0:
        raise DataError(f"dataset {data_cfg[split]!r}: has no images; check data.root and the json")
    return records
