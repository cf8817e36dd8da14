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
from balloon_shapes.files import check_writable, staged_outputs, write_json
from balloon_shapes.html_report import write_page
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


def missed(pred: dict, gt: dict, min_score: float) -> int:
    """Ground-truth instances not matched at mask IoU 0.5 by a prediction >= ``min_score``."""
    return len(gt["labels"]) - int(robustness.found(pred, gt, min_score).sum())


def evaluate_mode(
    cfg, model, records, evaluator: COCOEvaluator, gts, gray: bool, settings: InferenceSettings
) -> dict:
    preds = predict(model, records, settings, gray, "inference (gray)" if gray else "inference")
    evaluator.reset()
    evaluator.add(preds)
    metrics = evaluator.evaluate()
    metrics["voc_mAP50"] = voc_map(voc_items(preds, gts))["mAP50"]
    return {"preds": preds, "results": evaluator.results, "metrics": metrics}


def write_outputs(cfg, run: dict, records, gts, names, suffix: str = "") -> None:
    out = cfg.output_dir
    write_json(os.path.join(out, f"coco_instances_results{suffix}.json"), run["results"])
    evals = {t: run["metrics"][t]["_eval"] for t in ("bbox", "segm") if run["metrics"][t]["_eval"]}
    if evals:
        figures.pr_curves_png(os.path.join(out, f"pr_curves{suffix}.png"), evals)
    items = [
        {"missed": missed(p, g, cfg.score_thresh), "pred": p, "gt": g, "index": i}
        for i, (p, g) in enumerate(zip(run["preds"], gts))
    ]
    worst = sorted(items, key=lambda it: -it["missed"])[: cfg.eval.worst_images]
    for it in worst:
        it["image"] = load_pixels(records[it["index"]])
    if worst:
        path = os.path.join(out, f"worst_images{suffix}.png")
        figures.worst_images_png(path, worst, names, cfg.score_thresh, cfg.tile_size)


def compare_report(cfg, records, gts, runs: dict) -> dict:
    """Recall by luminance contrast and AP drop per size, RGB vs gray; table, json and PNG."""
    preds = {mode: run["preds"] for mode, run in runs.items()}
    rows = robustness.contrast_recall(records, gts, preds, cfg.score_thresh)
    drop = robustness.size_drop(runs["rgb"]["metrics"], runs["gray"]["metrics"])
    robustness.robustness_png(os.path.join(cfg.output_dir, "robustness.png"), rows, drop)
    print("\nrecall by luminance contrast (object vs its 5 px ring):")
    print(console.table([list(r.values()) for r in rows], list(rows[0])))
    lost = ", ".join(f"{k} {v:+.3f}" for k, v in drop["segm"].items() if v is not None)
    print(f"segm AP lost in grayscale: {lost}")
    return {"recall_by_contrast": rows, "ap_drop": drop}


def error_analysis(cfg, preds: list[dict], gts, names: list[str]) -> dict:
    """TIDE-style errors, confusion matrix, per-class P/R: printed and drawn (errors.png)."""
    analysis = ea.analyse(preds, gts, names, cfg.score_thresh)
    console.print_analysis(analysis, names)
    figures.errors_png(os.path.join(cfg.output_dir, "errors.png"), analysis, names)
    return analysis


def public(metrics: dict) -> dict:
    return {
        k: ({n: v for n, v in m.items() if n != "_eval"} if isinstance(m, dict) else m)
        for k, m in metrics.items()
    }


def prepare(cfg: DictConfig) -> tuple[DictConfig, list[dict], COCOEvaluator, torch.nn.Module]:
    """The config with the checkpoint's model and data (resolved once), the val records, their
    evaluator and the model."""
    cfg = resolve_config(cfg)
    records = catalog.load_records(cfg.data, "val")
    evaluator = COCOEvaluator(cfg.data, records, cfg.model.mask_thresh, cfg.eval.backend)
    return cfg, records, evaluator, build_inference_model(cfg.model)


def segm_ap50(cfg: DictConfig, amp: str | bool = False) -> float:
    """segm AP50 of ``cfg.model`` on ``data.val`` in precision ``amp``: the evaluator alone,
    nothing printed or written (the export's before/after figures)."""
    cfg, records, evaluator, model = prepare(cfg)
    settings = dataclasses.replace(InferenceSettings.from_config(cfg), amp=amp)
    evaluator.add(predict(model, records, settings))
    return evaluator.evaluate()["segm"]["AP50"]


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
    final = cfg.output_dir
    with staged_outputs(final, EVAL_OUTPUTS) as stage:
        staged = cfg.copy()
        staged.output_dir = stage
        metrics = evaluate_into(staged, records, evaluator, model)
    print(f"\nreport: {os.path.join(final, 'report.html')}")
    return metrics


def evaluate_into(cfg: DictConfig, records, evaluator: COCOEvaluator, model) -> dict:
    """The evaluation itself, writing into ``cfg.output_dir``; returns metrics.json's dict."""
    names = evaluator.names
    gts = [compact_ground_truth(r) for r in records]
    settings = InferenceSettings.from_config(cfg)  # its precision resolved once, for every mode
    dtype = model.runs_in(settings.dtype) if isinstance(model, ExportedDetector) else settings.dtype
    summary, runs = {"images": len(records), "precision": precision_name(dtype)}, {}
    for gray in COLOR_MODES[cfg.eval.grayscale]:
        run = evaluate_mode(cfg, model, records, evaluator, gts, gray, settings)
        runs["gray" if gray else "rgb"] = run
        suffix = "_gray" if gray else ""
        write_outputs(cfg, run, records, gts, names, suffix)
        summary["gray" if gray else "rgb"] = public(run["metrics"])
        print(f"\n{'grayscale' if gray else 'RGB'} images ({len(records)}):")
        print(console.metrics_text(run["metrics"]))
        print(console.per_class_text(run["metrics"]))
    if cfg.eval.grayscale == "compare":
        summary["robustness"] = compare_report(cfg, records, gts, runs)
    main = summary.get("rgb") or summary["gray"]
    metrics = {
        "bbox_AP": main["bbox"]["AP"],
        "bbox_AP50": main["bbox"]["AP50"],
        "segm_AP": main["segm"]["AP"],
        "segm_AP50": main["segm"]["AP50"],
        "voc_mAP50": main["voc_mAP50"],
        **summary,
    }
    main_run = runs.get("rgb") or runs["gray"]
    analysis = error_analysis(cfg, main_run["preds"], gts, names)
    metrics["errors"] = {k: v for k, v in analysis.items() if k != "images_with"}
    write_json(os.path.join(cfg.output_dir, "metrics.json"), metrics)
    html = page.page(cfg, metrics, analysis, records, main_run["preds"], gts, names)
    write_page(os.path.join(cfg.output_dir, "report.html"), html)
    return metrics
