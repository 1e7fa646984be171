"""``POST /events`` written by the ids it names (serving/known_tracks.py) stores what the
general ingest path stores: the same batch through both writers into two copies of a
store leaves every table the same row for row, the same ingest bookkeeping, and the same
recommendations after.

Real data, small settings said as such: a store of three listening histories (Last.fm
user_05 and user_08, Spotify user_11 with its library's likes; 72k plays, ~2 s to ingest),
two of its tracks given a duration (the histories carry none) so both skip rules are met,
and item kNN at artist level fitted on it for the recommendations; a batch of 29 events over 6 tracks.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from encore.data.cli import plan_all
from encore.data.ingest import ingest
from encore.data.store import Store
from encore.errors import DataError
from encore.serving.events import Event, EventWriter, check_events
from encore.serving.known_tracks import write_known_tracks

USER = "lh:user_05"

#: Tracks whose references name them alone, the tracks the general path finds again under
#: the id posted (it takes the lowest id sharing a track's MBID, URI or normalised
#: title and artist, and an artist's normalised name): a titled track of a named artist
#: that shares neither with another track, by an artist whose normalised name is theirs
#: alone, on no album or on an album of that artist.
_UNSHARED = """
    WITH named AS (
        SELECT artist_id FROM artists WHERE name_norm <> ''
        QUALIFY count(*) OVER (PARTITION BY name_norm) = 1
    ), alone AS (
        SELECT t.* FROM tracks t JOIN named USING (artist_id)
        WHERE t.title_norm <> ''
        QUALIFY count(*) OVER (PARTITION BY t.title_norm, t.artist_id) = 1
    )
    SELECT t.track_id, t.duration_ms FROM alone t LEFT JOIN albums al USING (album_id)
    WHERE (t.mbid IS NULL OR t.mbid NOT IN (SELECT mbid FROM tracks WHERE track_id <> t.track_id AND mbid IS NOT NULL))
      AND (t.uri IS NULL OR t.uri NOT IN (SELECT uri FROM tracks WHERE track_id <> t.track_id AND uri IS NOT NULL))
      AND (t.album_id IS NULL OR (al.artist_id = t.artist_id AND al.title_norm <> ''))
    ORDER BY hash(t.track_id), t.track_id
"""


@pytest.fixture(scope="module")
def histories_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three listening histories (small settings: 72k plays), two tracks given durations."""
    db = tmp_path_factory.mktemp("known-tracks") / "histories.duckdb"
    with Store(db) as store:
        for loader, folder in plan_all(shared_data / "listening-histories"):
            if folder.name in ("user_05", "user_08", "user_11"):
                ingest(store, loader, folder)
        store.execute(
            f"""UPDATE tracks SET duration_ms = 240000 WHERE track_id IN (
                    SELECT track_id FROM ({_UNSHARED}) LIMIT 2)"""
        )
    return db


def _batch(store: Store) -> list[dict[str, Any]]:
    """Plays (ms_played unknown, short, long; durations known and not), skips and likes of
    a stored listener, a new listener and a like-only one; a play the store already holds,
    a play and a like repeated inside the batch, a like already stored; times with and
    without fractions of a second, and one with a time zone."""
    timed = store.execute(
        f"SELECT track_id FROM ({_UNSHARED}) WHERE duration_ms > 0 LIMIT 2"
    ).fetchall()
    untimed = store.execute(
        f"SELECT track_id FROM ({_UNSHARED}) WHERE duration_ms IS NULL LIMIT 4"
    ).fetchall()
    a, b = (int(r[0]) for r in timed)
    c, d, e, f = (int(r[0]) for r in untimed)
    held = store.execute(
        f"""SELECT user_id, track_id, strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') FROM events
            WHERE user_id = ? AND track_id IN (SELECT track_id FROM ({_UNSHARED}))
            ORDER BY ts LIMIT 1""",
        [USER],
    ).fetchone()
    liked = store.execute(
        "SELECT user_id, entity_id FROM likes WHERE entity_type = 'track' ORDER BY 1, 2 LIMIT 1"
    ).fetchone()
    assert held is not None and liked is not None, "the store has plays and likes to repeat"

    def ev(kind: str, user: str, track: int, ts: str, ms: int | None = None) -> dict[str, Any]:
        return {"type": kind, "user_id": user, "track_id": track, "ts": ts, "ms_played": ms}

    new, liker = "api:new-listener", "api:only-likes"
    return [
        ev("play", USER, a, "2024-03-01T10:00:00", 200_000),
        ev("play", USER, a, "2024-03-01T10:00:00", 200_000),  # repeated in the batch
        ev("play", USER, b, "2024-03-01T10:04:00.250000", 5_000),  # short: a skip derived
        ev("play", USER, c, "2024-03-01T10:05:00+02:00", None),  # a scrobble; a time zone
        ev("skip", USER, d, "2024-03-01T10:06:00", 250_000),
        ev("play", USER, e, "2024-03-01T10:07:00", 12_000),  # no duration: under 30 s
        ev("play", USER, f, "2024-03-01T10:08:00", 45_000),
        ev("play", held[0], int(held[1]), held[2]),  # already stored: not written again
        ev("like", USER, b, "2024-03-01T10:09:00"),
        ev("like", USER, b, "2024-03-01T10:09:30"),  # a like repeated at another time
        ev("like", str(liked[0]), int(liked[1]), "2024-03-01T10:10:00"),  # already stored
        *(
            ev("play", new, t, f"2024-03-02T09:{i:02d}:00", 180_000)
            for i, t in enumerate((a, c, d, e, f))
        ),
        *(ev("play", new, b, f"2024-03-02T10:{i:02d}:00", 190_000) for i in range(10)),
        ev("skip", new, c, "2024-03-02T11:00:00", 3_000),
        ev("like", new, d, "2024-03-02T11:01:00"),
        ev("like", liker, e, "2024-03-02T12:00:00"),
    ]


