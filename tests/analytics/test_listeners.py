"""Distinct listeners per (genre, artist): the direct path, the general path, user keys.

``top_artists(by="listeners")`` counts most artists' listeners by grouping ``events`` on
its own ``artist_id`` (no catalogue join) and the rest the general way, over the integer
``user_key`` when every event has one. These tests build stores where every path is
needed (plays naming only the track, artists whose tracks span genres, tracks with and
without genres, skips, users shared across artists) and compare with pandas over the
``plays`` view, one row per play.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import encore.analytics.rankings as rankings
from encore.analytics.common import user_column
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.window import Window, resolve_window
from encore.data.schema import MIGRATIONS
from encore.data.store import Store, add_user_keys

GENRES = ("rock", "jazz", "pop", None)
T0 = datetime(2022, 1, 1)


def _fill(con: duckdb.DuckDBPyConnection, artists: list, tracks: list, events: list) -> None:
    """Write a catalogue and plays the way the ingest writer does (user keys included)."""
    con.execute("INSERT INTO ingests VALUES (1, 't', 'p', NULL, 'f', now(), now(), NULL, NULL)")
    for aid, genre in artists:
        con.execute(
            "INSERT INTO artists (artist_id, name, name_norm, genre, source, ingest_id) "
            "VALUES (?, ?, ?, ?, 't', 1)",
            [aid, f"Artist {aid % 2}", f"artist {aid}", genre],  # names repeat: ids break ties
        )
    for tid, aid, genre in tracks:
        con.execute(
            "INSERT INTO tracks (track_id, title, title_norm, artist_id, genre, source, ingest_id) "
            "VALUES (?, ?, ?, ?, ?, 't', 1)",
            [tid, f"T{tid}", f"t{tid}", aid, genre],
        )
    frame = pd.DataFrame(
        events, columns=["user_id", "track_id", "artist_id", "ts", "ms_played", "skipped"]
    )
    frame["track_id"] = frame["track_id"].astype("Int64")
    frame["artist_id"] = frame["artist_id"].astype("Int64")
    con.register("_ev", frame)
    add_user_keys(con, "SELECT user_id AS u FROM _ev")
    con.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id, "
        "user_key) SELECT e.user_id, e.track_id, e.artist_id, e.ts, e.ms_played, e.skipped, 't', 1, "
        "k.user_key FROM _ev e JOIN user_keys k ON k.user_id = e.user_id"
    )
    con.unregister("_ev")


def _expected(store: Store, window: Window, n: int, genre: str | None) -> pd.DataFrame:
    """The ranking from one row per play of the ``plays`` view, in pandas."""
    sql, params = window.base_sql()
    part = store.df(sql, params)
    part = part[part["artist_id"].notna()]
    counted = part[~part["skipped"]]
    g = (
        counted.groupby(["genre", "artist_id"])
        .agg(listeners=("user_id", "nunique"), plays=("ts", "size"))
        .reset_index()
    )
    skips = part[part["skipped"]].groupby(["genre", "artist_id"]).size().rename("skips")
    g = g.merge(skips.reset_index(), on=["genre", "artist_id"], how="left")
    g["skips"] = g["skips"].fillna(0).astype("int64")
    names = store.df("SELECT artist_id, name FROM artists").set_index("artist_id")["name"]
    g["artist"] = g["artist_id"].map(names)
    if genre is not None:
        g = g[g["genre"] == genre]
    total = g.groupby("genre")["listeners"].sum().rename("_total")
    g = g.merge(total.reset_index(), on="genre")
    g = g.sort_values(
        ["genre", "listeners", "plays", "artist", "artist_id"],
        ascending=[True, False, False, True, True],
    )
    g["rank"] = g.groupby("genre").cumcount() + 1
    g = g[g["rank"] <= n].sort_values(["_total", "genre", "rank"], ascending=[False, True, True])
    return g[["genre", "rank", "artist_id", "artist", "plays", "skips", "listeners"]].reset_index(
        drop=True
    )


def _check(store: Store, window: Window, n: int, genre: str | None) -> None:
    exp = _expected(store, window, n, genre)
    for restrict_below in (0.0, 1.01):  # never / always restrict the events per path
        old = rankings._RESTRICT_BELOW
        rankings._RESTRICT_BELOW = restrict_below
        try:
            got = top_artists(store, window, n=n, by="listeners", genre=genre)
        finally:
            rankings._RESTRICT_BELOW = old
        got = got[["genre", "rank", "artist_id", "artist", "plays", "skips", "listeners"]]
        if exp.empty:
            assert got.empty and got.attrs["empty"]
            continue
        assert got.astype({"artist_id": "int64"}).equals(exp.astype({"artist_id": "int64"})), (
            got,
            exp,
        )
    # ranked by plays, listeners are counted for the top rows only (artists whose plays name
    # them, or name only their track): each as the plays view counts it
    sql, params = window.base_sql()
    part = store.df(sql, params)
    counted = part[~part["skipped"]]
    for key, rank in (("artist_id", top_artists), ("track_id", top_tracks)):
        want = counted[counted[key].notna()].groupby(["genre", key])["user_id"].nunique()
        got = rank(store, window, n=n, genre=genre)
        for row in got.itertuples():
            assert row.listeners == want.get((row.genre, getattr(row, key)), 0), (key, row)


event_st = st.tuples(
    st.integers(0, 5),  # user
    st.integers(0, 7),  # track index, 7 = no track
    st.integers(0, 4),  # 0: the play names no artist; else: the track's artist or another
    st.integers(0, 40),  # day
    st.booleans(),  # skipped
)


@settings(max_examples=40, deadline=None)
@given(
    artist_genres=st.lists(st.sampled_from(GENRES), min_size=3, max_size=3),
    track_specs=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(GENRES)), min_size=7, max_size=7
    ),
    events=st.lists(event_st, min_size=1, max_size=60),
    n=st.integers(1, 3),
    genre=st.sampled_from([None, "rock", "jazz"]),
)
def test_listeners_match_pandas(
    artist_genres: list[str | None],
    track_specs: list[tuple[int, str | None]],
    events: list[tuple[int, int, int, int, bool]],
    n: int,
    genre: str | None,
) -> None:
    store = Store(":memory:")
    artists = [(100 + i, g) for i, g in enumerate(artist_genres)]
    tracks = [(200 + i, 100 + a, g) for i, (a, g) in enumerate(track_specs)]
    rows = []
    for user, ti, who, day, skipped in events:
        track = tracks[ti] if ti < 7 else None
        if track is None:
            artist: int | None = 100 + who % 3
        elif who == 0:
            artist = None  # known through the track only
        elif who == 4:
            artist = 100 + (track[1] - 99) % 3  # a play naming another artist than the track's
        else:
            artist = track[1]
        rows.append(
            (
                f"u:{user}",
                track[0] if track else None,
                artist,
                T0 + timedelta(days=day),
                60_000,
                skipped,
            )
        )
    _fill(store.con, artists, tracks, rows)
    assert user_column(store) == "user_key"
    _check(store, resolve_window(store, "2022-01-01", "2022-02-28"), n, genre)
    _check(store, resolve_window(store, "2022-01-05", "2022-01-20"), n, genre)
    store.close()


def test_mixed_paths_by_hand() -> None:
    """Artist 100: rock via its plays, plus plays known only through a track; artist 101:
    tracks in two genres; artist 102: direct. User u:1 is in both paths of artist 100."""
    store = Store(":memory:")
    artists = [(100, "rock"), (101, "jazz"), (102, "pop")]
    tracks = [(200, 100, None), (201, 101, "jazz"), (202, 101, "rock"), (203, 102, None)]
    d = T0
    rows = [
        ("u:1", 200, 100, d, 1, False),
        ("u:1", 200, None, d, 1, False),  # same user, artist through the track
        ("u:2", 200, None, d, 1, False),
        ("u:3", 200, 100, d, 1, True),  # a skip: no listener
        ("u:1", 201, 101, d, 1, False),
        ("u:2", 202, 101, d, 1, False),
        ("u:3", 202, 101, d, 1, False),
        ("u:4", 203, 102, d, 1, False),
        ("u:4", 203, 102, d, 1, False),
    ]
    _fill(store.con, artists, tracks, rows)
    w = resolve_window(store, "2022-01-01", "2022-01-31")
    got = top_artists(store, w, by="listeners")
    listeners = {(r.genre, r.artist_id): r.listeners for r in got.itertuples()}
    assert listeners == {("rock", 100): 2, ("rock", 101): 2, ("jazz", 101): 1, ("pop", 102): 1}
    # rock totals 4 listeners (2 + 2), before jazz and pop (1 each, by name)
    assert got["genre"].drop_duplicates().tolist() == ["rock", "jazz", "pop"]
    _check(store, w, 10, None)
    store.close()


def test_user_key_fallback_and_upgrade(tmp_path: Path) -> None:
    """A v1 store (no user keys) answers the same read-only, then is upgraded in place."""
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
        "applied_at TIMESTAMP NOT NULL)"
    )
    for statement in MIGRATIONS[0].statements:
        con.execute(statement)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial music store', now())")
    con.execute("INSERT INTO ingests VALUES (1, 't', 'p', NULL, 'f', now(), now(), NULL, NULL)")
    con.execute(
        "INSERT INTO artists (artist_id, name, name_norm, genre, source, ingest_id) VALUES "
        "(1, 'A', 'a', 'rock', 't', 1), (2, 'B', 'b', 'rock', 't', 1)"
    )
    con.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id) "
        "SELECT 'lh:user_' || (i % 7), NULL, 1 + i % 2, TIMESTAMP '2022-01-01' + INTERVAL (i) MINUTE, "
        "1000, i % 5 = 0, 't', 1 FROM range(200) r(i)"
    )
    con.close()

    old = Store(path, read_only=True)
    assert old.schema_version() == 1 and user_column(old) == "user_id"
    w = resolve_window(old)
    before = top_artists(old, w, by="listeners")
    old.close()

    store = Store(path)  # upgrades to the latest schema
    assert store.schema_version() == MIGRATIONS[-1].version
    pairs = store.execute(
        "SELECT count(*), count(user_key), count(DISTINCT user_id), count(DISTINCT user_key), "
        "count(DISTINCT (user_id, user_key)) FROM events"
    ).fetchall()[0]
    assert pairs == (200, 200, 7, 7, 7)  # one key per id, one id per key
    assert user_column(store) == "user_key"
    after = top_artists(store, w, by="listeners")
    assert after.equals(before) and after["listeners"].tolist() == [7, 7]
    # an event written without a key sends the counting back to user_id, still exact
    store.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id) "
        "VALUES ('lh:new', NULL, 2, TIMESTAMP '2022-01-01 01:00', 1000, FALSE, 't', 1)"
    )
    assert user_column(store) == "user_id"
    assert top_artists(store, w, by="listeners")["listeners"].tolist() == [8, 7]
    store.close()


@pytest.mark.parametrize("n", [1, 5])
def test_synthetic_store_uses_keys(syn: Store, n: int) -> None:
    assert user_column(syn) == "user_key"
    w = resolve_window(syn)
    _check(syn, w, n, None)
    _check(syn, w, n, "rock")
