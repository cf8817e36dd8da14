import hashlib
import http.server
import threading

import pytest

from balloon_shapes.download import Resource, fetch
from balloon_shapes.errors import DownloadError

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at any path, honouring ``Range: bytes=N-`` (as GitHub and S3 do)."""

    served: list[tuple[str | None, int]] = []  # (Range header, bytes sent) per request

    def do_GET(self):
        start = int(self.headers.get("Range", "bytes=0-")[6:].rstrip("-") or 0)
        body = PAYLOAD[start:]
        RangeHandler.served.append((self.headers.get("Range"), len(body)))
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.served.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def resource(url, digest=DIGEST):
    return Resource(f"{url}/file.bin", "file.bin", digest)


def test_fetch_verifies_and_is_idempotent(server, tmp_path):
    path = fetch(resource(server), str(tmp_path))
    assert open(path, "rb").read() == PAYLOAD
    assert fetch(resource("http://127.0.0.1:9"), str(tmp_path)) == path  # cached: no network


def test_fetch_resumes_a_partial_download(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD[:1000])
    path = fetch(resource(server), str(tmp_path))
    assert open(path, "rb").read() == PAYLOAD
    assert RangeHandler.served == [("bytes=1000-", len(PAYLOAD) - 1000)]  # only the rest came


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="does not match"):
        fetch(resource(server, "ab" * 32), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_unpinned_digest_is_pinned_on_first_download(server, tmp_path):
    path = fetch(resource(server, ""), str(tmp_path))
    assert open(path + ".sha256").read().strip() == hashlib.sha256(PAYLOAD).hexdigest()
    open(path, "ab").write(b"tampered")
    with pytest.raises(DownloadError, match="does not match"):
        fetch(resource(server, ""), str(tmp_path))


def test_a_file_put_in_the_cache_by_hand_is_never_pinned(server, tmp_path):
    """A corrupt file found in the cache must not become the trusted digest: once deleted (as
    the error that finds it out says), the real download goes through and is pinned."""
    bad = tmp_path / "file.bin"
    bad.write_bytes(b"<html>captive portal</html>")
    assert fetch(resource(server, ""), str(tmp_path)) == str(bad)
    assert not (tmp_path / "file.bin.sha256").exists()
    bad.unlink()
    path = fetch(resource(server, ""), str(tmp_path))
    assert open(path, "rb").read() == PAYLOAD
    assert open(path + ".sha256").read().strip() == DIGEST


def test_a_pin_whose_file_was_deleted_is_dropped(server, tmp_path):
    (tmp_path / "file.bin.sha256").write_text("ab" * 32 + "\n")  # pinned from a bad download
    path = fetch(resource(server, ""), str(tmp_path))
    assert open(path + ".sha256").read().strip() == DIGEST


@pytest.mark.parametrize("offline", [False, True])
def test_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch, offline):
    if offline:
        monkeypatch.setenv("BALLOON_SHAPES_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        fetch(resource("http://127.0.0.1:9"), str(tmp_path), timeout=5)
    text = str(err.value)
    assert "http://127.0.0.1:9/file.bin" in text and str(tmp_path / "file.bin") in text
    assert "\n" not in text
    assert not (tmp_path / "file.bin").exists()
