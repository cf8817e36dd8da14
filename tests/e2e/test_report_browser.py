"""report.html opened in a real headless Chromium: every image loads, no console error, no
network request, and the metrics table shows the numbers in metrics.json."""

import json
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WHY = "no Chromium: `make test` installs Debian's chromium with apt-get where it can"
REQUIRED = os.environ.get("BALLOON_SHAPES_REQUIRE_BROWSER") == "1"  # CI: a skip is a failure
FLAGS = [  # as the machine notes: no background networking on a closed network
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail(WHY)
        pytest.skip(WHY)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_page(browser, path):
    """The page at ``path`` with its console errors and every non-file/data request seen."""
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def images(page):
    return page.eval_on_selector_all(
        "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])"
    )


def keyed_cells(page):
    return page.eval_on_selector_all(
        "td[data-key]", "els => els.map(e => [e.dataset.key, e.textContent.trim()])"
    )


def lookup(metrics, key):
    value = metrics
    for part in key.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@pytest.mark.slow
def test_eval_report_in_chromium(browser, evaluated):
    out, _ = evaluated
    metrics = json.loads((out / "metrics.json").read_text())
    page, errors, requests = open_page(browser, out / "report.html")
    imgs = images(page)
    assert len(imgs) >= 5 + 6  # the figures, then at least every one of the 6 images
    broken = [alt for alt, complete, width in imgs if not (complete and width > 0)]
    assert broken == [], f"images that did not load: {broken}"
    assert errors == [] and requests == []
    cells = keyed_cells(page)
    assert len(cells) == 2 * (2 * 6 + 1)  # rgb and gray: bbox and segm rows + VOC mAP
    for key, text in cells:
        value = lookup(metrics, key)
        assert text == ("n/a" if value < 0 else f"{value:.3f}"), key  # COCO's -1: none
    headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
    assert {"Error breakdown", "Confusion matrix", "Per class"} <= set(headings)
    page.close()


@pytest.mark.slow
def test_training_report_in_chromium(browser, evaluated):
    run = evaluated[0].parent / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    page, errors, requests = open_page(browser, run / "report.html")
    assert errors == [] and requests == []
    assert [w > 0 for _, _, w in images(page)] == [True]  # predictions.png
    cells = keyed_cells(page)
    assert len(cells) == 7 * len(metrics["history"])
    for key, text in cells:
        value = lookup(metrics, key)
        assert text == (f"{value:.3f}" if isinstance(value, float) else str(value)), key
    page.close()
