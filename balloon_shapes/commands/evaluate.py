"""``evaluate(cfg) -> metrics``: the one function behind ``scripts/eval.py``."""

from __future__ import annotations

import dataclasses
import os

import torch
from omegaconf import DictConfig

from balloon_shapes.data import catalog
from balloon_shapes.data.mapper import load_pixels
from balloon_shapes.deploy.exported import ExportedDetector
from balloon_shapes.errors import ConfigError
from balloon_shapes.evaluation import console, figures, page, robustness
from balloon_shapes.evaluation import error_analysis as ea
from balloon_shapes.evaluation.coco_evaluation import COCOEvaluator
from balloon_shapes.evaluation.inference import InferenceSettings, predict
from balloon_shapes.evaluation.matching import compact_ground_truth
from balloon_shapes.evaluation.voc_style import voc_items, voc_map
from balloon_shapes.files import check_writable, json_bytes, staged_outputs, write_bytes
from balloon_shapes.html_report import render
from balloon_shapes.model_loader import build_inference_model, resolve_config
from balloon_shapes.modeling.precision import precision_name

COLOR_MODES = {"rgb": (False,), "gray": (True,), "compare": (False, True)}


def check_config(cfg: DictConfig) -> None:
    """Values that cannot work fail in one line before hours of inference, not after."""
    if cfg.eval.grayscale not in COLOR_MODES:
        raise ConfigError(
            f"eval.grayscale={cfg.eval.grayscale!r}: expected one of {list(COLOR_MODES)}"
        )
    if cfg.eval.report_images is not None and cfg.eval.report_images < 0:
        raise ConfigError(f"eval.report_images={cfg.eval.report_images}: must be >= 0 or null")
    check_writable(cfg.output_dir, "output_dir")


def evaluate_mode(
    model, records, evaluator: COCOEvaluator, gts, gray: bool, settings: InferenceSettings
) -> dict:
    preds = predict(model, records, settings, gray, "inference (gray)" if gray else "inference")
    evaluator.reset()
    evaluator.add(preds)
    metrics = evaluator.evaluate()
    metrics["voc_mAP50"] = voc_map(voc_items(preds, gts))["mAP50"]
    print(f"\n{'grayscale' if gray else 'RGB'} images ({len(records)}):")
    print(console.metrics_text(metrics))
    print(console.per_class_text(metrics))
    return {"preds": preds, "results": evaluator.results, "evals": evaluator.evals,
            "metrics": metrics}  # fmt: skip


def mode_outputs(cfg, run: dict, records, gts, names, suffix: str) -> dict[str, bytes]:
    """One color mode's files: its results json, PR curves and worst images."""
    worst = robustness.worst_images(run["preds"], gts, cfg.score_thresh, cfg.eval.worst_images)
    for it in worst:
        it["image"] = load_pixels(records[it["index"]])
    out = {f"coco_instances_results{suffix}.json": json_bytes(run["results"])}
    if run["evals"]:
        out[f"pr_curves{suffix}.png"] = figures.pr_curves_png(run["evals"])
    if worst:
        args = (names, cfg.score_thresh, cfg.tile_size)
        out[f"worst_images{suffix}.png"] = figures.worst_images_png(worst, *args)
    return out


def compare_report(cfg, records, gts, runs: dict) -> tuple[dict, bytes]:
    """Recall by luminance contrast and AP drop per size, RGB vs gray: printed, and the
    metrics and robustness.png returned."""
    preds = {mode: run["preds"] for mode, run in runs.items()}
    rows = robustness.contrast_recall(records, gts, preds, cfg.score_thresh)
    drop = robustness.size_drop(runs["rgb"]["metrics"], runs["gray"]["metrics"])
    print("\nrecall by luminance contrast (object vs its 5 px ring):")
    print(console.table([list(r.values()) for r in rows], list(rows[0])))
    lost = ", ".join(f"{k} {v:+.3f}" for k, v in drop["segm"].items() if v is not None)
    print(f"segm AP lost in grayscale: {lost}")
    png = robustness.robustness_png(rows, drop)
    return {"recall_by_contrast": rows, "ap_drop": drop}, png


