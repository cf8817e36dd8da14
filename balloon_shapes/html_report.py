"""One self-contained HTML page per run (``report.html``): tables, figures and image grids with
every picture inlined as a data URI, so it opens anywhere with no network and no sibling files.

Rendered with Jinja2 (autoescaping on: class names and paths come from user data); Jinja2 is
already installed with torch, and hand-escaped f-strings are how reports grow XSS bugs.
"""

from __future__ import annotations

import base64
import datetime
import os
from dataclasses import dataclass, field

import cv2
import jinja2
import numpy as np

from balloon_shapes.files import atomic_write


@dataclass
class Table:
    """A titled table; ``keys`` (optional, per cell) become ``data-key`` attributes so a test
    can find a number and compare it with ``metrics.json``."""

    title: str
    header: list[str]
    rows: list[list]
    keys: list[list[str | None]] | None = None
    note: str = ""


@dataclass
class Figure:
    title: str
    uri: str  # data: URI
    note: str = ""


@dataclass
class Page:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    galleries: list[tuple[str, list[Figure]]] = field(default_factory=list)


def png_uri(png: bytes) -> str:
    """PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def jpeg_uri(image_rgb: np.ndarray, quality: int = 85) -> str:
    """An RGB image as a JPEG data URI (gallery tiles: a tenth of a PNG's size)."""
    ok, buf = cv2.imencode(".jpg", image_rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {image_rgb.shape} image as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def cell(v) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:.3f}"
    return str(v)


TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ page.title }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border:1px solid #ddd}
td{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
td:first-child{text-align:left}.note{color:#666;font-size:12px}
img{max-width:100%;border:1px solid #eee}.grid{display:flex;flex-wrap:wrap;gap:6px}
.grid figure{margin:0}.grid figcaption{font-size:11px;color:#555}
nav a{margin-right:12px}
</style></head><body>
<h1>{{ page.title }}</h1>
<table class="facts">{% for k, v in page.facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}</table>
<nav>{% for t in page.tables %}<a href="#t{{ loop.index }}">{{ t.title }}</a>{% endfor %}
{% for f in page.figures %}<a href="#f{{ loop.index }}">{{ f.title }}</a>{% endfor %}
{% for g in page.galleries %}<a href="#g{{ loop.index }}">{{ g[0] }}</a>{% endfor %}</nav>
{% for t in page.tables %}{% set ti = loop.index %}
<h2 id="t{{ ti }}">{{ t.title }}</h2>
<table><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in t.rows %}{% set ri = loop.index0 %}<tr>{% for v in r %}<td
{%- if t.keys and t.keys[ri][loop.index0] %} data-key="{{ t.keys[ri][loop.index0] }}"{% endif %}>
{{- cell(v) }}</td>{% endfor %}</tr>
{% endfor %}</table>{% if t.note %}<p class="note">{{ t.note }}</p>{% endif %}
{% endfor %}
{% for f in page.figures %}
<h2 id="f{{ loop.index }}">{{ f.title }}</h2><img src="{{ f.uri }}" alt="{{ f.title }}">
{% if f.note %}<p class="note">{{ f.note }}</p>{% endif %}
{% endfor %}
{% for title, items in page.galleries %}
<h2 id="g{{ loop.index }}">{{ title }}</h2><div class="grid">
{% for f in items %}<figure><img src="{{ f.uri }}" alt="{{ f.title }}">
<figcaption>{{ f.title }}</figcaption></figure>{% endfor %}</div>
{% endfor %}
<p class="note">written {{ now }} by balloon-shapes; every picture is inlined: no network,
no sibling files needed.</p>
</body></html>
"""
)


def render(page: Page) -> str:
    """The page as one HTML string."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return TEMPLATE.render(page=page, cell=cell, now=now)


def write_page(path: str, page: Page) -> None:
    """Write ``page`` to ``path`` atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(render(page))

    atomic_write(path, _write)


def figure_if_exists(title: str, path: str, note: str = "") -> list[Figure]:
    """``[Figure]`` for a PNG the run wrote, ``[]`` when it did not write it."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return [Figure(title, png_uri(f.read()), note)]
