"""A listener whose history is named gets named tracks from every model, not anonymous ones.

Found by the product check: on the `make demo` store (named histories beside JODIE's
anonymous ``jodie song N``), `encore recommend me --model als` listed "jodie song 504"
with no artist to a listener who had ingested their own Spotify export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.recommenders import recommend as rec
from encore.recommenders.base import Recommender
from encore.recommenders.listeners import NAMED_TRACKS

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


def _named_only_by_named_ids(store: Store, model: Recommender, user: str) -> list[int] | None:
    """The filter as it was: every named track id read (the reference for the complement)."""
    named = store.con.execute(f"SELECT t.track_id FROM {NAMED_TRACKS}").fetchnumpy()["track_id"]
    mine = store.con.execute(
        "SELECT track_id FROM events WHERE user_id = $u UNION "
        "SELECT entity_id FROM likes WHERE user_id = $u AND entity_type = 'track'",
        {"u": user},
    ).fetchnumpy()["track_id"]
    if not np.isin(mine, named).any():
        return None
    assert model.item_map_ is not None
    known = np.asarray(model.item_map_.external_ids)
    keep = known[np.isin(known, named)]
    return None if len(keep) == len(known) else keep.tolist()


def test_the_filter_reads_the_anonymous_tracks_and_gives_the_same_list(mixed_db: Path) -> None:
    """Where the anonymous set is large (JODIE's songs, most of this store's catalogue)."""
    with Store(mixed_db, read_only=True) as store:
        tracks = store.con.execute("SELECT track_id FROM tracks").fetchnumpy()["track_id"]
        named = store.con.execute(f"SELECT t.track_id FROM {NAMED_TRACKS}").fetchnumpy()
        anonymous = rec.anonymous_tracks(store)
        # the two split the tracks
        assert not np.isin(anonymous, named["track_id"]).any()
        assert len(anonymous) + len(named["track_id"]) == len(tracks)
        assert len(anonymous) == 789 and len(named["track_id"]) == 29  # 96 % anonymous
        model = rec.fit_model(store, "popular", level="track")
        assert isinstance(model, Recommender)
        jodie = str(store.scalar("SELECT min(user_id) FROM users WHERE source = 'jodie'"))
        for user in ("me", "you", jodie):
            want = _named_only_by_named_ids(store, model, user)
            assert rec._named_only(store, model, user, "track") == want
        assert want is None  # the anonymous listener keeps every item
        got = rec._named_only(store, model, "me", "track")
        assert got is not None and sorted(got) == sorted(named["track_id"].tolist())


def test_anonymous_tracks_are_read_again_when_the_store_changes(
    mixed_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(mixed_db, db)
    with Store(db, read_only=True) as store:
        before = rec.anonymous_tracks(store)
        assert rec.anonymous_tracks(store) is before  # read once per store generation
        track = int(store.scalar("SELECT min(track_id) FROM tracks WHERE title = 'Tune 3'"))
    assert track not in before
    with Store(db) as store:  # the track loses its title (an empty one): anonymous now
        store.con.execute("UPDATE tracks SET title = '' WHERE track_id = ?", [track])
    with Store(db, read_only=True) as store:
        after = rec.anonymous_tracks(store)
    assert track in after and len(after) == len(before) + 1
