"""Fetch datasets and weights: verified, resumable, cached; offline, one line says what to do.

python scripts/download.py balloon [--root data]          # -> data/balloon/{train,val}
python scripts/download.py detectron2/mask_rcnn_R_101_FPN_3x   # weights -> the cache
"""

from __future__ import annotations

import argparse
import os
import sys

from balloon_shapes.data.balloon import BALLOON_ZIP
from balloon_shapes.data.coco import COCO_ANNOTATIONS, COCO_VAL_IMAGES
from balloon_shapes.datasets_download import download_dataset
from balloon_shapes.download import DownloadError, cache_dir, fetch
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
    try:
        if args.what in DATASETS:
            for resource, sub, name, required in DATASETS[args.what]:
                root = os.path.join(args.root, sub)
                path, fresh = download_dataset(resource, root, name, required)
                print(f"{args.what}: {'unpacked' if fresh else 'already'} at {path}")
        else:
            print(f"{args.what}: {fetch(ZOO[args.what].resource)} (cache {cache_dir()})")
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
