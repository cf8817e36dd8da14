"""VGG Image Annotator (VIA) 1.x/2.x json -> Detectron2-format dicts.

The format is detected from the content, not the file name: a VIA 2.x project file
(``_via_img_metadata``) or an export (``{key: {filename, regions, ...}}``, with ``regions``
a list in 2.x and an object keyed "0", "1", ... in 1.x). Shapes: polygon, closed polyline,
rect, circle, ellipse, all turned into one polygon each. Polygon vertices are pixel indices,
so 0.5 is added to put them on pixel centres, as Detectron2's balloon tutorial does.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from balloon_shapes.config import yaml_node
from balloon_shapes.data.mapper import ImageReadError, read_image
from balloon_shapes.errors import DataError
from balloon_shapes.files import read_json
from balloon_shapes.structures import BoxMode

ELLIPSE_POINTS = 32  # vertices approximating circles and ellipses


class ViaError(DataError):
    """Bad VIA input; the message names the file (and region) and the problem."""


DEFAULTS = yaml_node("data/balloon.yaml")  # ViaOptions defaults: the balloon dataset


@dataclass
class ViaOptions:
    """How regions become classes: one class, or ``class_key`` in region_attributes."""

    classes: list[str] = field(default_factory=lambda: list(DEFAULTS.classes))
    class_key: str | None = DEFAULTS.class_key  # None: every region is classes[0]
    json_name: str = DEFAULTS.json_name


def read_via_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise ViaError(f"{path}: missing VIA json")
    data = read_json(path, ViaError)
    if not isinstance(data, dict):
        raise ViaError(f"{path}: not a VIA file (top level is not an object)")
    return data


def via_entries(data: dict, path: str) -> list[tuple[str, object]]:
    """The (key, entry) pairs of a VIA project or export; each entry is checked on its own
    (``check_entry``), so ``--check`` lists every bad one."""
    project = "_via_img_metadata" in data
    entries = data["_via_img_metadata"] if project else data
    if not isinstance(entries, dict):
        raise ViaError(f"{path}: not a VIA file (_via_img_metadata is not an object)")
    pairs = [(str(k), e) for k, e in entries.items() if project or not str(k).startswith("_via_")]
    if pairs and not any(
        isinstance(e, dict) and {"filename", "regions"} <= e.keys() for _, e in pairs
    ):
        raise ViaError(f"{path}: not a VIA file (entries need 'filename' and 'regions')")
    return pairs


def attribute_definitions(data: dict, path: str) -> dict:
    """``_via_attributes.region`` (radio/dropdown option names by id), checked for shape."""
    attributes = data.get("_via_attributes", {})
    region = attributes.get("region", {}) if isinstance(attributes, dict) else None
    if not isinstance(region, dict):
        where = "_via_attributes" if not isinstance(attributes, dict) else "_via_attributes.region"
        raise ViaError(f"{path}: {where} is a {type(region or attributes).__name__}, not an object")
    for name, definition in region.items():
        if not isinstance(definition, dict) or not isinstance(definition.get("options", {}), dict):
            raise ViaError(f"{path}: _via_attributes.region.{name}: not an attribute definition")
    return region


def check_entry(entry: object, where: str) -> list[dict]:
    """An entry's regions after checking the types VIA writes: a ``filename`` string, regions
    as a list (2.x) or an object (1.x) of objects with object ``shape_attributes``."""
    if not isinstance(entry, dict):
        raise ViaError(f"{where}: is a {type(entry).__name__}, not an object")
    if not isinstance(entry.get("filename"), str) or not entry["filename"].strip():
        raise ViaError(
            f"{where}: 'filename' must be a non-empty string, not {entry.get('filename')!r}"
        )
    regions = entry.get("regions")
    if not isinstance(regions, (list, dict)):
        raise ViaError(
            f"{where}: 'regions' must be a list or an object, not {type(regions).__name__}"
        )
    regions = list(regions.values()) if isinstance(regions, dict) else regions
    for i, region in enumerate(regions):
        if not isinstance(region, dict):
            raise ViaError(f"{where}: region {i} is a {type(region).__name__}, not an object")
        for key in ("shape_attributes", "region_attributes"):
            if not isinstance(region.get(key) or {}, dict):
                raise ViaError(f"{where}: region {i}: {key} must be an object")
    return regions


def _numbers(values, what: str, where: str) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ViaError(f"{where}: non-numeric {what}") from None
    if not all(math.isfinite(v) for v in out):
        raise ViaError(f"{where}: non-finite {what}")
    return out


def _ellipse(cx: float, cy: float, rx: float, ry: float, theta: float) -> list[tuple[float, float]]:
    t = [2 * math.pi * k / ELLIPSE_POINTS for k in range(ELLIPSE_POINTS)]
    c, s = math.cos(theta), math.sin(theta)
    return [
        (
            cx + rx * math.cos(a) * c - ry * math.sin(a) * s,
            cy + rx * math.cos(a) * s + ry * math.sin(a) * c,
        )
        for a in t
    ]


def shape_polygon(shape: dict, where: str) -> list[tuple[float, float]]:
    """One VIA ``shape_attributes`` -> polygon vertices in pixel-index coordinates."""
    name = shape.get("name")
    if name in ("polygon", "polyline"):
        xs = _numbers(shape.get("all_points_x", []), "all_points_x", where)
        ys = _numbers(shape.get("all_points_y", []), "all_points_y", where)
        if len(xs) != len(ys):
            raise ViaError(f"{where}: {len(xs)} x but {len(ys)} y coordinates")
        pts = list(zip(xs, ys))
        if len(pts) > 1 and pts[0] == pts[-1]:
            pts = pts[:-1]  # closed outlines often repeat the first point
        if len(pts) < 3:
            raise ViaError(f"{where}: {name} with {len(pts)} points (needs at least 3)")
        return pts
    if name == "rect":
        x, y, w, h = _numbers([shape.get(k) for k in ("x", "y", "width", "height")], "rect", where)
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if name == "circle":
        cx, cy, r = _numbers([shape.get(k) for k in ("cx", "cy", "r")], "circle", where)
        return _ellipse(cx, cy, r, r, 0.0)
    if name == "ellipse":
        cx, cy, rx, ry = _numbers(
            [shape.get(k) for k in ("cx", "cy", "rx", "ry")], "ellipse", where
        )
        (theta,) = _numbers([shape.get("theta", 0.0)], "theta", where)
        return _ellipse(cx, cy, rx, ry, theta)
    raise ViaError(f"{where}: unknown shape {name!r} (polygon, polyline, rect, circle, ellipse)")


def clip_polygon(
    pts: list[tuple[float, float]], width: int, height: int, where: str
) -> list[float]:
    """Shift to pixel centres (+0.5), clip to the image; a region wholly outside is an error."""
    shifted = [(x + 0.5, y + 0.5) for x, y in pts]
    if (
        max(x for x, _ in shifted) <= 0
        or min(x for x, _ in shifted) >= width
        or max(y for _, y in shifted) <= 0
        or min(y for _, y in shifted) >= height
    ):
        raise ViaError(f"{where}: region entirely outside the {width}x{height} image")
    flat = []
    for x, y in shifted:
        flat += [min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))]
    return flat


def region_class(attrs: dict, options: ViaOptions, definitions: dict) -> str | None:
    """The class name of a region, or None when it has no (usable) class attribute."""
    if options.class_key is None:
        return options.classes[0]
    value = attrs.get(options.class_key)
    if isinstance(value, dict):  # checkbox: {"name": true, ...}
        chosen = [k for k, v in value.items() if v]
        value = chosen[0] if len(chosen) == 1 else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value in options.classes:  # the option id is the class name (its description may be "")
        return value
    names = definitions.get(options.class_key, {}).get("options", {})
    return str(names.get(value, value)).strip()  # radio ids like "1" -> their option name


def image_size(path: str) -> tuple[int, int]:
    """(width, height) as VIA displayed the image (EXIF-rotated), after a full decode: a
    truncated or corrupt image fails now, naming the file, not hours into training."""
    if not os.path.isfile(path):
        raise ViaError(f"{path}: image listed in the VIA json but missing")
    try:
        image = read_image(path)
    except ImageReadError as e:
        raise ViaError(str(e)) from None
    return image.shape[1], image.shape[0]


def resolve_image(folder: str, filename: str, where: str) -> str:
    """The image path (VIA sometimes stores %-escaped names). A name that leads out of the
    folder (``..``, absolute) is an error: a shared json must not make us read other files."""
    path = os.path.join(folder, filename)
    if not os.path.exists(path):
        unquoted = os.path.join(folder, urllib.parse.unquote(filename))
        if os.path.exists(unquoted):
            path = unquoted
    inside = os.path.abspath(folder)
    if os.path.commonpath([inside, os.path.abspath(path)]) != inside:
        raise ViaError(f"{where}: filename {filename!r} leads outside the dataset folder {folder}")
    return path


def linked_outside(path: str, folder: str) -> bool:
    """Whether ``path`` is a symbolic link (or inside a linked folder) into another place."""
    real_folder = os.path.realpath(folder)
    return os.path.commonpath([real_folder, os.path.realpath(path)]) != real_folder


@dataclass
class ViaReport:
    """What ``--check`` prints: counts and problems that did not stop loading."""

    images: int = 0
    negatives: int = 0
    instances: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # loaded anyway (skipped regions, ...)
    errors: list[str] = field(default_factory=list)  # what stops training (``strict=False``)


def entry_record(
    regions: list[dict],
    path: str,
    image_id: int,
    options: ViaOptions,
    definitions: dict,
    report: ViaReport,
) -> dict:
    """One checked VIA entry -> a Detectron2 dict (regions without a known class are reported)."""
    width, height = image_size(path)
    annotations, seen = [], set()
    for i, region in enumerate(regions):
        where = f"{path}: region {i}"
        polygon = clip_polygon(
            shape_polygon(region.get("shape_attributes") or {}, where), width, height, where
        )
        name = region_class(region.get("region_attributes") or {}, options, definitions)
        if name not in options.classes:
            report.problems.append(f"{where}: class {name!r} not in {options.classes}; skipped")
            continue
        key = tuple(polygon)
        if key in seen:
            report.problems.append(f"{where}: duplicate of an earlier region (kept)")
        seen.add(key)
        xs, ys = polygon[0::2], polygon[1::2]
        annotations.append(
            {
                "bbox": [min(xs), min(ys), max(xs), max(ys)],
                "bbox_mode": BoxMode.XYXY_ABS,
                "segmentation": [polygon],
                "category_id": options.classes.index(name),
                "iscrowd": 0,
            }
        )
        report.instances[name] += 1
    report.images += 1
    report.negatives += not annotations
    return {
        "file_name": path,
        "height": height,
        "width": width,
        "image_id": image_id,
        "annotations": annotations,
    }


def load_via(
    folder: str, options: ViaOptions | None = None, strict: bool = True
) -> tuple[list[dict], ViaReport]:
    """All images of ``folder/<options.json_name>`` as Detectron2 dicts, plus a report.

    ``strict``: the first bad entry, image or region raises ``ViaError``; else every one is
    listed in ``report.errors`` and left out (``--check`` shows them all at once). An image
    listed twice is an error (each copy would train with the other's objects as background);
    an image linked from outside the folder is a problem (loaded: the link was made on purpose).
    """
    options = options or ViaOptions()
    path = os.path.join(folder, options.json_name)
    data = read_via_json(path)
    report, records, listed = ViaReport(), [], {}
    pairs = via_entries(data, path)
    try:
        definitions = attribute_definitions(data, path)
    except ViaError as e:
        if strict:
            raise
        report.errors.append(str(e))
        definitions = {}
    for key, entry in pairs:
        where = f"{path}: entry {key!r}"
        try:
            regions = check_entry(entry, where)
            image = resolve_image(folder, entry["filename"], where)
            real = os.path.realpath(image)
            if real in listed:
                raise ViaError(
                    f"{where}: {entry['filename']} is listed twice (also as entry "
                    f"{listed[real]!r}); merge their regions into one entry"
                )
            listed[real] = key
            if linked_outside(image, folder):
                report.problems.append(f"{image}: a link to {real}, outside {folder} (loaded)")
            records.append(entry_record(regions, image, len(records), options, definitions, report))
        except ViaError as e:
            if strict:
                raise
            report.errors.append(str(e))
    return records, report


def shared_images(records: list[dict], other_folder: str) -> list[tuple[str, str]]:
    """(image, its copy) pairs of ``records`` whose bytes equal a file in ``other_folder``:
    the same photo in train and val inflates every validation figure. Sizes are compared
    first, so only same-size files are hashed."""
    if not os.path.isdir(other_folder):
        return []
    others: dict[int, list[str]] = {}
    for name in sorted(os.listdir(other_folder)):
        path = os.path.join(other_folder, name)
        if os.path.isfile(path):
            others.setdefault(os.path.getsize(path), []).append(path)
    digest_of = functools.cache(file_digest)  # each file in the other folder hashed once
    pairs = []
    for record in records:
        path = record["file_name"]
        candidates = others.get(os.path.getsize(path), [])
        digest = digest_of(path) if candidates else None
        pairs += [(path, c) for c in candidates if digest_of(c) == digest]
    return pairs


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def format_report(report: ViaReport, name: str) -> str:
    """A short human summary: images, negatives, instances per class, problems."""
    per_class = ", ".join(f"{k}: {v}" for k, v in sorted(report.instances.items())) or "none"
    lines = [
        f"{name}: {report.images} images ({report.negatives} without regions), "
        f"instances {per_class}, {len(report.errors)} errors, {len(report.problems)} problems"
    ]
    lines += [f"  error: {e}" for e in report.errors]
    lines += [f"  {p}" for p in report.problems]
    return "\n".join(lines)
