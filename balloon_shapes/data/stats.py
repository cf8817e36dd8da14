"""What is in a dataset: counts per class, instances per image, object sizes (COCO's small /
medium / large), images without annotations, duplicate images and regions, polygons that cross
themselves or leave the image, and a sample grid: printed, and as a report.html page.

    python -m balloon_shapes.data.stats balloon_train
    python -m balloon_shapes.data.stats via_val data.root=/path/to/via data.classes=[cat,dog]
    python -m balloon_shapes.data.stats shapes_val --out outputs/stats/shapes_val
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

from balloon_shapes import html_report
from balloon_shapes.cli import guarded
from balloon_shapes.config import CONFIG_DIR, load_config
from balloon_shapes.data.catalog import class_names, load_records
from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.data.via import file_digest
from balloon_shapes.errors import ConfigError
from balloon_shapes.structures import Instances, segmentation_rle, segmentation_to_mask, to_xyxy
from balloon_shapes.visualizer import caption, draw_instances, grid, resize_instances

SIZE_LIMITS = (32**2, 96**2)  # COCO's object areas: small < 32^2 <= medium < 96^2 <= large
SIZES = ("small", "medium", "large")
STREAM_CAP = 1000  # images looked at in an endless stream (shapes_train)


@dataclass
class Stats:
    name: str
    classes: list[str]
    images: int = 0
    per_class: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)  # (class, size) -> count
    per_image: Counter = field(default_factory=Counter)  # instances in an image -> images
    image_sizes: Counter = field(default_factory=Counter)  # (width, height) -> images
    crowds: int = 0
    negatives: list[str] = field(default_factory=list)
    duplicate_images: list[tuple[str, str]] = field(default_factory=list)
    duplicate_regions: list[str] = field(default_factory=list)
    crossing: list[str] = field(default_factory=list)  # self-intersecting polygons
    outside: list[str] = field(default_factory=list)  # vertices outside the image


def size_of(area: float) -> str:
    return SIZES[sum(area >= limit for limit in SIZE_LIMITS)]


def crosses_itself(flat: list[float]) -> bool:
    """Whether two non-adjacent edges of the closed polygon properly intersect (O(n^2): VIA
    and COCO polygons have tens of vertices)."""
    pts = np.asarray(flat, dtype=float).reshape(-1, 2)
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # the edges meeting at vertex 0
            if segments_cross(a, b, pts[j], pts[(j + 1) % n]):
                return True
    return False


def segments_cross(p, q, r, s) -> bool:
    """Proper intersection of segments pq and rs (touching ends does not count)."""

    def side(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def image_key(record: dict) -> str:
    """The image's bytes hashed (its pixels for generated images): equal keys are duplicates."""
    if "image" not in record:
        return file_digest(record["file_name"])
    return hashlib.sha256(np.ascontiguousarray(record["image"]).tobytes()).hexdigest()


def area_of(ann: dict, h: int, w: int) -> float:
    return float(mask_utils.area(segmentation_rle(ann["segmentation"], h, w)))


def gather(name: str, records, classes: list[str]) -> Stats:
    """The statistics of ``records`` (Detectron2 dicts)."""
    stats, seen = Stats(name, classes), {}
    for record in records:
        where = record.get("file_name") or f"image {record['image_id']}"
        h, w = record["height"], record["width"]
        stats.images += 1
        stats.image_sizes[(w, h)] += 1
        key = image_key(record)
        if key in seen:
            stats.duplicate_images.append((where, seen[key]))
        seen.setdefault(key, where)
        anns = record["annotations"]
        stats.per_image[len(anns)] += 1
        if not anns:
            stats.negatives.append(where)
        shapes = Counter()
        for i, ann in enumerate(anns):
            name_ = classes[ann["category_id"]]
            if ann.get("iscrowd"):
                stats.crowds += 1
                continue
            stats.per_class[name_] += 1
            stats.sizes[(name_, size_of(area_of(ann, h, w)))] += 1
            seg = ann["segmentation"]
            shapes[repr(seg)] += 1
            if isinstance(seg, list):
                check_polygons(seg, w, h, f"{where}: object {i}", stats)
        stats.duplicate_regions += [
            f"{where}: a region drawn {n} times" for n in shapes.values() if n > 1
        ]
    return stats


def check_polygons(polygons: list, w: int, h: int, where: str, stats: Stats) -> None:
    for flat in polygons:
        xs, ys = flat[0::2], flat[1::2]
        if min(xs) < 0 or min(ys) < 0 or max(xs) > w or max(ys) > h:
            stats.outside.append(where)
        if crosses_itself(flat):
            stats.crossing.append(where)


def summary_lines(stats: Stats) -> list[str]:
    """The printed summary: counts first, then each kind of problem with its first examples."""
    lines = [
        f"{stats.name}: {stats.images} images, {sum(stats.per_class.values())} instances "
        f"({stats.crowds} crowd), {len(stats.negatives)} without annotations",
        "  per class: " + (", ".join(f"{c} {stats.per_class[c]}" for c in stats.classes) or "none"),
        "  sizes (COCO areas): "
        + ", ".join(f"{s} {sum(n for (_, z), n in stats.sizes.items() if z == s)}" for s in SIZES),
        "  instances per image: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(stats.per_image.items())),
    ]
    for title, items in problem_lists(stats):
        if items:
            lines.append(f"  {title}: {len(items)}, e.g. {items[0]}")
    return lines