def _write(db: Path, rows: list[dict[str, Any]], *, known_ids: bool) -> int:
    with Store(db) as store:
        writer = EventWriter(store, known_ids=known_ids)
        try:
            written = writer.submit([Event(**r) for r in rows]).result(timeout=300)
        finally:
            writer.close()
    return written.ingest_id


def test_both_writers_store_the_same_rows_and_recommendations(
    histories_db: Path, tmp_path: Path
) -> None:
    from encore.data.dataset import InteractionDataset, build_interactions
    from encore.recommenders.recommend import recommend_for_user
    from encore.recommenders.registry import get_model

    general, known = tmp_path / "general" / "store.duckdb", tmp_path / "known" / "store.duckdb"
    for db in (general, known):
        db.parent.mkdir()
        shutil.copy(histories_db, db)
    with Store(general, read_only=True) as store:
        rows = _batch(store)
    ids = {_write(general, rows, known_ids=False), _write(known, rows, known_ids=True)}
    assert len(ids) == 1
    (ingest_id,) = ids

    with Store(known) as store:
        con = store.con
        con.execute(f"ATTACH '{general}' AS g (READ_ONLY)")
        tables = [
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' "
                "AND NOT temporary ORDER BY 1"
            ).fetchall()
        ]
        assert {"events", "users", "likes", "user_keys", "ingests", "tracks"} <= set(tables)
        differ = {}
        for table in tables:
            # the journal file's place and the ingest's clock are the only things that differ
            cols = "* EXCLUDE (path, label, started_at, finished_at)" if table == "ingests" else "*"
            n = con.execute(
                f"""SELECT (SELECT count(*) FROM (SELECT {cols} FROM store.{table}
                                                  EXCEPT ALL SELECT {cols} FROM g.{table})),
                           (SELECT count(*) FROM (SELECT {cols} FROM g.{table}
                                                  EXCEPT ALL SELECT {cols} FROM store.{table}))"""
            ).fetchone()
            if n != (0, 0):
                differ[table] = n
        assert differ == {}, f"rows only in (known, general): {differ}"

        written = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE skipped), count(DISTINCT user_id) "
            "FROM events WHERE ingest_id = ?",
            [ingest_id],
        ).fetchone()
        # 24 plays and skips less the one already stored; skipped: 2 skips, the short
        # play and the untimed 12 s one
        assert written == (23, 4, 2)
        bookkeeping = con.execute(
            "SELECT loaded, rejected, source FROM ingests WHERE ingest_id = ?", [ingest_id]
        ).fetchone()
        assert bookkeeping == (json.dumps({"users": 2, "events": 23, "likes": 4}), "{}", "api")
        # each journal file is named in its ingest as its label
        labels = con.execute(
            """SELECT s.label = regexp_extract(s.path, '[^/]+$'),
                      o.label = regexp_extract(o.path, '[^/]+$')
               FROM store.ingests s JOIN g.ingests o USING (ingest_id) WHERE ingest_id = ?""",
            [ingest_id],
        ).fetchone()
        assert labels == (True, True)
        con.execute("DETACH g")

    # item kNN folds a listener's current row in: the answers follow the stored rows
    # (artist level: ~30 s for both copies here, against ~90 s at track level)
    answers = []
    for db in (general, known):
        with Store(db, read_only=True) as store:
            frame = build_interactions(store, level="artist")
            data = InteractionDataset.from_interactions(frame, item_level="artist")
            model = get_model("item_knn").fit(data)
            answers.append(
                [
                    recommend_for_user(
                        store, model, user, 10, level="artist", explain=False
                    ).table.to_dict(orient="records")
                    for user in (USER, "api:new-listener")
                ]
            )
    assert answers[0] == answers[1]
    assert all(len(items) == 10 for items in answers[1])


