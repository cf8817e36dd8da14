"""Pre-annotate images into a VIA 2.x project: correct it in VIA, then train on it as saved.

python scripts/annotate.py input=new_photos/ model.weights=outputs/balloon/checkpoints/best.ckpt
#   -> new_photos/via_project.json (images already in it are skipped: a re-run resumes)
python scripts/train.py +experiment=my_via data.root=... data.json_name=via_project.json \
    data.class_key=class
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.demo.annotate import run_annotate

if __name__ == "__main__":
    sys.exit(run_main(run_annotate, sys.argv[1:], config_name="annotate"))
