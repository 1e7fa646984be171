"""A lake ingested back into the store it came from changes nothing: not who the users are.

Found by the product check on a copy of the make-demo store: `encore export events` then
`encore ingest parquet LAKE --from 2024-01-01 --to 2024-01-31` into the same store
relabelled all 123,531 users to the source ``parquet`` (``encore info`` then showed one
user source instead of 8), reported them all as loaded, and added the MSD track
SOAUTVB12AB018AFF0 (stored with no title, so titled by its song id) a second time.

The store here is small and real: the Last.fm 1K user profiles and scrobble sample
(992 users with country, age, gender and sign-up day), the MSD songs subset (which
holds that untitled song) and one Spotify extended history (a country read from plays).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from encore.data.ingest import IngestResult, ingest
from encore.data.sources import get_loader
from encore.data.sources.parquet_lake import ParquetLakeLoader
from encore.data.store import Store

#: Tables a lake of the store must leave as they were, row for row (every column).
UNCHANGED = ("users", "artists", "albums", "tracks", "artist_tags", "track_tags", "events")


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    """The small real store and its lake."""
    from encore.lake.export import export_lake

    root = tmp_path_factory.mktemp("round_trip")
    db = root / "store.duckdb"
    with Store(db) as store:
        ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k")
        ingest(store, get_loader("msd"), shared_data / "msd-subset-songs")
        ingest(
            store,
            get_loader("spotify_extended"),
            shared_data / "listening-histories" / "user_03",
        )
        export_lake(store, root / "store.lake")
    return db, root / "store.lake"


def _rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    return store.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _rows(store, t) for t in UNCHANGED}


def _assert_unchanged(before: dict[str, list[tuple[Any, ...]]], store: Store) -> None:
    after = _snapshot(store)
    for table in UNCHANGED:
        assert len(after[table]) == len(before[table]), table
        assert after[table] == before[table], table


def _assert_says_nothing_new(result: IngestResult, n_users: int) -> None:
    assert result.loaded == {}  # no new user, artist, album, track, tag or play
    assert result.updated == {}
    assert result.duplicates["users"] == n_users  # every user named, all unchanged


def test_the_store_is_a_fair_case(round_trip: tuple[Path, Path]) -> None:
    """The store holds what the round trip must keep: several user sources and attributes,
    a country read from plays, and a track titled by its external id."""
    db, _lake = round_trip
    with Store(db, read_only=True) as store:
        sources = dict(store.execute("SELECT source, count(*) FROM users GROUP BY 1").fetchall())
        assert set(sources) == {"lastfm1k", "spotify_extended"}
        assert store.scalar("SELECT count(*) FROM users WHERE country_basis = 'plays'") >= 1
        assert store.scalar("SELECT count(*) FROM users WHERE age IS NOT NULL") > 0
        assert store.scalar("SELECT count(*) FROM users WHERE region IS NOT NULL") > 0
        untitled = store.execute(
            "SELECT title_norm FROM tracks WHERE title = 'SOAUTVB12AB018AFF0'"
        ).fetchall()
        assert untitled == [("",)]


@pytest.mark.parametrize(
    "loader",
    [ParquetLakeLoader(), ParquetLakeLoader(date(2024, 10, 1), date(2024, 10, 31))],
    ids=["whole", "october-2024"],
)
def test_lake_back_into_its_store_changes_nothing(
    round_trip: tuple[Path, Path], tmp_path: Path, loader: ParquetLakeLoader
) -> None:
    db, lake = round_trip
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        before = _snapshot(store)
        n_users = len(before["users"])
        if loader.start is not None:  # the range overlaps the stored plays
            assert store.scalar(
                "SELECT count(*) FROM events WHERE ts >= '2024-10-01' AND ts < '2024-11-01'"
            )
        first = ingest(store, loader, lake)
        _assert_says_nothing_new(first, n_users)
        assert first.duplicates["events"] > 0  # every play read was already stored
        _assert_unchanged(before, store)
        second = ingest(store, loader, lake)  # and once more: it replaces the first
        _assert_says_nothing_new(second, n_users)
        _assert_unchanged(before, store)


def test_a_changed_user_is_updated_and_keeps_their_source(
    round_trip: tuple[Path, Path], tmp_path: Path
) -> None:
    """The lake of an edited copy: the edited user is counted as updated, keeps the source
    and ingest that first brought them, and takes the new attributes (region follows)."""
    db, lake = round_trip
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        user, source, ingest_id = store.execute(
            "SELECT user_id, source, ingest_id FROM users WHERE country = 'JP' "
            "ORDER BY user_id LIMIT 1"
        ).fetchall()[0]
        store.execute("UPDATE users SET country = 'DE', region = NULL WHERE user_id = ?", [user])
        before = _snapshot(store)
        result = ingest(store, ParquetLakeLoader(), lake)
        assert result.updated == {"users": 1}
        assert result.duplicates["users"] == len(before["users"]) - 1
        assert "users" not in result.loaded
        row = store.execute(
            "SELECT country, region, source, ingest_id FROM users WHERE user_id = ?", [user]
        ).fetchall()[0]
        assert row[0] == "JP" and row[2:] == (source, ingest_id)
        assert row[1] == store.scalar(
            "SELECT any_value(region) FROM users WHERE country = 'JP' AND user_id <> ?", [user]
        )
        after = _snapshot(store)
        assert after["users"] != before["users"]
        for table in UNCHANGED[1:]:
            assert after[table] == before[table], table
