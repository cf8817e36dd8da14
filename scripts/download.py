"""Fetch datasets and weights: verified, resumable, cached; offline, one line says what to do.

python scripts/download.py balloon [--root data]          # -> data/balloon/{train,val}
python scripts/download.py detectron2/mask_rcnn_R_101_FPN_3x   # weights -> the cache
"""

from __future__ import annotations

import argparse
import os
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.data.catalog import DOWNLOADS
from balloon_shapes.download import cache_dir, download_dataset, fetch
from balloon_shapes.modeling.weights import ZOO


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=sorted(DOWNLOADS) + sorted(ZOO))
    parser.add_argument(
        "--root",
        default=os.environ.get("BALLOON_SHAPES_DATA", "data"),
        help="data root for datasets (default: $BALLOON_SHAPES_DATA or ./data)",
    )
    args = parser.parse_args(argv)
    return guarded(lambda: get(args.what, args.root))


def get(what: str, root: str) -> int:
    if what in DOWNLOADS:
        for archive in DOWNLOADS[what]:
            path, fresh = download_dataset(archive, root)
            print(f"{what}: {'unpacked' if fresh else 'already'} at {path}")
    else:
        print(f"{what}: {fetch(ZOO[what].resource)} (cache {cache_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
