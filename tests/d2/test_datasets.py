"""Our datasets in a real Detectron2 (the shared wheel): its own mapper, loaders and trainer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.d2.conftest import WHY  # noqa: E402

pytest.importorskip("detectron2", reason=WHY)

from detectron2.data import (  # noqa: E402
    DatasetCatalog,
    DatasetMapper,
    MetadataCatalog,
    build_detection_train_loader,
)
from detectron2.data.detection_utils import read_image  # noqa: E402
from detectron2.engine import DefaultTrainer  # noqa: E402

from balloon_shapes.d2.datasets import register_in_detectron2  # noqa: E402
from balloon_shapes.data import catalog, shapes  # noqa: E402
from tests.d2.conftest import tiny_cfg  # noqa: E402


def test_every_catalog_name_is_registered_with_metadata(registered):
    for name in catalog.names():
        assert name in DatasetCatalog.list(), name
        assert MetadataCatalog.get(name).evaluator_type == "coco"
    assert MetadataCatalog.get("shapes_val").thing_classes == list(shapes.CLASSES)
    assert register_in_detectron2() == []  # already registered: nothing twice


def test_detectron2_reads_generated_images_by_name(registered):
    record = DatasetCatalog.get("shapes_val")[2]
    assert record["file_name"].startswith("shapes://0/2.png?")
    bgr = read_image(record["file_name"], format="BGR")
    assert np.array_equal(bgr[:, :, ::-1], record["image"])  # the same pixels, BGR as it wants
    from detectron2.utils.file_io import PathManager

    assert PathManager.exists(record["file_name"]) and PathManager.isfile(record["file_name"])
    assert not PathManager.exists("shapes://x/2.png")  # not one of ours: False, not an error


@pytest.mark.parametrize(
    "name, workers", [("shapes_train", 0), ("shapes_train", 2), ("balloon_train", 0)]
)
def test_detectron2_train_loader_maps_our_datasets(registered, tmp_path, name, workers):
    cfg = tiny_cfg(name, str(tmp_path))
    cfg.DATALOADER.NUM_WORKERS = workers
    loader = build_detection_train_loader(cfg, mapper=DatasetMapper(cfg, is_train=True))
    batches = list(zip(range(3), loader))
    for _, batch in batches:
        assert len(batch) == 2
        for item in batch:
            inst = item["instances"]
            assert item["image"].shape[0] == 3 and len(inst) == len(inst.gt_masks)
    if name == "shapes_train":  # an endless stream: no two workers draw the same image
        ids = [item["image_id"] for _, batch in batches for item in batch]
        assert len(set(ids)) == len(ids) == 6


def test_default_trainer_trains_on_the_shapes_stream(registered, tmp_path):
    trainer = DefaultTrainer(tiny_cfg("shapes_train", str(tmp_path)))
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert trainer.iter == 2  # MAX_ITER 2: both iterations ran
    assert (tmp_path / "model_final.pth").exists()