def problem_lists(stats: Stats) -> list[tuple[str, list[str]]]:
    return [
        ("duplicate images", [f"{a} = {b}" for a, b in stats.duplicate_images]),
        ("duplicate regions", stats.duplicate_regions),
        ("self-intersecting polygons", stats.crossing),
        ("polygons outside the image", stats.outside),
    ]


def sample_grid(records, classes: list[str], n: int, size: int = 256) -> np.ndarray | None:
    """Up to ``n`` annotated images spread over the dataset, ground truth drawn."""
    if not len(records):
        return None
    picks = np.linspace(0, len(records) - 1, min(n, len(records))).round().astype(int)
    tiles = []
    for i in dict.fromkeys(picks.tolist()):
        record = records[i]
        image, h, w = load_pixels(record), record["height"], record["width"]
        anns = [a for a in record["annotations"] if not a.get("iscrowd")]
        masks = (
            np.stack([segmentation_to_mask(a["segmentation"], h, w).astype(bool) for a in anns])
            if anns
            else np.zeros((0, h, w), bool)
        )
        boxes = np.array([to_xyxy(a["bbox"], a.get("bbox_mode", 0)) for a in anns]).reshape(-1, 4)
        labels = np.array([a["category_id"] + 1 for a in anns], dtype=int)
        inst = Instances(boxes, labels, np.ones(len(anns)), masks)
        small, small_inst = resize_instances(image, inst, size)
        drawn = draw_instances(small, small_inst, classes, scores=False).image
        tiles.append(
            caption(
                drawn,
                os.path.basename(record.get("file_name", "")) or f"image {record['image_id']}",
            )
        )
    return grid(tiles, cols=4)


def page(stats: Stats, records, samples: int) -> html_report.Page:
    tables = [
        html_report.Table(
            "Instances per class and size",
            ["class", "instances", *SIZES],
            [[c, stats.per_class[c], *(stats.sizes[(c, s)] for s in SIZES)] for c in stats.classes],
            note="sizes by mask area, COCO's limits: small < 32^2 <= medium < 96^2 <= large",
        ),
        html_report.Table(
            "Instances per image",
            ["instances", "images"],
            [[k, v] for k, v in sorted(stats.per_image.items())],
        ),
        html_report.Table(
            "Image sizes (most common)",
            ["width x height", "images"],
            [[f"{w} x {h}", n] for (w, h), n in stats.image_sizes.most_common(10)],
        ),
        html_report.Table(
            "Problems",
            ["kind", "count", "first examples"],
            [[t, len(items), "; ".join(items[:3])] for t, items in problem_lists(stats)]
            + [
                ["images without annotations", len(stats.negatives), "; ".join(stats.negatives[:3])]
            ],
        ),
    ]
    picture = sample_grid(records, stats.classes, samples)
    figures = (
        []
        if picture is None
        else [html_report.Figure("Sample images", html_report.jpeg_uri(picture))]
    )
    facts = [
        ("dataset", stats.name),
        ("images", str(stats.images)),
        ("classes", ", ".join(stats.classes)),
    ]
    return html_report.Page(f"Dataset: {stats.name}", facts, tables, figures)


def data_group(name: str) -> tuple[str, str]:
    """The ``configs/data`` group and split (train/val) that name dataset ``name``."""
    from omegaconf import OmegaConf

    folder = os.path.join(CONFIG_DIR, "data")
    for file in sorted(os.listdir(folder)):
        node = OmegaConf.load(os.path.join(folder, file))
        for split in ("val", "train"):
            if node.get(split) == name:
                return os.path.splitext(file)[0], split
    raise ConfigError(f"dataset {name!r}: no configs/data/*.yaml names it as train or val")


def run(name: str, overrides: list[str], out: str | None, samples: int) -> int:
    group, split = data_group(name)
    cfg = load_config([f"data={group}", *overrides])
    records = load_records(cfg.data, split, required=True)
    if len(records) > STREAM_CAP * 100:  # an endless stream: look at its first images
        print(f"{name}: a stream of {len(records)} images; looking at the first {STREAM_CAP}")
        records = records[:STREAM_CAP]
    stats = gather(name, records, class_names(cfg.data))
    print("\n".join(summary_lines(stats)))
    path = os.path.join(out or os.path.join("outputs", "stats", name), "report.html")
    html_report.write_page(path, page(stats, records, samples))
    print(f"page: {path}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a dataset name (shapes_val, balloon_train, via_val, ...)")
    parser.add_argument("overrides", nargs="*", help="config overrides: data.root=... ")
    parser.add_argument("--out", help="folder of report.html (outputs/stats/NAME)")
    parser.add_argument("--samples", type=int, default=12, help="images in the sample grid")
    args = parser.parse_args(argv)
    return guarded(lambda: run(args.name, args.overrides, args.out, args.samples))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
