"""Color splash (or overlays) on a video: decode, model and encode run concurrently.

    python scripts/video_demo.py input=balloons.mp4 output=splash.mp4 model.weights=best.ckpt
    python scripts/video_demo.py input=clip.mp4 output=out.mp4 mode=overlay every_n=3 \
        max_frames=300 detections_json=dets.json model.weights=...
    python scripts/video_demo.py input=0 output=outputs/demo model.weights=...  # webcam; Ctrl-C
"""

from __future__ import annotations

import sys

from balloon_shapes.cli import run_main
from balloon_shapes.demo.video import run_video_demo

if __name__ == "__main__":
    sys.exit(run_main(run_video_demo, sys.argv[1:], config_name="video_demo"))
