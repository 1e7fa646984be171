"""The events writer's fast path: a batch of ``POST /events`` written by the ids it names.

Every event the service accepts names a ``track_id`` that :func:`~encore.serving.events.
check_events` found in the catalogue. The general ingest path
(:func:`encore.data.ingest.ingest` with :class:`~encore.serving.events.ApiEventsLoader`)
forgets that id and finds the track again from its references (title, artist, album, MBID,
Spotify URI), as it must for a file from elsewhere: about 60 statements, most of them
grouping the whole catalogue (the (title, artist) match alone ~45 ms of a one-event write's
~175 ms on the demo store), then a count of the genre inputs.

:func:`write_known_tracks` writes what that path writes, in one transaction, from the
ids: the ``ingests`` row (same source, path, label, fingerprint and ``loaded`` /
``rejected`` JSON), a bare ``users`` row and a ``user_keys`` key for each new listener,
the plays and skips in ``events`` (the track's own artist, ``skipped`` derived by the
writer's rule from the track's duration, a play another ingest already holds not written
again) and the likes in ``likes`` (a like already stored not written again). It adds no
catalogue row, so the derived genres cannot change and are not recomputed.

Where the two differ, the general path is the one that strays: it resolves the references
again and takes the lowest id that shares them, so on the demo store 110 of its 146,570
tracks posted there are stored as another track (a second row with the same MBID, URI or
normalised title and artist), 8 with another artist of the same normalised name, and one
batch of them all added 2 artists, 3 albums and a track. This path stores the ids posted.

A batch whose journal file has the content of an earlier ingest of the service (the same
events, times given, posted again) is left to the general path, which replaces that
ingest as ``encore ingest`` replaces a file loaded twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from encore.data.ingest import fingerprint
from encore.data.store import Store, add_user_keys
from encore.data.writer import skip_sql

#: The loader name the general path records (:attr:`ApiEventsLoader.name`).
SOURCE = "api"

#: ``skipped`` of a play, as the writer derives it where the source gives no flag
#: (:data:`encore.data.writer.SKIP_RULE`); a skip is skipped.
_SKIPPED = f"(n.kind = 'skip' OR {skip_sql('n.ms_played', 't.duration_ms')})"


def write_known_tracks(store: Store, path: Path, rows: list[dict[str, Any]]) -> int | None:
    """Write the journal ``rows`` (already written to ``path``) in one transaction.

    ``rows``: the journal rows of :func:`~encore.serving.events.check_events` (``type``,
    ``user_id`` stripped, ``ts`` ISO 8601 naive UTC, ``ms_played``, ``track_id`` of a
    stored track). Returns the ingest id, or None, writing nothing, when an earlier ingest
    of the service holds the same content (the general path replaces it).
    """
    resolved = str(path.resolve())
    digest = fingerprint(path)
    with store.transaction() as con:
        earlier = con.execute(
            "SELECT 1 FROM ingests WHERE source = $src AND (path = $path OR fingerprint = $fp) "
            "LIMIT 1",
            {"src": SOURCE, "path": resolved, "fp": digest},
        ).fetchall()
        if earlier:
            return None
        row = con.execute("SELECT nextval('ingest_id_seq')").fetchone()
        assert row is not None
        ingest_id = int(row[0])
        p = {"src": SOURCE, "ing": ingest_id}
        con.execute(
            "INSERT INTO ingests (ingest_id, source, path, label, fingerprint, started_at) "
            "VALUES ($ing, $src, $path, $label, $fp, $at)",
            {**p, "path": resolved, "label": path.name, "fp": digest, "at": _now()},
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _api_events AS
            SELECT unnest($kind) AS kind, unnest($user) AS user_id,
                   CAST(unnest($ts) AS TIMESTAMP) AS ts, CAST(unnest($ms) AS BIGINT) AS ms_played,
                   CAST(unnest($track) AS BIGINT) AS track_id
            """,
            {
                "kind": [r["type"] for r in rows],
                "user": [r["user_id"] for r in rows],
                "ts": [r["ts"] for r in rows],
                "ms": [r["ms_played"] for r in rows],
                "track": [r["track_id"] for r in rows],
            },
        )
        plays = [datetime.fromisoformat(r["ts"]) for r in rows if r["type"] != "like"]
        span = (min(plays), max(plays)) if plays else None
        try:
            loaded = _write_facts(store, p, span, likes=len(plays) < len(rows))
        finally:
            con.execute("DROP TABLE IF EXISTS _api_events")
        con.execute(
            "UPDATE ingests SET finished_at = ?, loaded = ?, rejected = ? WHERE ingest_id = ?",
            [_now(), json.dumps(loaded), json.dumps({}), ingest_id],
        ).fetchall()
    return ingest_id


