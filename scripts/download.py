"""Fetch datasets and weights: verified, resumable, cached; offline, one line says what to do.

python scripts/download.py balloon [--root data]          # -> data/balloon/{train,val}
python scripts/download.py detectron2/mask_rcnn_R_101_FPN_3x   # weights -> the cache
"""

from __future__ import annotations

import argparse
import os
import sys

from balloon_shapes.data.balloon import BALLOON_ZIP
from balloon_shapes.datasets_download import download_dataset
from balloon_shapes.download import DownloadError, cache_dir, fetch
from balloon_shapes.modeling.weights import ZOO

DATASETS = {"balloon": (BALLOON_ZIP, ["train/via_region_data.json", "val/via_region_data.json"])}


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
            resource, required = DATASETS[args.what]
            path, fresh = download_dataset(resource, args.root, args.what, required)
            print(f"{args.what}: {'unpacked' if fresh else 'already'} at {path}")
        else:
            print(f"{args.what}: {fetch(ZOO[args.what].resource)} (cache {cache_dir()})")
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
