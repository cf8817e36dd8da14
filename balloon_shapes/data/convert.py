"""Annotations between VIA (1.x/2.x exports, 2.x projects), COCO instance json, LabelMe json
and YOLO segmentation text, through Detectron2-format records.

Polygons travel in continuous coordinates (COCO's and LabelMe's; VIA's pixel indices are
shifted by 0.5 on the way in and out), so a polygon comes back with the vertices it had.
Where a format cannot hold something, the conversion changes it and says so, one line per
kind (``Dataset.notes``): VIA circles and ellipses become polygons, masks stored as RLE
(COCO crowds) become outlines (``data.polygons``), an object in several polygons becomes one
VIA region per polygon or one joined YOLO polygon. Negatives (images without objects) are
kept in every format. Outputs are written whole or not at all, and never over a file.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field

from balloon_shapes.data import labelme, via_writer, yolo_seg
from balloon_shapes.data.coco import category_maps, load_coco, read_coco_json
from balloon_shapes.data.mapper import IMAGE_EXTS, ImageReadError, read_image
from balloon_shapes.data.polygons import mask_outline
from balloon_shapes.data.via import ELLIPSE_POINTS, ViaOptions, load_via, read_via_json
from balloon_shapes.errors import DataError, OutputError
from balloon_shapes.files import new_folder, read_json, write_json
from balloon_shapes.structures import segmentation_rle, segmentation_to_mask, to_xyxy

FORMATS = ("via", "coco", "labelme", "yolo")  # read (VIA: 1.x/2.x exports and 2.x projects)
# written: "via" a VIA 2.x project; "via_export" VIA 2.x's "Export Annotations (as json)"
# (the image entries alone, regions a list); "via1" VIA 1.x's export (regions a dict keyed
# "0", "1", ...: the balloon dataset's via_region_data.json, what Mask_RCNN's balloon.py reads)
WRITE_FORMATS = ("via", "via_export", "via1", "coco", "labelme", "yolo")
JSON_FORMATS = ("via", "via_export", "via1", "coco")  # one json file; the others a folder


class ConvertError(DataError):
    """An input that cannot be converted as asked; the message names the file."""


@dataclass
class Dataset:
    """Records (``category_id`` 0-based into ``classes``) and what the conversion changed."""

    records: list[dict]
    classes: list[str]
    notes: Counter = field(default_factory=Counter)


def detect(path: str) -> str:
    """The format of ``path`` from its content: a data.yaml (or a folder with one) is YOLO,
    a folder of json files LabelMe; a json is told apart by its keys."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "data.yaml")):
            return "yolo"
        return "labelme"
    if path.endswith((".yaml", ".yml")):
        return "yolo"
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file or folder")
    data = read_json(path, ConvertError)
    if isinstance(data, dict):
        if {"images", "annotations", "categories"} <= data.keys():
            return "coco"
        if "shapes" in data and "imagePath" in data:
            return "labelme"
        if "_via_img_metadata" in data or any(
            isinstance(v, dict) and "regions" in v for v in data.values()
        ):
            return "via"
    raise ConvertError(f"{path}: not VIA, COCO, LabelMe or YOLO; name it with from=")


