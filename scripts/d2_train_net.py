"""Train or evaluate with a real Detectron2 on our datasets (Detectron2 ``train_net`` style).

python scripts/d2_train_net.py --config-file configs/detectron2/balloon_R101_FPN.yaml
python scripts/d2_train_net.py --config-file configs/detectron2/shapes_R50_FPN.yaml \
    --eval-only MODEL.WEIGHTS outputs/d2_shapes/model_final.pth

Without a GPU it runs on the CPU. A mistake in the config, a key or a file is one line, exit 2.
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import EXIT_USER_ERROR, guarded, quiet_libraries

MISSING = "detectron2 is not installed (optional: build it from source; no registry wheels)"


def run(args) -> int:
    from detectron2.engine import launch

    from balloon_shapes.d2.train_net import main

    launch(main, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))
    return 0


def without_detectron2() -> int:
    """--help still answers (with what is missing); anything else is one line, exit 2."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(f"usage: {sys.argv[0]} --config-file FILE [--eval-only] [KEY VALUE ...]\n{__doc__}")
        print(f"note: {MISSING}")
        return 0
    print(f"error: {MISSING}", file=sys.stderr)
    return EXIT_USER_ERROR


if __name__ == "__main__":
    try:  # the optional dependency itself, not a broad net: any other error still shows
        from detectron2.engine import default_argument_parser
    except ModuleNotFoundError as e:
        if e.name != "detectron2" and not str(e.name).startswith("detectron2."):
            raise
        sys.exit(without_detectron2())
    parsed = default_argument_parser(epilog=__doc__).parse_args()
    quiet_libraries()
    sys.exit(guarded(lambda: run(parsed)))
