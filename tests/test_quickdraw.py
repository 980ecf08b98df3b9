"""Quick Draw downloads against a local HTTP server on 127.0.0.1: resume, corruption, offline."""
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ganviz import data
from ganviz.data import quickdraw
from ganviz.errors import DataError


def _npy_bytes(n: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).integers(0, 256, (n, 784), dtype=np.uint8))
    return buf.getvalue()


class Server:
    """Serves /camel.npy; can cut a transfer short once, or serve damaged bytes."""

    def __init__(self, body: bytes):
        self.body, self.cut_after, self.requests = body, None, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                if self.path != "/camel.npy":
                    self.send_error(404)
                    return
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                body = outer.body[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    self.wfile.write(body[:outer.cut_after])
                    outer.cut_after = None
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(monkeypatch):
    s = Server(_npy_bytes(300))
    monkeypatch.setenv("GANVIZ_QUICKDRAW_URL", s.url)
    yield s
    s.httpd.shutdown()


def test_download_check_and_cache(server, tmp_path):
    seen = []
    path = quickdraw.download("camel", tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == server.body and seen[-1] == (len(server.body), len(server.body))
    assert quickdraw.download("Camel", tmp_path) == path and len(server.requests) == 1  # cached, any case
    ds = data.load("quickdraw:camel:120")
    assert ds.images.shape == (120, 28, 28) and ds.images.dtype == np.uint8


def test_an_interrupted_download_resumes(server, tmp_path):
    server.cut_after = 50_000
    with pytest.raises(DataError, match="the next try resumes"):
        quickdraw.download("camel", tmp_path)
    assert (tmp_path / "quickdraw" / "camel.npy.part").stat().st_size == 50_000
    path = quickdraw.download("camel", tmp_path)
    assert server.requests[-1] == ("/camel.npy", "bytes=50000-")
    assert path.read_bytes() == server.body and not (tmp_path / "quickdraw" / "camel.npy.part").exists()


def test_a_corrupted_download_is_removed(server, tmp_path):
    server.body = server.body[:-784]  # header promises 300 drawings, 299 arrive
    with pytest.raises(DataError, match="damaged and was removed.*header promises"):
        quickdraw.download("camel", tmp_path)
    assert not any((tmp_path / "quickdraw").iterdir())
    server.body = _npy_bytes(3).replace(b"'|u1'", b"'<f4'")[:200]
    with pytest.raises(DataError, match="damaged"):
        quickdraw.download("camel", tmp_path)


def test_offline_says_which_file_to_get_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_QUICKDRAW_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(DataError) as exc:
        quickdraw.download("camel", tmp_path)
    msg = str(exc.value)
    assert "127.0.0.1:9/camel.npy" in msg and str(tmp_path / "quickdraw" / "camel.npy") in msg


def test_unknown_categories_get_suggestions():
    assert len(quickdraw.CATEGORIES) == 345 and quickdraw.check_category("hot dog") == "hot dog"
    with pytest.raises(DataError, match="did you mean camel"):
        quickdraw.check_category("camle")
    with pytest.raises(DataError, match="345 categories"):
        quickdraw.check_category("xyzzy")
    assert quickdraw.url_for("The Eiffel Tower").endswith("/The%20Eiffel%20Tower.npy")


def test_cli_trains_on_quickdraw_through_the_server(server, tmp_path):
    from ganviz.cli import main
    assert main(["train", "--dataset", "quickdraw:camel:100", "--steps", "2", "--batch", "8",
                 "--variant", "transpose", "--measure-size", "8", "--out", str(tmp_path / "run")]) == 0
    from ganviz.store.bundle import load_bundle
    b = load_bundle(tmp_path / "run" / "transpose")
    assert b.config.dataset == "quickdraw:camel:100" and b.meta["n_train_images"] == 100
