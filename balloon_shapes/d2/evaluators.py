"""Our evaluators as Detectron2 ``DatasetEvaluator``s: the VOC-style per-image mask mAP@0.5 and
the RGB-vs-grayscale robustness report, for ``inference_on_dataset`` and ``build_evaluator``.

They turn Detectron2's outputs into the compact predictions ``eval.py`` scores and call the
same functions, so both give the same numbers on the same predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from balloon_shapes.config import yaml_node
from balloon_shapes.d2.engine_model import as_torchvision
from balloon_shapes.data.mapper import to_gray3
from balloon_shapes.evaluation import robustness
from balloon_shapes.evaluation.inference import compact
from balloon_shapes.evaluation.matching import compact_ground_truth
from balloon_shapes.evaluation.voc_style import voc_items, voc_map


def to_compact(image_id: int, instances) -> dict:
    """Detectron2 ``Instances`` -> ``inference.predict``'s form, through the same conversion
    ``model.engine=detectron2`` uses (its masks are already 0/1: any threshold in (0, 1))."""
    return compact(as_torchvision(instances), image_id, mask_thresh=0.5)


def gathered(items: list) -> list | None:
    """Every rank's items on the main process (None elsewhere), as Detectron2's evaluators do."""
    parts = comm.gather(items, dst=0)
    return [x for part in parts for x in part] if comm.is_main_process() else None


class VOCStyleEvaluator(DatasetEvaluator):
    """Per-image VOC-style mask mAP@0.5 (the Keras Mask R-CNN number) of ``dataset_name``."""

    def __init__(self, dataset_name: str) -> None:
        self.records = {r["image_id"]: r for r in DatasetCatalog.get(dataset_name)}
        self.preds: list[dict] = []

    def reset(self) -> None:
        self.preds = []

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        self.preds += [to_compact(i["image_id"], o["instances"]) for i, o in zip(inputs, outputs)]

    def evaluate(self) -> dict:
        preds = gathered(self.preds)
        if preds is None:
            return {}
        gts = [compact_ground_truth(self.records[p["image_id"]]) for p in preds]
        result = voc_map(voc_items(preds, gts))
        return {"voc_style": {"mAP50": result["mAP50"], "images": result["images"]}}


class RobustnessEvaluator(DatasetEvaluator):
    """RGB vs 3-channel grayscale: runs ``model`` once more on a gray copy of each input and
    reports VOC-style mAP@0.5 for both and recall per object/surround luminance contrast."""

    def __init__(
        self,
        dataset_name: str,
        model: torch.nn.Module,
        input_format: str,
        min_score: float = yaml_node("base.yaml").score_thresh,
    ) -> None:
        self.records = {r["image_id"]: r for r in DatasetCatalog.get(dataset_name)}
        self.min_score = min_score  # a ground truth counts as found by a prediction this sure
        self.model, self.bgr = model, input_format == "BGR"
        self.runs: dict[str, list[dict]] = {"rgb": [], "gray": []}

    def reset(self) -> None:
        self.runs = {"rgb": [], "gray": []}

    def gray_input(self, item: dict) -> dict:
        """``item`` with its image (C,H,W in the model's channel order) made 3-channel gray."""
        hwc = item["image"].permute(1, 2, 0).numpy().astype(np.uint8)
        rgb = hwc[:, :, ::-1] if self.bgr else hwc
        gray = to_gray3(np.ascontiguousarray(rgb))
        return {**item, "image": torch.from_numpy(np.ascontiguousarray(gray.transpose(2, 0, 1)))}

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        with torch.no_grad():
            gray_outputs = self.model([self.gray_input(i) for i in inputs])
        for i, rgb, gray in zip(inputs, outputs, gray_outputs):
            self.runs["rgb"].append(to_compact(i["image_id"], rgb["instances"]))
            self.runs["gray"].append(to_compact(i["image_id"], gray["instances"]))

    def evaluate(self) -> dict:
        runs = {mode: gathered(preds) for mode, preds in self.runs.items()}
        if runs["rgb"] is None:
            return {}
        records = [self.records[p["image_id"]] for p in runs["rgb"]]  # gray: same order
        gts = [compact_ground_truth(r) for r in records]
        out = {f"voc_mAP50_{m}": voc_map(voc_items(p, gts))["mAP50"] for m, p in runs.items()}
        rows = robustness.contrast_recall(records, gts, runs, self.min_score)  # eval.py's own
        for row in rows:
            for mode in runs:
                out[f"recall_{mode}_{row['contrast']}"] = row[f"recall_{mode}"]
        return {"robustness": out}
