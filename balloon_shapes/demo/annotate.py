"""Pre-annotation: a model's masks as polygons in a VIA 2.x project, for a person to correct in
VIA and train on as saved (``data.json_name=via_project.json data.class_key=class``).

Images run through Lightning's predict loop (``demo.predict_loop``: ``trainer.devices``, nodes),
each rank keeping its results per batch in a part file; rank 0 merges them into the project,
written atomically. Resumable: a killed run's part files are merged by the next run, and images
already in the project are skipped (their regions are the user's) unless ``replace=true``.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig

from balloon_shapes.data import via_writer
from balloon_shapes.data.polygons import mask_outline
from balloon_shapes.data.via import ViaError, check_entry, read_via_json
from balloon_shapes.demo import uncertainty
from balloon_shapes.demo.image_demo import list_inputs
from balloon_shapes.demo.predict_loop import read_parts, remove_parts, run_predict
from balloon_shapes.demo.predictor import Predictor
from balloon_shapes.errors import ConfigError
from balloon_shapes.files import atomic_write, check_writable, write_json
from balloon_shapes.model_loader import load_model
from balloon_shapes.structures import Instances

PROJECT_NAME = "via_project.json"
RANKING_NAME = "ranking.csv"  # beside the project, with rank=


@dataclass
class Tally:
    """What a run did, for its closing lines."""

    annotated: int = 0
    skipped: int = 0  # already in the project
    regions: int = 0
    review: int = 0
    notes: Counter = field(default_factory=Counter)  # "several parts", "holes"
    unreadable: list[str] = field(default_factory=list)


def project_path(cfg: DictConfig) -> str:
    """``cfg.project``, or ``via_project.json`` in the input folder."""
    if cfg.project:
        return str(cfg.project)
    folder = str(cfg.input) if os.path.isdir(str(cfg.input)) else os.path.dirname(str(cfg.input))
    return os.path.join(folder, PROJECT_NAME)


def open_project(path: str) -> dict | None:
    """The project at ``path``, checked entry by entry, or None when there is none yet."""
    if not os.path.exists(path):
        return None
    data = read_via_json(path)
    if not isinstance(data.get("_via_img_metadata"), dict):
        raise ViaError(f"{path}: not a VIA 2.x project (no _via_img_metadata); choose project=")
    for key, entry in data["_via_img_metadata"].items():
        check_entry(entry, f"{path}: entry {key!r}")
    data.setdefault("_via_image_id_list", list(data["_via_img_metadata"]))
    return data


def with_classes(project: dict | None, path: str, classes: list[str]) -> dict:
    """``project`` (or a new one) with our attributes added and its class options widened to
    ``classes``; the user's own attributes and options stay."""
    if project is None:
        return via_writer.new_project(os.path.splitext(os.path.basename(path))[0], classes)
    ours = via_writer.via_attributes(classes)
    attributes = project.setdefault("_via_attributes", {})
    for kind in ("region", "file"):
        for name, definition in ours[kind].items():
            attributes.setdefault(kind, {}).setdefault(name, definition)
    options = attributes["region"][via_writer.CLASS_ATTRIBUTE].setdefault("options", {})
    for c in classes:
        options.setdefault(c, c)
    return project


def image_paths(cfg: DictConfig, folder: str) -> list[str]:
    """The input images; each must lie inside the project's folder (VIA names them from it)."""
    paths = list_inputs(str(cfg.input))
    inside = os.path.abspath(folder)
    for path in paths:
        if os.path.commonpath([inside, os.path.abspath(path)]) != inside:
            raise ConfigError(
                f"{path}: outside the project's folder {folder}; put the project beside the images"
            )
    return paths


def regions_of(inst: Instances, names: list[str], cfg: DictConfig, notes: Counter) -> list[dict]:
    """One polygon region per instance scored >= ``score_thresh``."""
    regions = []
    for mask, label, score in zip(inst.masks, inst.labels, inst.scores):
        if score < cfg.score_thresh:
            continue
        outline = mask_outline(mask, cfg.tolerance)
        if outline is None:
            continue
        notes["in several parts (kept the largest)"] += outline.parts > 1
        notes["with holes (filled)"] += outline.holes > 0
        regions.append(via_writer.polygon_region(outline.flat(), names[label - 1], float(score)))
    return regions


def needs_review(inst: Instances, band) -> bool:
    return any(band[0] <= s <= band[1] for s in inst.scores)


def check_band(band) -> tuple[float, float]:
    low, high = (float(b) for b in band)
    if not 0 <= low <= high <= 1:
        raise ConfigError(f"review_band={list(band)}: needs 0 <= low <= high <= 1")
    return low, high


def pending(
    paths: list[str], folder: str, existing: dict | None, path: str, replace: bool
) -> tuple[list[str], int]:
    """The images to predict (not in a killed run's part files, nor in the project unless
    ``replace``) and how many the project already had."""
    done = {r["path"] for r in read_parts(path) if "entry" in r}
    listed = {e["filename"] for e in (existing or {}).get("_via_img_metadata", {}).values()}
    rels = {p: via_rel(p, folder) for p in paths}
    todo = [p for p in paths if rels[p] not in done and (replace or rels[p] not in listed)]
    skipped = sum(rels[p] in listed and rels[p] not in done for p in set(paths) - set(todo))
    return todo, skipped


