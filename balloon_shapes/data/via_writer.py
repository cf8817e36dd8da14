"""VIA 2.x projects that VIA 2.0.x opens as they are, and our VIA loader reads back.

What VIA's project loader needs (``project_open_parse_json_file`` in ox-vgg/via 2.0.x): the
top-level ``_via_settings``, ``_via_img_metadata`` and ``_via_attributes``; settings nested only
under the keys VIA itself has (``ui``, ``core``, ``project``); every image entry with
``filename``, ``size``, ``regions`` (a list) and ``file_attributes`` (else VIA drops it without
a word); ``_via_image_id_list`` naming only keys of ``_via_img_metadata``. Keys are file name +
size in bytes, as VIA makes them. Polygon vertices are pixel indices (VIA's convention): the
continuous coordinates of ``data.polygons`` minus 0.5, the inverse of ``via.clip_polygon``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

VIA_VERSION = "2.0.10"
CLASS_ATTRIBUTE = "class"  # region dropdown whose options are the class names
SCORE_ATTRIBUTE = "score"  # region text: the model's score, empty for a person's region
REVIEW_ATTRIBUTE = "review"  # file dropdown: "yes" where a score fell in the review band
UNCERTAINTY_ATTRIBUTE = "uncertainty"  # file text: how unsure the model was (annotate rank=)


def via_settings(name: str) -> dict:
    """VIA's own default settings (2.0.10), with the project's name."""
    return {
        "ui": {
            "annotation_editor_height": 25,
            "annotation_editor_fontsize": 0.8,
            "leftsidebar_width": 18,
            "image_grid": {
                "img_height": 80,
                "rshape_fill": "none",
                "rshape_fill_opacity": 0.3,
                "rshape_stroke": "yellow",
                "rshape_stroke_width": 2,
                "show_region_shape": True,
                "show_image_policy": "all",
            },
            "image": {
                "region_label": CLASS_ATTRIBUTE,  # regions show their class on the image
                "region_color": CLASS_ATTRIBUTE,  # and are colored by it
                "region_label_font": "10px Sans",
                "on_image_annotation_editor_placement": "NEAR_REGION",
            },
        },
        "core": {"buffer_size": 18, "filepath": {}, "default_filepath": ""},
        "project": {"name": name},
    }


def via_attributes(classes: Sequence[str]) -> dict:
    """The class as a dropdown (option id = its description = the class name, so VIA's COCO
    export and our loader agree), the score as text, the review flag per file."""
    return {
        "region": {
            CLASS_ATTRIBUTE: {
                "type": "dropdown",
                "description": "object class",
                "options": {c: c for c in classes},
                "default_options": {},
            },
            SCORE_ATTRIBUTE: {
                "type": "text",
                "description": "model score (empty: drawn by a person)",
                "default_value": "",
            },
        },
        "file": {
            REVIEW_ATTRIBUTE: {
                "type": "dropdown",
                "description": "a prediction's score fell in the review band",
                "options": {"yes": "check this image", "no": ""},
                "default_options": {},
            },
            UNCERTAINTY_ATTRIBUTE: {
                "type": "text",
                "description": "how unsure the model was (higher: label first; ranking.csv)",
                "default_value": "",
            },
        },
    }


def new_project(name: str, classes: Sequence[str]) -> dict:
    """An empty VIA 2.x project."""
    return {
        "_via_settings": via_settings(name),
        "_via_img_metadata": {},
        "_via_attributes": via_attributes(classes),
        "_via_data_format_version": VIA_VERSION,
        "_via_image_id_list": [],
    }


def polygon_region(flat: Sequence[float], class_name: str, score: float | None = None) -> dict:
    """One region from a polygon in continuous coordinates ``[x0, y0, x1, y1, ...]``."""
    return {
        "shape_attributes": {
            "name": "polygon",
            "all_points_x": [round(x - 0.5, 3) for x in flat[0::2]],
            "all_points_y": [round(y - 0.5, 3) for y in flat[1::2]],
        },
        "region_attributes": {
            CLASS_ATTRIBUTE: class_name,
            SCORE_ATTRIBUTE: "" if score is None else f"{score:.3f}",
        },
    }


def entry_key(filename: str, size: int) -> str:
    """VIA's image id: the file name followed by its size in bytes."""
    return f"{filename}{size}"


def image_entry(filename: str, size: int, regions: list[dict], review: bool = False) -> dict:
    return {
        "filename": filename,
        "size": size,
        "regions": regions,
        "file_attributes": {REVIEW_ATTRIBUTE: "yes" if review else "no"},
    }


def put_entry(project: dict, entry: dict) -> None:
    """Add ``entry`` (or replace the one of the same key, keeping its place in VIA's order)."""
    key = entry_key(entry["filename"], entry["size"])
    if key not in project["_via_img_metadata"]:
        project["_via_image_id_list"].append(key)
    project["_via_img_metadata"][key] = entry


def file_entry(folder: str, path: str, regions: list[dict], review: bool = False) -> dict:
    """The entry of image ``path``, named relative to the project's ``folder``."""
    return image_entry(
        os.path.relpath(path, folder).replace(os.sep, "/"), os.path.getsize(path), regions, review
    )