def test_a_track_sharing_its_references_is_stored_under_the_id_posted(
    histories_db: Path, tmp_path: Path
) -> None:
    """A second catalogue row with the same title, artist and MBID as another (the store
    has such rows): its play is stored under its own id, and nothing is added to the
    catalogue (the general path stores the lowest id sharing the MBID)."""
    db = tmp_path / "store.duckdb"
    shutil.copy(histories_db, db)
    with Store(db) as store:
        (first,) = store.execute(f"SELECT track_id FROM ({_UNSHARED}) LIMIT 1").fetchone()
        (twin,) = store.execute(
            """INSERT INTO tracks (track_id, title, title_norm, artist_id, album_id, mbid, uri,
                                   duration_ms, source, ingest_id)
               SELECT nextval('track_id_seq'), title, title_norm, artist_id, album_id,
                      COALESCE(mbid, 'twin-mbid'), uri, duration_ms, source, ingest_id
               FROM tracks WHERE track_id = ? RETURNING track_id""",
            [first],
        ).fetchone()
        store.execute(
            "UPDATE tracks SET mbid = 'twin-mbid' WHERE track_id = ? AND mbid IS NULL", [first]
        )
        catalogue = [
            store.scalar(f"SELECT count(*) FROM {t}") for t in ("artists", "albums", "tracks")
        ]
        play = {"type": "play", "user_id": USER, "track_id": int(twin), "ts": "2024-04-01T08:00:00"}
        writer = EventWriter(store)
        try:
            ingest_id = writer.submit([Event(**play)]).result(timeout=120).ingest_id
        finally:
            writer.close()
        assert store.execute(
            "SELECT track_id, artist_id FROM events WHERE ingest_id = ?", [ingest_id]
        ).fetchall() == [
            (twin, store.scalar("SELECT artist_id FROM tracks WHERE track_id = ?", [twin]))
        ]
        assert [
            store.scalar(f"SELECT count(*) FROM {t}") for t in ("artists", "albums", "tracks")
        ] == catalogue


def test_the_same_batch_posted_again_replaces_its_first_ingest(
    histories_db: Path, tmp_path: Path
) -> None:
    """A batch with times given, posted twice, is one ingest (the general path replaces the
    first, as ``encore ingest`` of the same file twice does), not two copies."""
    db = tmp_path / "store.duckdb"
    shutil.copy(histories_db, db)
    with Store(db) as store:
        track = int(store.scalar(f"SELECT track_id FROM ({_UNSHARED}) LIMIT 1"))
        plays = [
            Event(type="play", user_id="api:twice", track_id=track, ts=datetime(2024, 5, 1, 9, i))
            for i in range(3)
        ]
        writer = EventWriter(store)
        try:
            first = writer.submit(plays).result(timeout=120).ingest_id
            again = writer.submit(plays).result(timeout=120).ingest_id
        finally:
            writer.close()
        assert again != first
        assert store.execute(
            "SELECT ingest_id, count(*) FROM events WHERE user_id = 'api:twice' GROUP BY 1"
        ).fetchall() == [(again, 3)]
        assert store.scalar("SELECT count(*) FROM ingests WHERE ingest_id = ?", [first]) == 0
        assert store.scalar("SELECT ingest_id FROM users WHERE user_id = 'api:twice'") == again


def test_a_play_of_24_hours_is_refused_by_its_field(histories_db: Path) -> None:
    """The store's bound on time played is under 24 hours: the catalogue check refuses a
    play of exactly 24 hours with its field named (before, the ingest's own bound refused
    it naming the journal file)."""
    with Store(histories_db, read_only=True) as store:
        track = int(store.scalar("SELECT min(track_id) FROM tracks"))
        ok = Event(type="play", user_id="u", track_id=track, ms_played=86_399_999)
        long = Event(type="play", user_id="u", track_id=track, ms_played=86_400_000)
        assert len(check_events(store, [ok])) == 1
        with pytest.raises(DataError) as err:
            check_events(store, [ok, long])
    assert err.value.field == "body.events.1.ms_played"


def test_nothing_is_written_when_the_batch_fails(
    histories_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the user and the play were inserted leaves the store as it was."""
    from encore.serving import known_tracks

    db = tmp_path / "store.duckdb"
    shutil.copy(histories_db, db)
    journal = tmp_path / "batch.jsonl"
    journal.write_text("{}\n", encoding="utf-8")
    real, calls = known_tracks._count, []

    def failing(result: Any) -> int:
        calls.append(1)
        if len(calls) == 2:  # after the users and the events INSERT ran
            raise RuntimeError("disk full")
        return real(result)

    monkeypatch.setattr(known_tracks, "_count", failing)
    tables = ("events", "users", "user_keys", "ingests")
    with Store(db) as store:
        track = int(store.scalar(f"SELECT track_id FROM ({_UNSHARED}) LIMIT 1"))
        before = [store.scalar(f"SELECT count(*) FROM {t}") for t in tables]
        play = {"type": "play", "user_id": "api:x", "ts": "2024-01-01T00:00:00"}
        with pytest.raises(RuntimeError, match="disk full"):
            write_known_tracks(store, journal, [{**play, "ms_played": None, "track_id": track}])
        assert [store.scalar(f"SELECT count(*) FROM {t}") for t in tables] == before
    assert len(calls) == 2