def read(path: str, fmt: str = "auto", class_key: str | None = "auto", split: str = "train"):
    """``path`` as a ``Dataset`` (``fmt`` auto-detected unless named)."""
    fmt = detect(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ConvertError(f"from={fmt!r}: expected auto, {', '.join(FORMATS)}")
    if fmt == "via":
        return read_via(path, class_key)
    if fmt == "coco":
        return read_coco(path)
    if fmt == "labelme":
        return read_labelme(path)
    return read_yolo(path, split)


def via_class_key(data: dict, class_key: str | None) -> str | None:
    """``auto``: the project's one dropdown/radio region attribute (ours: ``class``); in an
    export, which defines no attributes, the one attribute every region fills; else none
    (every region is one class)."""
    if class_key != "auto":
        return class_key
    if "_via_attributes" not in data:
        return filled_by_every_region(via_regions(data))
    region = data["_via_attributes"].get("region") or {}
    choices = [
        k
        for k, d in region.items()
        if isinstance(d, dict) and d.get("type") in ("dropdown", "radio")
    ]
    return choices[0] if len(choices) == 1 else None


def filled_by_every_region(regions: list[dict]) -> str | None:
    """The one region attribute with a non-empty text value in every region, if exactly one."""
    keys = None
    for region in regions:
        attributes = region.get("region_attributes") or {}
        filled = {k for k, v in attributes.items() if isinstance(v, str) and v.strip()}
        keys = filled if keys is None else keys & filled
    return next(iter(keys)) if keys and len(keys) == 1 else None


def via_regions(data: dict) -> list[dict]:
    entries = data.get("_via_img_metadata", data)
    regions = []
    for key, entry in entries.items():
        if isinstance(entry, dict) and not str(key).startswith("_via_"):
            found = entry.get("regions") or []
            regions += list(found.values()) if isinstance(found, dict) else list(found)
    return [r for r in regions if isinstance(r, dict)]


def via_classes(data: dict, key: str | None) -> list[str]:
    """The class names: the attribute's options (ids -> names), then any other value used."""
    if key is None:
        return ["object"]
    definition = ((data.get("_via_attributes") or {}).get("region") or {}).get(key) or {}
    options = definition.get("options") or {}
    names = [str(d or i).strip() for i, d in options.items()] if isinstance(options, dict) else []
    for region in via_regions(data):
        value = (region.get("region_attributes") or {}).get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in options:
            names.append(value.strip())
    return list(dict.fromkeys(names))


def read_via(path: str, class_key: str | None) -> Dataset:
    data = read_via_json(path)
    key = via_class_key(data, class_key)
    classes = via_classes(data, key)
    records, report = load_via(
        os.path.dirname(path) or ".", ViaOptions(classes, key, os.path.basename(path))
    )
    notes = Counter()
    kinds = Counter((r.get("shape_attributes") or {}).get("name") for r in via_regions(data))
    for kind in ("circle", "ellipse"):
        if kinds[kind]:
            notes[f"VIA {kind}s became {ELLIPSE_POINTS}-point polygons"] += kinds[kind]
    if kinds["rect"]:
        notes["VIA rects became 4-point polygons"] += kinds["rect"]
    for problem in report.problems:
        notes[f"left out: {problem}"] += 1
    return Dataset(list(records), classes, notes)


def read_coco(path: str) -> Dataset:
    data = read_coco_json(path)
    classes, _ = category_maps(data)
    records = load_coco(path, os.path.dirname(path))
    for record in records:
        if not os.path.isfile(record["file_name"]):
            raise ConvertError(f"{path}: image {record['file_name']} is missing")
        for ann in record["annotations"]:
            seg = ann["segmentation"]
            if isinstance(seg, list) and any(len(p) < 6 or len(p) % 2 for p in seg):
                raise ConvertError(
                    f"{path}: an annotation of image {record['image_id']} has a polygon with "
                    "fewer than 3 points"
                )
    return Dataset(records, classes)


def read_labelme(path: str) -> Dataset:
    notes: Counter = Counter()
    records, seen = [], []
    for file in labelme.json_files(path):
        record, labels = labelme.read_file(file, None, notes)
        if not record["width"] or not record["height"]:
            record["height"], record["width"] = image_shape(record["file_name"], file)
        record["image_id"] = len(records)
        records.append(record)
        seen += labels
    classes = list(dict.fromkeys(seen))
    for record in records:
        for ann in record["annotations"]:
            ann["category_id"] = classes.index(ann["category_id"])
    return Dataset(records, classes, notes)


def read_yolo(path: str, split: str) -> Dataset:
    yaml_path = os.path.join(path, "data.yaml") if os.path.isdir(path) else path
    if not os.path.isfile(yaml_path):
        raise ConvertError(f"{yaml_path}: missing YOLO data.yaml")
    data = yolo_seg.read_yaml(yaml_path)
    classes = yolo_seg.class_names(data, yaml_path)
    folder = yolo_seg.image_folder(data, yaml_path, split)
    records = []
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith(IMAGE_EXTS):
            continue
        image = os.path.join(folder, name)
        height, width = image_shape(image, yaml_path)
        label = yolo_seg.label_path(image)
        lines = open(label, encoding="utf-8").read().splitlines() if os.path.isfile(label) else []
        anns = [
            yolo_seg.parse_line(line, width, height, len(classes), f"{label}: line {i + 1}")
            for i, line in enumerate(lines)
            if line.strip()
        ]
        records.append(
            {
                "file_name": image,
                "height": height,
                "width": width,
                "image_id": len(records),
                "annotations": anns,
            }
        )
    return Dataset(records, classes)


def image_shape(image: str, listed_in: str) -> tuple[int, int]:
    """(height, width) as a viewer shows the image; a missing or broken one names its list."""
    if not os.path.isfile(image):
        raise ConvertError(f"{listed_in}: image {image} is missing")
    try:
        return read_image(image).shape[:2]
    except ImageReadError as e:
        raise ConvertError(f"{listed_in}: {e}") from None


def polygons(ann: dict, record: dict, tolerance: float, notes: Counter) -> list[list[float]]:
    """An annotation's polygons; a mask stored as RLE becomes its outline (said in ``notes``)."""
    segmentation = ann["segmentation"]
    if isinstance(segmentation, list):
        return [list(map(float, p)) for p in segmentation]
    mask = segmentation_to_mask(segmentation, record["height"], record["width"])
    outline = mask_outline(mask, tolerance)
    notes["masks stored as RLE (COCO crowds) became outlines"] += 1
    return [] if outline is None else [outline.flat()]


def write(ds: Dataset, fmt: str, output: str, tolerance: float) -> None:
    """Write ``ds`` as ``fmt`` at ``output`` (a json file for via/coco, a new folder for
    labelme/yolo); an existing output is refused before anything is written."""
    if fmt not in WRITE_FORMATS:
        raise ConvertError(f"to={fmt!r}: expected {', '.join(WRITE_FORMATS)}")
    if os.path.lexists(output) and (fmt in JSON_FORMATS or os.listdir(output)):
        raise OutputError(f"{output}: exists; choose a new output (nothing is overwritten)")
    if fmt == "via":
        write_json(output, via_project(ds, output, tolerance))
    elif fmt in ("via_export", "via1"):
        write_json(output, via_export(via_project(ds, output, tolerance), fmt == "via1"))
    elif fmt == "coco":
        write_json(output, coco_json(ds, output, tolerance))
    elif fmt == "labelme":
        write_labelme(ds, output, tolerance)
    else:
        write_yolo(ds, output, tolerance)


def objects(ds: Dataset, record: dict, tolerance: float) -> list[tuple[int, list]]:
    """(class index, polygons) of each object of ``record`` that has an outline."""
    out = []
    for ann in record["annotations"]:
        parts = polygons(ann, record, tolerance, ds.notes)
        if parts:
            out.append((ann["category_id"], parts))
    return out


def via_project(ds: Dataset, output: str, tolerance: float) -> dict:
    """A VIA 2.x project beside its images (VIA and our loader name images from its folder)."""
    folder = os.path.dirname(os.path.abspath(output))
    project = via_writer.new_project(os.path.splitext(os.path.basename(output))[0], ds.classes)
    for record in ds.records:
        image = os.path.abspath(record["file_name"])
        if os.path.commonpath([folder, image]) != folder:
            raise ConvertError(
                f"{output}: image {record['file_name']} is outside {folder}; write the VIA "
                "project into the images' folder (VIA names images relative to it)"
            )
        regions = []
        for cls, parts in objects(ds, record, tolerance):
            if len(parts) > 1:
                ds.notes["objects in several polygons became one VIA region per polygon"] += 1
            regions += [via_writer.polygon_region(p, ds.classes[cls]) for p in parts]
        via_writer.put_entry(project, via_writer.file_entry(folder, image, regions))
    return project


def via_export(project: dict, v1: bool) -> dict:
    """A project's image entries alone, as VIA exports them (1.x: regions keyed by index). An
    export has no attribute definitions: reading it back, the class is the one region attribute
    every region fills (``class``)."""
    entries = project["_via_img_metadata"]
    if v1:
        for entry in entries.values():
            entry["regions"] = {str(i): r for i, r in enumerate(entry["regions"])}
    return entries


def coco_json(ds: Dataset, output: str, tolerance: float) -> dict:
    """COCO instance json, polygons kept as polygons and RLE as RLE; ``file_name`` relative to
    the json's folder (the image root to give it)."""
    from pycocotools import mask as mask_utils

    folder = os.path.dirname(os.path.abspath(output))
    images, annotations = [], []
    for image_id, record in enumerate(ds.records, start=1):
        h, w = record["height"], record["width"]
        name = os.path.relpath(os.path.abspath(record["file_name"]), folder)
        images.append(
            {"id": image_id, "file_name": name.replace(os.sep, "/"), "height": h, "width": w}
        )
        for ann in record["annotations"]:
            seg = ann["segmentation"]
            rle = segmentation_rle(seg, h, w)
            x0, y0, x1, y1 = to_xyxy(ann["bbox"], ann.get("bbox_mode", 0))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ann["category_id"] + 1,
                    "segmentation": seg,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": int(ann.get("iscrowd", 0)),
                }
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(ds.classes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def unique_stems(ds: Dataset, output: str) -> list[str]:
    stems = [os.path.splitext(os.path.basename(r["file_name"]))[0] for r in ds.records]
    clashes = [s for s, n in Counter(stems).items() if n > 1]
    if clashes:
        raise ConvertError(f"{output}: two images are named {clashes[0]}.*; one label file each")
    return stems


def write_labelme(ds: Dataset, output: str, tolerance: float) -> None:
    """``<output>/<image stem>.json`` per image, ``imagePath`` relative to the output folder."""
    stems = unique_stems(ds, output)
    folder = os.path.abspath(output)
    with new_folder(output) as tmp:
        for stem, record in zip(stems, ds.records):
            named = [(ds.classes[c], parts) for c, parts in objects(ds, record, tolerance)]
            image = os.path.relpath(os.path.abspath(record["file_name"]), folder)
            write_json(
                os.path.join(tmp, f"{stem}.json"), labelme.labelme_dict(record, image, named)
            )


def write_yolo(ds: Dataset, output: str, tolerance: float) -> None:
    """``data.yaml``, ``images/`` (hard links where the filesystem allows, else copies) and
    ``labels/<stem>.txt``."""
    unique_stems(ds, output)
    with new_folder(output) as tmp:
        os.makedirs(os.path.join(tmp, "images"))
        os.makedirs(os.path.join(tmp, "labels"))
        with open(os.path.join(tmp, "data.yaml"), "w", encoding="utf-8") as f:
            f.write(yolo_seg.data_yaml(ds.classes))
        for record in ds.records:
            name = os.path.basename(record["file_name"])
            link_or_copy(record["file_name"], os.path.join(tmp, "images", name))
            objs = objects(ds, record, tolerance)
            ds.notes["objects in several polygons were joined into one YOLO polygon"] += sum(
                len(parts) > 1 for _, parts in objs
            )
            label = os.path.join(tmp, "labels", os.path.splitext(name)[0] + ".txt")
            with open(label, "w", encoding="utf-8") as f:
                f.write(yolo_seg.label_lines(record, objs))


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


def with_classes(ds: Dataset, classes: list[str], path: str) -> Dataset:
    """``ds`` with ``classes`` as its class list (in that order); a class the data uses that
    the list lacks is the user's error."""
    missing = [c for c in ds.classes if c not in classes]
    used = {ds.classes[a["category_id"]] for r in ds.records for a in r["annotations"]}
    if missing and used & set(missing):
        raise ConvertError(
            f"{path}: class {sorted(used & set(missing))[0]!r} not in classes={classes}"
        )
    for record in ds.records:
        for ann in record["annotations"]:
            ann["category_id"] = classes.index(ds.classes[ann["category_id"]])
    return Dataset(ds.records, list(classes), ds.notes)


def run_convert(cfg) -> dict:
    """scripts/convert.py: read ``input``, write it as ``to`` at ``output``; print what changed."""
    path = str(cfg.input)
    if cfg.to not in WRITE_FORMATS:
        raise ConvertError(f"to={cfg.to!r}: expected {', '.join(WRITE_FORMATS)}")
    ds = read(path, cfg["from"], cfg.class_key, cfg.split)
    if cfg.classes:
        ds = with_classes(ds, [str(c) for c in cfg.classes], path)
    write(ds, cfg.to, str(cfg.output), cfg.tolerance)
    objects_n = sum(len(r["annotations"]) for r in ds.records)
    negatives = sum(not r["annotations"] for r in ds.records)
    print(
        f"{cfg.output}: {len(ds.records)} images ({negatives} without objects), {objects_n} "
        f"objects, classes {ds.classes}"
    )
    for note, n in sorted(ds.notes.items()):
        if n:
            print(f"  {n} {note}")
    return {"images": len(ds.records), "objects": objects_n, "negatives": negatives}