def prepare(cfg: DictConfig) -> tuple[DictConfig, list[dict], COCOEvaluator, torch.nn.Module]:
    """The config with the checkpoint's model and data (resolved once), the val records, their
    evaluator and the model."""
    cfg = resolve_config(cfg)
    records = catalog.load_records(cfg.data, "val")  # a missing dataset fails before a download
    evaluator = COCOEvaluator(cfg.data, records, cfg.model.mask_thresh, cfg.eval.backend)
    return cfg, records, evaluator, build_inference_model(cfg.model)


def coco_metrics(cfg: DictConfig, amp: str | bool | None = None) -> dict:
    """The COCO metrics (``{"segm": {...}, "bbox": {...}}``) of ``cfg.model`` on ``data.val`` in
    precision ``amp`` (None: the config's): the evaluator alone, nothing printed or written
    (the export's before/after figures, the inference sweep)."""
    cfg, records, evaluator, model = prepare(cfg)
    settings = InferenceSettings.from_config(cfg)
    if amp is not None:
        settings = dataclasses.replace(settings, amp=amp)
    evaluator.add(predict(model, records, settings))
    return evaluator.evaluate()


def segm_ap50(cfg: DictConfig, amp: str | bool = False) -> float:
    """segm AP50 of ``cfg.model`` on ``data.val`` in precision ``amp`` (``coco_metrics``)."""
    return coco_metrics(cfg, amp)["segm"]["AP50"]


EVAL_OUTPUTS = (  # what one evaluation may write: they replace the previous run's as a set
    *(f"{stem}{suffix}{ext}" for suffix in ("", "_gray") for stem, ext in
      (("coco_instances_results", ".json"), ("pr_curves", ".png"), ("worst_images", ".png"))),
    "robustness.png",
    "errors.png",
    "metrics.json",
    "report.html",
)  # fmt: skip


def evaluate(cfg: DictConfig) -> dict:
    """Predict on ``data.val`` (the checkpoint's own data unless overridden), write results
    json, metrics.json, PR curves, worst images, report.html: all of a run's files replace
    the previous run's together, or none does (``staged_outputs``)."""
    check_config(cfg)
    cfg, records, evaluator, model = prepare(cfg)
    metrics, outputs = evaluate_all(cfg, records, evaluator, model)
    with staged_outputs(cfg.output_dir, EVAL_OUTPUTS) as stage:
        for name, data in outputs.items():
            write_bytes(os.path.join(stage, name), data)
    print(f"\nreport: {os.path.join(cfg.output_dir, 'report.html')}")
    return metrics


def evaluate_all(cfg: DictConfig, records, evaluator: COCOEvaluator, model) -> tuple[dict, dict]:
    """The evaluation itself: metrics.json's dict and every output file's bytes by name
    (computed first, written together after)."""
    names = evaluator.names
    gts = [compact_ground_truth(r) for r in records]
    settings = InferenceSettings.from_config(cfg)  # its precision resolved once, for every mode
    dtype = model.runs_in(settings.dtype) if isinstance(model, ExportedDetector) else settings.dtype
    summary, runs, outputs = {"images": len(records), "precision": precision_name(dtype)}, {}, {}
    for gray in COLOR_MODES[cfg.eval.grayscale]:
        mode = "gray" if gray else "rgb"
        runs[mode] = run = evaluate_mode(model, records, evaluator, gts, gray, settings)
        summary[mode] = run["metrics"]
        outputs |= mode_outputs(cfg, run, records, gts, names, "_gray" if gray else "")
    if cfg.eval.grayscale == "compare":
        summary["robustness"], outputs["robustness.png"] = compare_report(cfg, records, gts, runs)
    main = summary.get("rgb") or summary["gray"]
    main_run = runs.get("rgb") or runs["gray"]
    analysis = ea.analyse(main_run["preds"], gts, names, cfg.score_thresh)
    console.print_analysis(analysis, names)
    outputs["errors.png"] = figures.errors_png(analysis, names)
    metrics = {
        "bbox_AP": main["bbox"]["AP"],
        "bbox_AP50": main["bbox"]["AP50"],
        "segm_AP": main["segm"]["AP"],
        "segm_AP50": main["segm"]["AP50"],
        "voc_mAP50": main["voc_mAP50"],
        **summary,
        "errors": {k: v for k, v in analysis.items() if k != "images_with"},
    }
    outputs["metrics.json"] = json_bytes(metrics)
    html = page.page(cfg, metrics, analysis, records, main_run["preds"], gts, names, outputs)
    outputs["report.html"] = render(html).encode()
    return metrics, outputs
