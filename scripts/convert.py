"""Convert annotations between VIA, COCO, LabelMe and YOLO segmentation.

python scripts/convert.py input=data/balloon/train/via_region_data.json to=coco output=train.json
python scripts/convert.py input=train_coco.json to=via output=data/balloon/train/via.json
python scripts/convert.py input=train_coco.json to=via1 output=data/balloon/train/via_export.json
python scripts/convert.py input=train_coco.json to=labelme output=labelme/
python scripts/convert.py input=train_coco.json to=yolo output=yolo/   # data.yaml, images/, labels/
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.data.convert import run_convert

if __name__ == "__main__":
    sys.exit(run_main(run_convert, sys.argv[1:], config_name="convert"))
