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
