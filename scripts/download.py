"""Fetch datasets and weights: verified, resumable, cached; offline, one line says what to do.

python scripts/download.py balloon [--root data]          # -> data/balloon/{train,val}
python scripts/download.py detectron2/mask_rcnn_R_101_FPN_3x   # weights -> the cache
"""

from __future__ import annotations

import argparse
import os
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.data.balloon import BALLOON_ZIP
from balloon_shapes.data.coco import COCO_ANNOTATIONS, COCO_VAL_IMAGES
from balloon_shapes.datasets_download import download_dataset
from balloon_shapes.download import cache_dir, fetch
from balloon_shapes.modeling.weights import ZOO

# name -> [(archive, folder under the root, top-level folder in the archive, required files)]
DATASETS = {
    "balloon": [
        (BALLOON_ZIP, "", "balloon", ["train/via_region_data.json", "val/via_region_data.json"])
    ],
    "coco-val": [
        (COCO_ANNOTATIONS, "coco", "annotations", ["instances_val2017.json"]),
        (COCO_VAL_IMAGES, "coco", "val2017", ["000000000139.jpg"]),
    ],
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=sorted(DATASETS) + sorted(ZOO))
    parser.add_argument(
        "--root",
        default=os.environ.get("BALLOON_SHAPES_DATA", "data"),
        help="data root for datasets (default: $BALLOON_SHAPES_DATA or ./data)",
    )
    args = parser.parse_args(argv)
    return guarded(lambda: get(args.what, args.root))


def get(what: str, root: str) -> int:
    if what in DATASETS:
        for resource, sub, name, required in DATASETS[what]:
            path, fresh = download_dataset(resource, os.path.join(root, sub), name, required)
            print(f"{what}: {'unpacked' if fresh else 'already'} at {path}")
    else:
        print(f"{what}: {fetch(ZOO[what].resource)} (cache {cache_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
