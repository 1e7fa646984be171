"""A listener whose history is named gets named tracks from every model, not anonymous ones.

Found by the product check: on the `make demo` store (named histories beside JODIE's
anonymous ``jodie song N``), `encore recommend me --model als` listed "jodie song 504"
with no artist to a listener who had ingested their own Spotify export.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

runner = CliRunner()


def _scrobbles(folder: Path, rows: list[str]) -> Path:
    folder.mkdir()
    path = folder / "scrobbles.csv"
    path.write_text("artist,album,track,uts\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mixed_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """JODIE's anonymous sample (its songs far the most played) plus two named listeners."""
    tmp = tmp_path_factory.mktemp("mixed")
    db = tmp / "mixed.duckdb"
    t0 = 1600000000
    with Store(db) as store:
        ingest(store, get_loader("jodie"), shared_data / "lastfm-1k-jodie-sample")
        mine = [f"Band A,One,Song {i},{t0 + 300 * i}" for i in range(5)]
        ingest(store, get_loader("lastfm_csv"), _scrobbles(tmp / "me", mine), user="me")
        theirs = [f"Band {b},Two,Tune {i},{t0 + 300 * i}" for i in range(12) for b in "BC"]
        ingest(store, get_loader("lastfm_csv"), _scrobbles(tmp / "you", theirs), user="you")
    return db


@pytest.mark.parametrize("model", ["popular", "item_knn"])
def test_named_listener_gets_named_tracks_only(mixed_db: Path, model: str) -> None:
    res = runner.invoke(
        app,
        ["recommend", "me", "--model", model, "-n", "5", "--db", str(mixed_db), "--format=json"],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows, res.output
    assert all(r["artist"] in ("Band B", "Band C") for r in rows), rows
    assert "named tracks only" in res.stderr


def test_anonymous_listener_keeps_anonymous_items(mixed_db: Path) -> None:
    with Store(mixed_db, read_only=True) as store:
        user = store.scalar("SELECT min(user_id) FROM users WHERE source = 'jodie'")
    res = runner.invoke(
        app,
        [
            "recommend",
            str(user),
            "--model",
            "popular",
            "-n",
            "5",
            "--db",
            str(mixed_db),
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 5 and all(str(r["name"]).startswith("jodie song") for r in rows), rows
    assert "named tracks only" not in res.stderr
