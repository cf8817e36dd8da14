"""Train or evaluate with a real Detectron2 on our datasets (Detectron2 ``train_net`` style).

python scripts/d2_train_net.py --config-file configs/detectron2/balloon_R101_FPN.yaml
python scripts/d2_train_net.py --config-file configs/detectron2/shapes_R50_FPN.yaml \
    --eval-only MODEL.WEIGHTS outputs/d2_shapes/model_final.pth

Without a GPU it runs on the CPU. A mistake in the config, a key or a file is one line, exit 2.
"""

from __future__ import annotations

import sys

from detectron2.engine import default_argument_parser, launch

from balloon_shapes.cli import guarded, quiet_libraries
from balloon_shapes.d2.train_net import main


def run(args) -> int:
    launch(main, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))
    return 0


if __name__ == "__main__":
    parsed = default_argument_parser(epilog=__doc__).parse_args()
    quiet_libraries()
    sys.exit(guarded(lambda: run(parsed)))
