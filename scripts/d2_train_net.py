"""Train or evaluate with a real Detectron2 on our datasets (Detectron2 ``train_net`` style).

python scripts/d2_train_net.py --config-file configs/detectron2/balloon_R101_FPN.yaml
python scripts/d2_train_net.py --config-file configs/detectron2/shapes_R50_FPN.yaml \
    --eval-only MODEL.WEIGHTS outputs/d2_shapes/model_final.pth
"""

from __future__ import annotations

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser, default_setup, launch

from balloon_shapes.d2.datasets import register_in_detectron2
from balloon_shapes.d2.trainer import Trainer, loader_args
from balloon_shapes.modeling.detectron2_engine import load_cfg


def main(args):
    cfg = load_cfg(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    register_in_detectron2(loader_args(cfg))
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(main, args.num_gpus, args.num_machines, args.machine_rank, args.dist_url, args=(args,))
