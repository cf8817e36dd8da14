"""What VIA 2.0.x's project loader (``project_open_parse_json_file`` and the functions it calls
in ox-vgg/via ``via-2.x.y/src/via.js``) needs of a project file, restated as checks: a file
that fails one either does not open ("corrupt file"), throws half-way, or loses entries
without a word. Written from reading via.js, not copied from it."""

from __future__ import annotations

import json

# the settings tree VIA starts with: its importer assigns s[k1][k2][k3] into it, so a nested
# key VIA lacks throws a TypeError in the browser
VIA_SETTINGS_OBJECTS = {
    "ui": {"image_grid", "image"},
    "core": {"filepath"},
    "project": set(),
}
SHAPES = {"rect", "circle", "ellipse", "polygon", "polyline", "point"}
CHOICE_TYPES = {"dropdown", "radio"}


def problems(text: str) -> list[str]:
    """Every reason VIA 2.0.x would refuse, break on, or silently drop part of this project."""
    d = json.loads(text)
    out = []
    for key in ("_via_settings", "_via_img_metadata", "_via_attributes"):
        if not d.get(key):  # JS truthiness: an empty object is truthy, a missing key is not
            if key not in d or d[key] is None:
                out.append(f"{key} missing: 'Cannot import project from a corrupt file'")
    out += settings_problems(d.get("_via_settings") or {})
    meta = d.get("_via_img_metadata") or {}
    for img_id, entry in meta.items():
        if not all(k in entry for k in ("filename", "size", "regions", "file_attributes")):
            out.append(f"{img_id}: dropped as malformed")
            continue
        if img_id != f"{entry['filename']}{entry['size']}":
            out.append(f"{img_id}: key is not filename + size (VIA matches added files by it)")
        if not isinstance(entry["regions"], list):
            out.append(f"{img_id}: regions not an array (attribute parsing reads .length)")
            continue
        out += region_problems(img_id, entry["regions"], d.get("_via_attributes") or {})
    for img_id in d.get("_via_image_id_list", []):
        if img_id not in meta:
            out.append(f"_via_image_id_list names {img_id!r}, not in _via_img_metadata (throws)")
    attributes = d.get("_via_attributes") or {}
    for kind in ("region", "file"):
        if not isinstance(attributes.get(kind, {}), dict):
            out.append(f"_via_attributes.{kind} is not an object")
    return out


def settings_problems(settings: dict) -> list[str]:
    out = []
    for k1, v1 in settings.items():
        if not isinstance(v1, dict):
            continue
        if k1 not in VIA_SETTINGS_OBJECTS:
            out.append(f"_via_settings.{k1}: VIA has no such settings group (TypeError)")
            continue
        for k2, v2 in v1.items():
            if isinstance(v2, dict) and k2 not in VIA_SETTINGS_OBJECTS[k1]:
                out.append(f"_via_settings.{k1}.{k2}: VIA has no such object (TypeError)")
    return out


def region_problems(img_id: str, regions: list, attributes: dict) -> list[str]:
    out = []
    definitions = attributes.get("region", {})
    for i, region in enumerate(regions):
        shape = region.get("shape_attributes", {})
        if shape.get("name") not in SHAPES:
            out.append(f"{img_id} region {i}: shape {shape.get('name')!r} VIA cannot draw")
        if shape.get("name") in ("polygon", "polyline"):
            xs, ys = shape.get("all_points_x", []), shape.get("all_points_y", [])
            if len(xs) != len(ys) or len(xs) < 3:
                out.append(f"{img_id} region {i}: polygon with {len(xs)}/{len(ys)} points")
            if not all(isinstance(v, (int, float)) for v in xs + ys):
                out.append(f"{img_id} region {i}: non-numeric vertices")
        for name, value in (region.get("region_attributes") or {}).items():
            definition = definitions.get(name, {})
            if definition.get("type") in CHOICE_TYPES and value not in definition["options"]:
                out.append(f"{img_id} region {i}: {name}={value!r} is not one of its options")
    return out
