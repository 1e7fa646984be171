"""A lake ingested back into the store it came from changes nothing: not who the users are.

Found by the product check on a copy of the make-demo store: `encore export events` then
`encore ingest parquet LAKE --from 2024-01-01 --to 2024-01-31` into the same store
relabelled all 123,531 users to the source ``parquet`` (``encore info`` then showed one
user source instead of 8), reported them all as loaded, and added the MSD track
SOAUTVB12AB018AFF0 (stored with no title, so titled by its song id) a second time.

The whole lake also added 2 albums: a play may name another artist than its track's
(Spotify and Last.fm credit a featured artist), and the lake's plays named their track's
album with the play's artist, an album the store never had.

The store here is small and real: the Last.fm 1K user profiles and scrobble sample
(992 users with country, age, gender and sign-up day), the MSD songs subset (which
holds that untitled song) and one Spotify extended history (a country read from plays;
plays crediting another artist than their track's).
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
            shared_data / "listening-histories" / "user_02",
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


def _named(store: Store, entity: str) -> int:
    """The stored artists or tracks the lake's rows resolved to (a few stored tracks share
    a Spotify URI with another, so the lake's rows may name fewer ids than it has rows)."""
    return int(
        store.scalar(
            "SELECT count(DISTINCT internal_id) FROM external_ids "
            "WHERE source = 'parquet' AND entity = ?",
            [entity],
        )
    )


def _assert_says_nothing_new(
    result: IngestResult, before: dict[str, list[Any]], store: Store
) -> None:
    assert result.loaded == {}  # no new user, artist, album, track, tag or play
    assert result.updated == {}
    # every user, artist and track of the lake named, all unchanged
    assert result.duplicates["users"] == len(before["users"])
    for entity in ("artist", "track"):
        n = result.duplicates[f"{entity}s"]
        assert n == _named(store, entity) and 0.99 * len(before[f"{entity}s"]) <= n


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
        assert store.scalar(
            "SELECT count(*) FROM events e JOIN tracks t USING (track_id) "
            "WHERE t.album_id IS NOT NULL AND e.artist_id <> t.artist_id"
        )
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
        if loader.start is not None:  # the range overlaps the stored plays
            assert store.scalar(
                "SELECT count(*) FROM events WHERE ts >= '2024-10-01' AND ts < '2024-11-01'"
            )
        first = ingest(store, loader, lake)
        _assert_says_nothing_new(first, before, store)
        assert first.duplicates["events"] > 0  # every play read was already stored
        _assert_unchanged(before, store)
        second = ingest(store, loader, lake)  # and once more: it replaces the first
        _assert_says_nothing_new(second, before, store)
        _assert_unchanged(before, store)


def test_changed_rows_are_updated_and_keep_their_source(
    round_trip: tuple[Path, Path], tmp_path: Path
) -> None:
    """The lake of the store into an edited copy: the edited user and track are counted
    as updated, keep the source and ingest that first brought them, and take the lake's
    values again (a user's region follows the country)."""
    db, lake = round_trip
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        user, source, ingest_id = store.execute(
            "SELECT user_id, source, ingest_id FROM users WHERE country = 'JP' "
            "ORDER BY user_id LIMIT 1"
        ).fetchall()[0]
        original = _rows(store, "users")
        store.execute("UPDATE users SET country = 'DE', region = NULL WHERE user_id = ?", [user])
        track, duration = store.execute(
            "SELECT track_id, duration_ms FROM tracks WHERE duration_ms IS NOT NULL "
            "ORDER BY track_id LIMIT 1"
        ).fetchall()[0]
        tracks = _rows(store, "tracks")
        store.execute("UPDATE tracks SET duration_ms = NULL WHERE track_id = ?", [track])
        before = _snapshot(store)
        result = ingest(store, ParquetLakeLoader(), lake)
        assert result.updated == {"users": 1, "tracks": 1}
        assert result.duplicates["users"] == len(before["users"]) - 1
        assert result.duplicates["tracks"] == _named(store, "track") - 1
        assert result.loaded == {}
        row = store.execute(
            "SELECT country, source, ingest_id FROM users WHERE user_id = ?", [user]
        ).fetchall()[0]
        assert row == ("JP", source, ingest_id)
        assert _rows(store, "users") == original  # region too
        assert _rows(store, "tracks") == tracks
        assert (
            store.scalar("SELECT duration_ms FROM tracks WHERE track_id = ?", [track]) == duration
        )
        after = _snapshot(store)
        for table in UNCHANGED:
            if table not in ("users", "tracks"):
                assert after[table] == before[table], table


def test_a_failure_after_the_users_are_written_changes_nothing(
    round_trip: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The users and catalogue are merged in the ingest's one transaction: a failure after
    them (here in deriving genres, the ingest's last step) leaves the edited user as it was."""
    db, lake = round_trip
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        store.execute(
            "UPDATE users SET country = 'DE', region = NULL WHERE user_id = "
            "(SELECT min(user_id) FROM users WHERE country = 'JP')"
        )
        before = _snapshot(store)

        def fail(self: Store) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(Store, "refresh_derived", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            ingest(store, ParquetLakeLoader(), lake)
        _assert_unchanged(before, store)
        assert store.scalar("SELECT count(*) FROM ingests WHERE source = 'parquet'") == 0
        assert not store.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "AND table_name IN ('_usr', '_usr_state', '_meta')"
        ).fetchall()
