"""``encore data download``: a local HTTP server with Range support stands in for the hosts."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data import download as dl
from encore.data.download import Dataset, DownloadError, download
from encore.errors import DataError

FILE = "fma-genres/tracks_small_genre_labels.csv"


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; answers ``Range: bytes=N-`` with 206 and records what it saw."""

    seen_ranges: ClassVar[list[str | None]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        RangeHandler.seen_ranges.append(self.headers.get("Range"))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes=") : -1])
            if start >= len(data):
                self.send_error(416, "Range Not Satisfiable")
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(shared_data: Path) -> Iterator[str]:
    def handler(*args: object, **kwargs: object) -> RangeHandler:
        return RangeHandler(*args, directory=str(shared_data), **kwargs)  # type: ignore[arg-type]

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    RangeHandler.seen_ranges = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _entry(base: str, sha: str | None = None, name: str = "fma-small-labels") -> Dataset:
    return Dataset(name, f"{base}/{FILE}", "test entry", sha256=sha)


def test_full_download_checksum_ok(server: str, shared_data: Path, tmp_path: Path) -> None:
    original = (shared_data / FILE).read_bytes()
    sha = hashlib.sha256(original).hexdigest()
    res = download(_entry(server, sha), dest=tmp_path)
    assert res.path == tmp_path / "fma-small-labels" / "tracks_small_genre_labels.csv"
    assert res.path.read_bytes() == original
    assert res.sha256 == sha and res.verified and not res.cached and res.resumed_from == 0
    assert not res.path.with_name(res.path.name + ".part").exists()
    # a second call finds the verified copy and does not ask the server again
    before = len(RangeHandler.seen_ranges)
    again = download(_entry(server, sha), dest=tmp_path)
    assert again.cached and len(RangeHandler.seen_ranges) == before


def test_resume_from_part_file(server: str, shared_data: Path, tmp_path: Path) -> None:
    original = (shared_data / FILE).read_bytes()
    folder = tmp_path / "fma-small-labels"
    folder.mkdir()
    cut = len(original) // 3
    (folder / "tracks_small_genre_labels.csv.part").write_bytes(original[:cut])
    res = download(_entry(server, hashlib.sha256(original).hexdigest()), dest=tmp_path)
    assert RangeHandler.seen_ranges == [f"bytes={cut}-"]
    assert res.resumed_from == cut
    assert res.path.read_bytes() == original


def test_trust_on_first_use_records_then_verifies(
    server: str, shared_data: Path, tmp_path: Path
) -> None:
    original = (shared_data / FILE).read_bytes()
    res = download(_entry(server), dest=tmp_path)
    assert res.recorded and not res.verified
    record = json.loads((tmp_path / "checksums.json").read_text())
    assert record["fma-small-labels"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert record["fma-small-labels"]["size"] == len(original)
    again = download(_entry(server), dest=tmp_path, force=True)
    assert again.verified and not again.recorded
    # a different file under the same name no longer matches the record
    other = Dataset("fma-small-labels", f"{server}/fma-genres/genres.csv", "changed upstream")
    with pytest.raises(DataError, match="checksum mismatch"):
        download(other, dest=tmp_path, force=True)


def test_checksum_mismatch_removes_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download(_entry(server, "0" * 64), dest=tmp_path)
    assert "removed" in str(err.value)
    assert list((tmp_path / "fma-small-labels").iterdir()) == []


def test_http_404_is_a_clear_error(server: str, tmp_path: Path) -> None:
    missing = Dataset("nothing", f"{server}/no/such/file.zip", "missing")
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(missing, dest=tmp_path)
    assert "file.zip" in str(err.value)
    assert list((tmp_path / "nothing").iterdir()) == []


def test_unreachable_host(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot reach"):
        download(Dataset("x", "http://127.0.0.1:9/x.zip", "closed port"), dest=tmp_path, timeout=5)


def test_cli_download_with_url_base_and_list(
    server: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = Dataset(
        "fma-small-labels", "https://example.invalid/fma/tracks_small_genre_labels.csv", "test"
    )
    monkeypatch.setattr(dl, "CATALOGUE", {entry.name: entry})
    monkeypatch.setenv("ENCORE_CACHE", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["data", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)[0]["cached"] == "no"
    res = runner.invoke(
        app,
        [
            "data",
            "download",
            "fma-small-labels",
            "--url-base",
            f"{server}/fma-genres",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "downloaded" and out["checksum"] == "recorded"
    assert Path(out["path"]).read_bytes() == (shared_data / FILE).read_bytes()
    listed = runner.invoke(app, ["data", "list", "--format", "json"])
    row = json.loads(listed.stdout)[0]
    assert row["cached"] == "yes" and row["checksum"] == "recorded"


def test_cli_errors_exit_non_zero(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = Dataset("gone", "https://example.invalid/gone.zip", "test")
    monkeypatch.setattr(dl, "CATALOGUE", {entry.name: entry})
    runner = CliRunner()
    res = runner.invoke(
        app, ["data", "download", "gone", "--url-base", server, "--dest", str(tmp_path)]
    )
    assert res.exit_code == DownloadError.exit_code
    assert "404" in res.output
    res = runner.invoke(app, ["data", "download", "no-such-dataset", "--dest", str(tmp_path)])
    assert res.exit_code != 0 and "known datasets: gone" in res.output


def test_real_catalogue_is_well_formed() -> None:
    for name, d in dl.CATALOGUE.items():
        assert name == d.name and d.url.startswith(("http://", "https://")) and d.filename
        assert d.sha256 is None or len(d.sha256) == 64