def run_annotate(cfg: DictConfig) -> dict:
    """Predict every input image into the VIA project; returns counts (rank 0; other ranks
    return ``{}``). Everything the user gave is checked before the model loads; results are
    kept per batch in part files, so a killed run resumes where it stopped."""
    band = check_band(cfg.review_band)
    check_rank(cfg.rank)
    path = project_path(cfg)
    folder = os.path.dirname(os.path.abspath(path))
    paths = image_paths(cfg, folder)
    check_writable(folder)
    existing = open_project(path)
    todo, skipped = pending(paths, folder, existing, path, cfg.replace)
    model, names = load_model(cfg)

    def make(model, device: str) -> Predictor:
        return Predictor(
            model,
            names,
            score_thresh=min(cfg.score_thresh, band[0]),  # low scores in the band flag a review
            mask_thresh=cfg.model.mask_thresh,
            device=device,
            amp=cfg.inference.amp,
            grayscale=cfg.grayscale,
        )

    def handle(predictor, batch_paths, images, found) -> list[dict]:
        return annotate_batch(batch_paths, images, found, predictor, folder, cfg, band)

    start_time = time.perf_counter()
    if todo and run_predict(cfg, model, todo, make, handle, path) != 0:
        return {}
    seconds = time.perf_counter() - start_time  # reading, model, outlines, part files
    project = with_classes(existing, path, names)
    tally = merge(project, read_parts(path), skipped)
    write_json(path, project)
    remove_parts(path)
    print_summary(path, tally)
    if cfg.rank is not None:
        write_ranking(path, project, cfg.top)
    return {
        "project": path,
        "annotated": tally.annotated,
        "skipped": tally.skipped,
        "regions": tally.regions,
        "review": tally.review,
        "unreadable": len(tally.unreadable),
        "images_per_s": round(len(todo) / seconds, 2) if todo else None,
    }


def via_rel(path: str, folder: str) -> str:
    return os.path.relpath(path, folder).replace(os.sep, "/")


def annotate_batch(
    paths: list[str],
    images: list,
    found: list[Instances],
    predictor: Predictor,
    folder: str,
    cfg: DictConfig,
    band: tuple[float, float],
) -> list[dict]:
    """One result per image: its project entry and what its outlines had to change."""
    unsure = uncertainties(cfg.rank, predictor, images, found, paths)
    results = []
    for p, inst, u in zip(paths, found, unsure):
        notes = Counter()
        regions = regions_of(inst, predictor.class_names, cfg, notes)
        entry = via_writer.file_entry(folder, p, regions, needs_review(inst, band))
        if u is not None:
            entry["file_attributes"][via_writer.UNCERTAINTY_ATTRIBUTE] = f"{u:.4f}"
        results.append({"path": via_rel(p, folder), "entry": entry, "notes": dict(notes)})
    return results


def merge(project: dict, results: list[dict], skipped: int) -> Tally:
    """Put every result's entry into ``project`` (a repeated image: its last result)."""
    tally = Tally(skipped=skipped)
    entries = {r["path"]: r for r in results if "entry" in r}
    for result in entries.values():
        via_writer.put_entry(project, result["entry"])
        tally.annotated += 1
        tally.regions += len(result["entry"]["regions"])
        tally.review += result["entry"]["file_attributes"][via_writer.REVIEW_ATTRIBUTE] == "yes"
        tally.notes.update(result["notes"])
    tally.unreadable = sorted({r["error"] for r in results if "error" in r})
    return tally


def uncertainties(measure, predictor: Predictor, images, found, paths) -> list[float | None]:
    """Each image's uncertainty under ``measure`` (None: not ranking)."""
    if measure is None:
        return [None] * len(found)
    if measure == "band":
        return [uncertainty.band_score(inst) for inst in found]
    if measure == "flip":
        mirrored = predictor.infer([np.ascontiguousarray(im[:, ::-1]) for im in images])
        return [uncertainty.flip_disagreement(a, b) for a, b in zip(found, mirrored)]
    return [uncertainty.random_score(os.path.basename(p)) for p in paths]


def check_rank(measure) -> None:
    if measure is not None and measure not in uncertainty.MEASURES:
        raise ConfigError(f"rank={measure!r}: expected null, {', '.join(uncertainty.MEASURES)}")


def write_ranking(path: str, project: dict, top: int) -> list[tuple[str, float]]:
    """``ranking.csv`` beside the project: every entry with an uncertainty, most unsure first;
    prints the first ``top``."""
    scores = {
        e["filename"]: float(e["file_attributes"][via_writer.UNCERTAINTY_ATTRIBUTE])
        for e in project["_via_img_metadata"].values()
        if e.get("file_attributes", {}).get(via_writer.UNCERTAINTY_ATTRIBUTE, "") != ""
    }
    ranked = uncertainty.ranking(scores)
    out = os.path.join(os.path.dirname(os.path.abspath(path)), RANKING_NAME)

    def _write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["rank", "image", "uncertainty"])
            writer.writerows((i + 1, name, f"{u:.4f}") for i, (name, u) in enumerate(ranked))

    atomic_write(out, _write)
    print(f"{out}: label these first (most uncertain of {len(ranked)}):")
    for i, (name, u) in enumerate(ranked[:top]):
        print(f"  {i + 1:>3}. {name}  {u:.3f}")
    return ranked


def print_summary(path: str, tally: Tally) -> None:
    print(
        f"{path}: {tally.annotated} images annotated ({tally.regions} regions, "
        f"{tally.review} flagged review=yes), {tally.skipped} already in the project"
    )
    for note, n in sorted(tally.notes.items()):
        if n:
            print(f"  {n} masks {note}")
    for line in tally.unreadable:
        print(f"  skipped: {line}")
    print(
        "  correct it in VIA 2.x (Project > Load), then train on it: "
        f"data.json_name={os.path.basename(path)} data.class_key={via_writer.CLASS_ATTRIBUTE}"
    )
