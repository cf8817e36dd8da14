"""report.html is autoescaped: class names, dataset names and paths come from the user's data
(a VIA attribute, a folder name) and must show as text, never become markup or script."""

from __future__ import annotations

from html.parser import HTMLParser

from balloon_shapes.html_report import Figure, Page, Table, render

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "balloons & kites <b>",
    "data/ä ö/<x>.jpg",
]


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_user_strings_render_as_text_not_markup():
    page = Page(
        HOSTILE[0],
        facts=[("dataset", HOSTILE[2]), ("weights", HOSTILE[3])],
        tables=[Table(HOSTILE[1], ["class", "AP"], [[name, 0.5] for name in HOSTILE])],
        figures=[Figure(HOSTILE[1], "data:image/png;base64,AAAA", note=HOSTILE[2])],
        galleries=[(HOSTILE[2], [Figure(HOSTILE[0], "data:image/jpeg;base64,AAAA")])],
    )
    parsed = Collector()
    parsed.feed(render(page))
    assert not [t for t, _ in parsed.tags if t in ("script", "b")]
    assert not [a for _, a in parsed.tags if "onerror" in a]
    text = "".join(parsed.text)
    assert all(s in text for s in HOSTILE)  # shown to the reader exactly as written


def test_pictures_are_inlined_as_data_uris_that_decode_to_the_image(tmp_path):
    import base64

    import cv2
    import numpy as np

    from balloon_shapes.html_report import figure_if_exists, jpeg_uri, png_uri, write_page

    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[..., 0] = 220  # red: a channel swap would make it blue
    cv2.imwrite(str(tmp_path / "f.png"), rgb[:, :, ::-1])
    png = png_uri((tmp_path / "f.png").read_bytes())
    assert png.startswith("data:image/png;base64,")
    assert base64.b64decode(png.split(",", 1)[1]) == (tmp_path / "f.png").read_bytes()
    uri = jpeg_uri(rgb, quality=95)
    assert uri.startswith("data:image/jpeg;base64,")
    data = np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8)
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]  # back to RGB
    assert np.abs(decoded.astype(int) - rgb).max() <= 8
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert len(jpeg_uri(noise, quality=30)) < len(jpeg_uri(noise, quality=95))  # quality used
    (figure,) = figure_if_exists("PR curves", str(tmp_path / "f.png"), note="n")
    assert (figure.title, figure.note) == ("PR curves", "n") and figure.uri == png
    assert figure_if_exists("missing", str(tmp_path / "nope.png")) == []
    write_page(str(tmp_path / "r.html"), Page("Auswertung: Ballons ä ö €"))
    assert "Ballons ä ö €" in (tmp_path / "r.html").read_bytes().decode("utf-8")
