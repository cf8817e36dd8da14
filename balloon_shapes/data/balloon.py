"""The balloon dataset (VIA, 61 train / 13 val images) and any user VIA dataset laid out the same
way: ``<root>/train`` and ``<root>/val``, each with images and a VIA json.

    python -m balloon_shapes.data.balloon --check data/balloon     # summary, no training
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from balloon_shapes.cli import guarded
from balloon_shapes.data.via import (
    ViaError,
    ViaOptions,
    format_report,
    load_via,
    shared_images,
)
from balloon_shapes.download import Archive, Resource

log = logging.getLogger(__name__)

# The classic Keras Mask R-CNN release. Its SHA-256 is pinned from the first verified download.
BALLOON_ZIP = Resource(
    url="https://github.com/matterport/Mask_RCNN/releases/download/v2.1/balloon_dataset.zip",
    filename="balloon_dataset.zip",
    sha256="",
)
ARCHIVES = (
    Archive(BALLOON_ZIP, "", "balloon", ("train/via_region_data.json", "val/via_region_data.json")),
)


def load_via_folder(
    root: str,
    split: str,
    classes: list[str] | None = None,
    class_key: str | None = None,
    json_name: str | None = None,
) -> list[dict]:
    """Records of ``<root>/<split>``; problems that did not stop loading are logged."""
    folder = os.path.join(os.path.expanduser(root), split)
    if not os.path.isdir(folder):
        raise ViaError(
            f"{folder}: no such folder; for balloons run `python scripts/download.py balloon`"
            " or set data.root"
        )
    default = ViaOptions()
    options = ViaOptions(
        list(classes or default.classes), class_key, json_name or default.json_name
    )
    records, report = load_via(folder, options)
    if split == "val":
        report.problems += leaks(records, os.path.join(os.path.expanduser(root), "train"))
    if report.problems:
        log.warning("%s: %d problems, e.g. %s", folder, len(report.problems), report.problems[0])
    return records


def leaks(val_records: list[dict], train_folder: str) -> list[str]:
    """Val images whose bytes are also a train image: a warning, not an error (a user may
    mean it for a quick check), since every validation figure then overstates."""
    return [
        f"{v}: the same image as {t} in train; validation figures will overstate"
        for v, t in shared_images(val_records, train_folder)
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check a VIA dataset folder (train/ and val/).")
    parser.add_argument("--check", metavar="ROOT", required=True, help="dataset root")
    default = ViaOptions()
    parser.add_argument("--classes", nargs="+", default=default.classes, help="class names")
    parser.add_argument("--class-key", default=None, help="region_attributes key of the class")
    parser.add_argument("--json-name", default=default.json_name)
    args = parser.parse_args(argv)
    options = ViaOptions(args.classes, args.class_key, args.json_name)
    return guarded(lambda: check(args.check, options))


def check(root: str, options: ViaOptions) -> int:
    """Print each split's summary; exit code 2 when an image or region would stop training."""
    errors = 0
    for split in ("train", "val"):
        folder = os.path.join(root, split)
        records, report = load_via(folder, options, strict=False)
        if split == "val":
            report.problems += leaks(records, os.path.join(root, "train"))
        print(format_report(report, folder))
        errors += len(report.errors)
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
