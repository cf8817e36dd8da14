"""Export shapes images as a COCO dataset for inspection or evaluation.

python scripts/export_shapes.py OUT_DIR [--n 16] [--seed 0] [--size 128]
"""

from __future__ import annotations

import argparse
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.data import catalog
from balloon_shapes.data.coco_writer import export_coco


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="new folder for annotations.json and images/")
    parser.add_argument(
        "--n", type=int, default=16, help="number of images (the first n val images)"
    )
    parser.add_argument("--seed", type=int, default=0, help="shapes stream seed (0: the val set)")
    parser.add_argument("--size", type=int, default=128, help="image height and width in pixels")
    args = parser.parse_args(argv)
    spec = {"height": args.size, "width": args.size}
    records = catalog.get("shapes_val", seed=args.seed, size=args.n, spec=spec)
    names = catalog.metadata("shapes_val")["thing_classes"]

    def body() -> int:
        print(f"wrote {len(records)} images to {export_coco(records, names, args.out_dir)}")
        return 0

    return guarded(body)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
