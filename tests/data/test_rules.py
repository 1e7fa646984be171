"""Rules written once (encore.data.rules): minutes of a play, what a like stands for."""

from __future__ import annotations

import math

import pytest

from encore.data.dataset import build_interactions
from encore.data.rules import (
    MINUTES_ESTIMATE,
    NOMINAL_PLAY_MINUTES,
    estimated_minutes,
    liked_items_sql,
    minutes_basis,
    played_minutes,
)
from encore.data.schema import MIGRATIONS
from encore.data.store import Store


@pytest.fixture
def facts(store: Store) -> Store:
    """Plays of every minutes basis, a play count, and likes of every entity type."""
    con = store.con
    con.execute(
        "INSERT INTO artists (artist_id, name, name_norm, source, ingest_id) VALUES "
        "(1, 'A', 'a', 't', 1), (2, 'B', 'b', 't', 1)"
    )
    con.execute(
        "INSERT INTO albums (album_id, title, title_norm, artist_id, source, ingest_id) VALUES "
        "(7, 'X', 'x', 1, 't', 1), (8, 'Y', 'y', 2, 't', 1)"
    )
    con.execute(
        "INSERT INTO tracks (track_id, title, title_norm, artist_id, album_id, duration_ms, source, ingest_id) "
        "VALUES (10, 't10', 't10', 1, 7, 240000, 't', 1), (11, 't11', 't11', 1, NULL, NULL, 't', 1), "
        "(20, 't20', 't20', 2, 8, 180000, 't', 1)"
    )
    con.execute(
        "INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id) VALUES "
        "('u1', 10, 1, '2020-01-01 10:00', 90000, FALSE, 's', 1),"  # played: 1.5 min
        "('u1', 20, 2, '2020-01-02 10:00', NULL, FALSE, 's', 1),"  # track duration: 3 min
        "('u1', 11, 1, '2020-01-03 10:00', NULL, FALSE, 's', 1),"  # nominal
        "('u2', NULL, 2, '2020-01-04 10:00', NULL, FALSE, 's', 1)"  # artist only: nominal
    )
    con.execute(
        "INSERT INTO playcounts (user_id, artist_id, track_id, plays, source, ingest_id) VALUES "
        "('u3', NULL, 20, 2, 'pc', 1), ('u3', NULL, 11, 1, 'pc', 1)"
    )
    con.execute(
        "INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id) VALUES "
        "('u4', 'track', 10, '2020-02-01', 'l', 1), ('u4', 'album', 8, NULL, 'l', 1), "
        "('u4', 'artist', 2, NULL, 'l', 1), ('u5', 'track', 11, NULL, 'l', 1)"
    )
    return store


def test_plays_view_is_built_from_the_rule(facts: Store) -> None:
    """The view's minutes are the observed minutes, NULL when unknown, row for row."""
    view = next(s for s in MIGRATIONS[0].statements if "CREATE VIEW plays" in s)
    # a released migration never changes: the rule still writes exactly its text
    assert f"{played_minutes('e.ms_played')} AS minutes" in view
    assert "e.ms_played / 60000.0 AS minutes" in view
    rows = facts.execute(
        f"SELECT p.minutes, {played_minutes('e.ms_played')} FROM plays p "
        "JOIN events e ON e.ts = p.ts AND e.user_id = p.user_id ORDER BY p.ts"
    ).fetchall()
    assert rows == [(1.5, 1.5), (None, None), (None, None), (None, None)]


def test_estimated_minutes_and_basis(facts: Store) -> None:
    est, basis = (
        estimated_minutes("e.ms_played", "t.duration_ms"),
        minutes_basis("e.ms_played", "t.duration_ms"),
    )
    rows = facts.execute(
        f"SELECT {est}, {basis}, p.minutes FROM events e LEFT JOIN tracks t USING (track_id) "
        "JOIN plays p ON p.ts = e.ts ORDER BY e.ts"
    ).fetchall()
    assert rows == [
        (1.5, "played", 1.5),
        (3.0, "track_duration", None),
        (NOMINAL_PLAY_MINUTES, "nominal", None),
        (NOMINAL_PLAY_MINUTES, "nominal", None),
    ]
    # observed minutes come first: the estimate never overrides a known length
    assert MINUTES_ESTIMATE[0][0] == "played"
    # without ms_played (play counts) the estimate starts at the track's duration
    assert estimated_minutes(None, "d") == "COALESCE(d / 60000.0, 3.5)"
    assert (
        minutes_basis(None, "d")
        == "CASE WHEN d / 60000.0 IS NOT NULL THEN 'track_duration' ELSE 'nominal' END"
    )


def test_dataset_minutes_weighting_reads_the_rule(facts: Store) -> None:
    out = build_interactions(
        facts, level="artist", weighting="minutes", skip_weight=1.0, like_weight=0.0
    )
    got = {(r.user_id, r.item_id): r.weight for r in out.itertuples()}
    # u1/artist 1: 1.5 played + 3.5 nominal; u1/2: 3 (duration); u2/2: 3.5;
    # u3/2: two counted plays of a 3-minute track; u3/1: one nominal play
    expected = {("u1", 1): 5.0, ("u1", 2): 3.0, ("u2", 2): 3.5, ("u3", 2): 6.0, ("u3", 1): 3.5}
    assert got.keys() == expected.keys()
    assert all(math.isclose(got[k], v) for k, v in expected.items())


def test_liked_items(facts: Store) -> None:
    rows = facts.execute(
        f"SELECT user_id, entity_type, entity_id, track_id, artist_id, album_id "
        f"FROM ({liked_items_sql()}) ORDER BY user_id, entity_type"
    ).fetchall()
    assert rows == [
        ("u4", "album", 8, None, 2, 8),
        ("u4", "artist", 2, None, 2, None),
        ("u4", "track", 10, 10, 1, 7),
        ("u5", "track", 11, 11, 1, None),
    ]


@pytest.mark.parametrize(
    ("level", "liked"),
    [
        ("track", {("u4", 10), ("u5", 11)}),
        ("artist", {("u4", 1), ("u4", 2), ("u5", 1)}),
        ("album", {("u4", 7), ("u4", 8)}),
    ],
)
def test_dataset_likes_read_the_mapping(
    facts: Store, level: str, liked: set[tuple[str, int]]
) -> None:
    out = build_interactions(facts, level=level, weighting="binary", source="l")  # type: ignore[arg-type]
    assert set(zip(out.user_id, out.item_id, strict=True)) == liked