def _write_facts(
    store: Store, p: dict[str, Any], span: tuple[datetime, datetime] | None, *, likes: bool
) -> dict[str, int]:
    """Users, keys, plays and likes of ``_api_events``; rows written per table, as the
    general path records them (tables in its order, none written left out).

    ``span``: the first and last time of the batch's plays (None: no plays); ``likes``:
    the batch holds likes.
    """
    con = store.con
    # a stored listener is left as they are (the primary key's index finds them)
    users = _count(
        con.execute(
            """
            INSERT INTO users (user_id, source, ingest_id)
            SELECT DISTINCT user_id, $src, $ing FROM _api_events ON CONFLICT DO NOTHING
            """,
            p,
        )
    )
    if span is not None:
        add_user_keys(con, "SELECT user_id AS u FROM _api_events WHERE kind <> 'like'")
    # A play another ingest already holds (same user, time, track, artist) is not written
    # again; repeats inside the batch are kept, as the general path keeps them. The batch
    # is materialised first, so the check is a hash join built on the batch (an anti join
    # probed by the plays: ~5 ms on the demo store; on ``tracks`` joined inside the
    # subquery DuckDB built it on every play, ~25 ms), and the plays are read only within
    # the batch's time range (row groups of other times are skipped by their min/max).
    events = (
        0
        if span is None
        else _count(
            con.execute(
                f"""
            INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source,
                                ingest_id, user_key)
            SELECT user_id, track_id, artist_id, ts, ms_played, skipped, $src, $ing, user_key
            FROM (
                WITH n AS MATERIALIZED (
                    SELECT n.user_id, n.track_id, t.artist_id, n.ts, n.ms_played,
                           {_SKIPPED} AS skipped, k.user_key
                    FROM _api_events n JOIN tracks t ON t.track_id = n.track_id
                    LEFT JOIN user_keys k ON k.user_id = n.user_id
                    WHERE n.kind <> 'like'
                )
                SELECT * FROM n WHERE NOT EXISTS (
                    SELECT 1 FROM events x
                    WHERE x.ts BETWEEN $lo AND $hi AND x.user_id = n.user_id AND x.ts = n.ts
                      AND x.track_id = n.track_id
                      AND x.artist_id IS NOT DISTINCT FROM n.artist_id)
            )
            """,
                {**p, "lo": span[0], "hi": span[1]},
            )
        )
    )
    liked = (
        0
        if not likes
        else _count(
            con.execute(
                """
            INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id)
            SELECT DISTINCT l.user_id, 'track', l.track_id, l.ts, $src, $ing
            FROM _api_events l WHERE l.kind = 'like' AND NOT EXISTS (
                SELECT 1 FROM likes x WHERE x.user_id = l.user_id AND x.entity_type = 'track'
                  AND x.entity_id = l.track_id)
            """,
                p,
            )
        )
    )
    counts = {"users": users, "events": events, "likes": liked}
    return {k: v for k, v in counts.items() if v}


def _count(result: Any) -> int:
    """Rows an INSERT wrote (DuckDB answers it as one row of one column)."""
    row = result.fetchone()
    return int(row[0]) if row else 0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
