"""The writer: puts a loader's staged frames into the store, inside the ingest's transaction.

A loader returns frames whose columns are listed in :data:`STAGED_COLUMNS` (the one
definition of what a loader may stage); :func:`write_staged`, called by
:func:`encore.data.ingest.ingest` inside its transaction:

1. resolves every artist, album and track reference against the catalogue
   (external id of the same source, then MusicBrainz id, then Spotify URI for tracks,
   then the normalised artist name / (artist, title) pair), creating what is new and
   filling metadata the catalogue lacks;
2. inserts the fact rows (events, likes, tags, ...) with the resolved ids, deriving
   ``skipped`` where the source gives no flag (see :data:`SKIP_RULE`).

References: any staged frame may name an artist with ``artist`` (name), ``artist_mbid`` and
``artist_ext`` (the source's own artist id), a track with ``track`` (title), ``track_mbid``,
``track_uri``, ``track_ext`` plus its artist, and an album with ``album`` plus its artist.
Missing columns are taken as NULL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import duckdb
import pandas as pd
import pyarrow as pa

from encore.data.store import Store, add_user_keys

log = logging.getLogger(__name__)


#: A play counts as skipped when the source has no skip flag and the listener played less
#: than half the track (capped at 4 minutes, Last.fm's scrobble rule) when the duration is
#: known, else less than 30 seconds (Spotify's rule for a counted stream). A scrobble with
#: no duration at all is a completed listen by definition (not skipped).
SKIP_SHARE = 0.5
SKIP_CAP_MS = 240_000
SKIP_UNKNOWN_MS = 30_000
SKIP_RULE = (
    f"skipped = source flag; else ms_played < min({SKIP_SHARE} x duration, {SKIP_CAP_MS // 1000} s) "
    f"when the duration is known; else ms_played < {SKIP_UNKNOWN_MS // 1000} s; scrobbles without "
    "ms_played are not skips"
)


def skip_sql(ms: str, duration: str) -> str:
    """SQL of :data:`SKIP_RULE` for a play of ``ms`` milliseconds of a track of ``duration``
    (column expressions), for a source that gives no skip flag."""
    return f"""CASE WHEN {ms} IS NULL THEN FALSE
        WHEN {duration} IS NOT NULL AND {duration} > 0
          THEN {ms} < least({SKIP_SHARE} * {duration}, {SKIP_CAP_MS})
        ELSE {ms} < {SKIP_UNKNOWN_MS} END"""


_ARTIST_REF = {"artist": "VARCHAR", "artist_mbid": "VARCHAR", "artist_ext": "VARCHAR"}
_TRACK_REF = {
    "track": "VARCHAR",
    "track_mbid": "VARCHAR",
    "track_uri": "VARCHAR",
    "track_ext": "VARCHAR",
    "album": "VARCHAR",
    **_ARTIST_REF,
}

#: Canonical columns (and DuckDB types) of each staged frame.
STAGED_COLUMNS: dict[str, dict[str, str]] = {
    "users": {
        "user_id": "VARCHAR",
        "registered_at": "TIMESTAMP",
        "country": "VARCHAR",
        "country_basis": "VARCHAR",  # 'profile' (default for a given country) or 'plays'
        "age": "SMALLINT",
        "gender": "VARCHAR",
        "declared_plays": "BIGINT",
    },
    "artists": {**_ARTIST_REF, "country": "VARCHAR"},
    "albums": {
        "album": "VARCHAR",
        "album_mbid": "VARCHAR",
        "release_year": "SMALLINT",
        **_ARTIST_REF,
    },
    "tracks": {
        **_TRACK_REF,
        "duration_ms": "BIGINT",
        "genre_raw": "VARCHAR",
        "language": "VARCHAR",
        "release_year": "SMALLINT",
    },
    "events": {
        "user_id": "VARCHAR",
        "ts": "TIMESTAMP",
        "ms_played": "BIGINT",
        "skipped": "BOOLEAN",
        **_TRACK_REF,
    },
    "likes": {
        "user_id": "VARCHAR",
        "entity_type": "VARCHAR",
        "liked_at": "TIMESTAMP",
        **_TRACK_REF,
    },
    "artist_tags": {
        **_ARTIST_REF,
        "tag": "VARCHAR",
        "weight": "DOUBLE",
        "user_id": "VARCHAR",
        "tagged_at": "TIMESTAMP",
    },
    "track_tags": {**_TRACK_REF, "tag": "VARCHAR", "weight": "DOUBLE", "kind": "VARCHAR"},
    "playcounts": {"user_id": "VARCHAR", "plays": "BIGINT", **_TRACK_REF},
    "friends": {"user_id": "VARCHAR", "friend_id": "VARCHAR"},
    "track_features": {**_TRACK_REF, "feature": "VARCHAR", "value": "DOUBLE"},
    "artist_features": {**_ARTIST_REF, "feature": "VARCHAR", "value": "DOUBLE"},
    "lyrics": {**_TRACK_REF, "text": "VARCHAR", "processed": "BOOLEAN"},
    "playlists": {
        "user_id": "VARCHAR",
        "name": "VARCHAR",
        "position": "INTEGER",
        "modified_at": "TIMESTAMP",
        **_TRACK_REF,
    },
}

#: Staged frames whose rows reference a track (the others reference only an artist, or nothing).
TRACK_FRAMES = (
    "tracks",
    "events",
    "likes",
    "track_tags",
    "playcounts",
    "track_features",
    "lyrics",
    "playlists",
)

#: Columns any staged frame may carry besides its canonical ones: where each row came from
#: (``_file``, and ``_line``: the 1-based line, or row for Parquet). The writer does not
#: store them; :func:`encore.data.ingest.enforce_bounds` names them in its errors.
PROVENANCE_COLUMNS = ("_file", "_line")

Frame: TypeAlias = pd.DataFrame | pa.Table | duckdb.DuckDBPyRelation


def _stage_table(con: duckdb.DuckDBPyConnection, table: str, frame: Frame) -> str:
    """Put a staged frame into a temp table with exactly the canonical columns and types."""
    src = f"_src_{table}"
    if isinstance(frame, duckdb.DuckDBPyRelation):
        frame.create_view(src, replace=True)
        have = set(frame.columns)
    else:
        con.register(src, frame)
        have = set(frame.columns if isinstance(frame, pd.DataFrame) else frame.column_names)
    spec = STAGED_COLUMNS[table]
    unknown = have - set(spec) - set(PROVENANCE_COLUMNS)
    if unknown:
        raise ValueError(f"staged {table} has unknown columns {sorted(unknown)}")
    cols = ", ".join(
        f'TRY_CAST("{c}" AS {t}) AS "{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"'
        for c, t in spec.items()
    )
    name = f"_stg_{table}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} FROM {src}")
    if isinstance(frame, duckdb.DuckDBPyRelation):
        con.execute(f"DROP VIEW IF EXISTS {src}")
    else:
        con.unregister(src)
    return name


def _clean(col: str) -> str:
    """SQL expression: NULL for empty or blank strings."""
    return f"NULLIF(trim({col}), '')"


def write_staged(
    store: Store,
    frames: Mapping[str, Frame],
    *,
    source: str,
    ingest_id: int,
    duplicates: dict[str, int] | None = None,
    updated: dict[str, int] | None = None,
) -> dict[str, int]:
    """Resolve references and insert the staged frames; runs inside the caller's transaction.

    ``frames``: staged frames by table name (see :data:`STAGED_COLUMNS`); every row written
    gets ``source`` and ``ingest_id``. Returns the number of rows written per store table.

    Plays are keyed on their natural key (user, time, resolved track, resolved artist),
    likes on (user, kind, liked item), and the other facts as :data:`_ALREADY_STORED`
    says: a row another ingest already wrote to the store is not written again (rows
    repeated inside one export are its own business and kept); ``duplicates`` (when
    given) receives how many rows were left out that way, per table.

    Users are written as :func:`_write_users` says: a user already stored keeps the
    source (and ingest) that first brought them; ``updated`` (when given) receives how
    many stored users this call changed, and ``duplicates`` how many it named unchanged.
    ``users`` in the returned counts is the users this ingest added.
    """
    con = store.con
    names = {t: _stage_table(con, t, f) for t, f in frames.items()}
    loaded: dict[str, int] = {}
    p = {"src": source, "ing": ingest_id}

    def count(table: str) -> int:
        # fetched to the end: a result left open blocks the connection's next register
        rows = con.execute(
            f"SELECT count(*) FROM {table} WHERE ingest_id = $ing", {"ing": ingest_id}
        ).fetchall()
        return int(rows[0][0]) if rows else 0

    # -- artists ------------------------------------------------------------
    artist_sources = [
        f"SELECT {_clean('artist')} AS name, {_clean('artist_mbid')} AS mbid, {_clean('artist_ext')} AS ext "
        f"FROM {n}"
        for t, n in names.items()
        if t not in ("users", "friends")
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _aref (name VARCHAR, mbid VARCHAR, ext VARCHAR, "
        "norm VARCHAR, artist_id BIGINT)"
    )
    if artist_sources:
        con.execute(
            "INSERT INTO _aref SELECT DISTINCT name, mbid, ext, enc_norm_artist(name), NULL FROM ("
            + " UNION ALL ".join(artist_sources)
            + ") WHERE name IS NOT NULL OR mbid IS NOT NULL OR ext IS NOT NULL"
        )
        _resolve_artists(con, p)
    before_artists = count("artists")
    loaded["artists"] = before_artists

    # -- albums -------------------------------------------------------------
    album_sources = [
        f"SELECT {_clean('album')} AS title, {_clean('artist')} AS a, {_clean('artist_mbid')} AS am, "
        f"{_clean('artist_ext')} AS ae FROM {n}"
        for t, n in names.items()
        if "album" in STAGED_COLUMNS[t]
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _alref (title VARCHAR, a VARCHAR, am VARCHAR, ae VARCHAR, "
        "artist_id BIGINT, norm VARCHAR, album_id BIGINT)"
    )
    if album_sources:
        con.execute(
            "INSERT INTO _alref SELECT DISTINCT title, a, am, ae, NULL, enc_norm(title), NULL FROM ("
            + " UNION ALL ".join(album_sources)
            + ") WHERE title IS NOT NULL"
        )
        _attach_artist(con, "_alref", "a", "am", "ae")
        con.execute(_MATCH_ALBUMS)
        _insert_numbered(
            con,
            "albums",
            "album_id",
            ("title", "title_norm", "artist_id", "source", "ingest_id"),
            """
            SELECT arg_min(title, (length(title), title)) AS title, norm AS title_norm, artist_id,
                   $src AS source, $ing AS ingest_id, (norm, artist_id) AS _key
            FROM _alref WHERE album_id IS NULL AND norm <> '' GROUP BY ALL
            """,
            p,
        )
        con.execute(_MATCH_ALBUMS)
        if "albums" in names:
            _fill_catalogue(
                con,
                "albums",
                f"""SELECT r.album_id, max(x.release_year) AS release_year,
                           max({_clean("x.album_mbid")}) AS mbid
                    FROM {names["albums"]} x JOIN _alref r ON {_ref_join("x", "r", _ALBUM_REF_PAIRS)}
                    GROUP BY r.album_id""",
                p,
                updated,
                duplicates,
            )
    loaded["albums"] = count("albums")

    # -- tracks -------------------------------------------------------------
    track_sources = [
        f"SELECT {_clean('track')} AS title, {_clean('track_mbid')} AS mbid, {_clean('track_uri')} AS uri, "
        f"{_clean('track_ext')} AS ext, {_clean('album')} AS album, {_clean('artist')} AS a, "
        f"{_clean('artist_mbid')} AS am, {_clean('artist_ext')} AS ae FROM {n}"
        for t, n in names.items()
        if t in TRACK_FRAMES
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tref (title VARCHAR, mbid VARCHAR, uri VARCHAR, ext VARCHAR, "
        "album VARCHAR, a VARCHAR, am VARCHAR, ae VARCHAR, artist_id BIGINT, album_id BIGINT, "
        "norm VARCHAR, track_id BIGINT)"
    )
    if track_sources:
        con.execute(
            "INSERT INTO _tref SELECT DISTINCT title, mbid, uri, ext, album, a, am, ae, NULL, NULL, "
            "enc_norm(title), NULL FROM (" + " UNION ALL ".join(track_sources) + ") "
            "WHERE title IS NOT NULL OR mbid IS NOT NULL OR uri IS NOT NULL OR ext IS NOT NULL"
        )
        _attach_artist(con, "_tref", "a", "am", "ae")
        con.execute(
            """
            UPDATE _tref SET album_id = r.album_id FROM _alref r
            WHERE r.title = _tref.album AND r.a IS NOT DISTINCT FROM _tref.a
              AND r.am IS NOT DISTINCT FROM _tref.am AND r.ae IS NOT DISTINCT FROM _tref.ae
            """
        )
        _resolve_tracks(con, p)
        if "tracks" in names:
            _fill_catalogue(
                con,
                "tracks",
                f"""SELECT r.track_id, max(x.duration_ms) AS duration_ms,
                           max({_clean("x.genre_raw")}) AS genre_raw,
                           max({_clean("x.language")}) AS language, max(x.release_year) AS release_year,
                           arg_min(r.album_id, (r.album, r.album_id))
                               FILTER (WHERE r.album_id IS NOT NULL) AS album_id,
                           max(r.mbid) AS mbid, max(r.uri) AS uri
                    FROM {names["tracks"]} x JOIN _tref r ON {_ref_join("x", "r")}
                    GROUP BY r.track_id""",
                p,
                updated,
                duplicates,
            )
    loaded["tracks"] = count("tracks")

    if "artists" in names:
        _fill_catalogue(
            con,
            "artists",
            f"""SELECT r.artist_id, max({_clean("x.country")}) AS country, max(r.mbid) AS mbid
                FROM {names["artists"]} x JOIN _aref r ON {_ref_join("x", "r", _ARTIST_REF_PAIRS)}
                GROUP BY r.artist_id""",
            p,
            updated,
            duplicates,
        )

    # -- facts --------------------------------------------------------------
    _add_ref_ids(con, names)

    if "users" in names:
        changed, same = _write_users(con, names["users"], p)
        if changed and updated is not None:
            updated["users"] = updated.get("users", 0) + changed
        if same and duplicates is not None:
            duplicates["users"] = duplicates.get("users", 0) + same
    # users referenced by facts but not declared get a bare row, so every fact has a user
    user_refs = [
        f"SELECT {_clean('user_id')} AS u FROM {n}"
        for t, n in names.items()
        if "user_id" in STAGED_COLUMNS[t] and t != "users"
    ]
    if "friends" in names:
        user_refs.append(f"SELECT {_clean('friend_id')} FROM {names['friends']}")
    if user_refs:
        con.execute(
            "INSERT INTO users (user_id, source, ingest_id) SELECT DISTINCT u, $src, $ing FROM ("
            + " UNION ALL ".join(user_refs)
            + ") WHERE u IS NOT NULL AND u NOT IN (SELECT user_id FROM users)",
            p,
        )
    loaded["users"] = count("users")

    if "events" in names:
        add_user_keys(con, f"SELECT {_clean('user_id')} AS u FROM {names['events']}")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ev AS
            SELECT {_clean("e.user_id")} AS user_id, e._track_id AS track_id,
                   COALESCE(e._artist_id, t.artist_id) AS artist_id, e.ts, e.ms_played,
                   COALESCE(e.skipped, {skip_sql("e.ms_played", "t.duration_ms")}) AS skipped,
                   k.user_key
            FROM {names["events"]} e LEFT JOIN tracks t ON t.track_id = e._track_id
            LEFT JOIN user_keys k ON k.user_id = {_clean("e.user_id")}
            WHERE e.ts IS NOT NULL AND {_clean("e.user_id")} IS NOT NULL
              AND (e._track_id IS NOT NULL OR e._artist_id IS NOT NULL)
            """
        )
        staged_n = con.execute("SELECT count(*) FROM _ev").fetchall()[0]
        # the natural key of a play is (user, time, track, artist): a play another ingest
        # already wrote is not written again (rows repeated inside one export are kept: the
        # exports' own counts include them)
        con.execute(
            """
            INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, ingest_id, user_key)
            SELECT user_id, track_id, artist_id, ts, ms_played, skipped, $src, $ing, user_key
            FROM _ev n
            WHERE NOT EXISTS (
                SELECT 1 FROM events x WHERE x.user_id = n.user_id AND x.ts = n.ts
                  AND x.track_id IS NOT DISTINCT FROM n.track_id
                  AND x.artist_id IS NOT DISTINCT FROM n.artist_id)
            """,
            p,
        )
        con.execute("DROP TABLE _ev")
        loaded["events"] = count("events")
        dropped = int(staged_n[0]) - loaded["events"]
        if dropped and duplicates is not None:
            duplicates["events"] = dropped
    if "likes" in names:
        con.execute(
            f"""
            INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id)
            SELECT DISTINCT {_clean("l.user_id")} AS uid, l.entity_type,
                   CASE l.entity_type WHEN 'track' THEN l._track_id WHEN 'artist' THEN l._artist_id
                                      WHEN 'album' THEN l._album_id END AS eid, l.liked_at, $src, $ing
            FROM {names["likes"]} l WHERE eid IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM likes x WHERE x.user_id = {_clean("l.user_id")}
                  AND x.entity_type = l.entity_type
                  AND x.entity_id = CASE l.entity_type WHEN 'track' THEN l._track_id
                      WHEN 'artist' THEN l._artist_id WHEN 'album' THEN l._album_id END)
            """,
            p,
        )
        loaded["likes"] = count("likes")
    simple = {
        "artist_tags": (
            "artist_id, tag, weight, user_id, tagged_at",
            f"_artist_id, trim(tag), COALESCE(weight, 1), {_clean('user_id')}, tagged_at",
            "_artist_id IS NOT NULL AND trim(tag) <> ''",
        ),
        "track_tags": (
            "track_id, tag, weight, kind",
            "_track_id, trim(tag), COALESCE(weight, 1), COALESCE(kind, 'tag')",
            "_track_id IS NOT NULL AND trim(tag) <> ''",
        ),
        "playcounts": (
            "user_id, artist_id, track_id, plays",
            f"{_clean('user_id')}, _artist_id, _track_id, plays",
            "plays IS NOT NULL AND (_artist_id IS NOT NULL OR _track_id IS NOT NULL)",
        ),
        "friends": (
            "user_id, friend_id",
            f"{_clean('user_id')}, {_clean('friend_id')}",
            f"{_clean('user_id')} IS NOT NULL AND {_clean('friend_id')} IS NOT NULL",
        ),
        "track_features": (
            "track_id, feature, value",
            "_track_id, feature, value",
            "_track_id IS NOT NULL",
        ),
        "artist_features": (
            "artist_id, feature, value",
            "_artist_id, feature, value",
            "_artist_id IS NOT NULL",
        ),
        "lyrics": (
            "track_id, text, processed",
            "_track_id, text, COALESCE(processed, FALSE)",
            "_track_id IS NOT NULL AND text IS NOT NULL",
        ),
        "playlists": (
            "user_id, name, position, track_id, modified_at",
            f"{_clean('user_id')}, name, position, _track_id, modified_at",
            "_track_id IS NOT NULL",
        ),
    }
    for table, (cols, exprs, where) in simple.items():
        if table in names:
            keyed = _ALREADY_STORED.get(table)
            if keyed:
                # like plays: a count, friendship, tag, ... another ingest already wrote
                # is not written again, so a copied or edited export doubles nothing
                n_staged = con.execute(
                    f"SELECT count(*) FROM {names[table]} WHERE {where}"
                ).fetchall()[0][0]
                key = keyed.format(s=names[table])
                where += f" AND NOT EXISTS (SELECT 1 FROM {table} x WHERE {key})"
            con.execute(
                f"INSERT INTO {table} ({cols}, source, ingest_id) SELECT {exprs}, $src, $ing "
                f"FROM {names[table]} WHERE {where}",
                p,
            )
            loaded[table] = count(table)
            if keyed and duplicates is not None and int(n_staged) > loaded[table]:
                duplicates[table] = int(n_staged) - loaded[table]
    for n in names.values():
        con.execute(f"DROP TABLE IF EXISTS {n}")
    return {k: v for k, v in loaded.items() if v}


#: Natural keys of the facts that are not written again when another ingest holds them
#: (plays in ``events`` and likes are keyed in their own statements above). Plays, play
#: counts, friendships and playlist entries are keyed whatever their source; tags,
#: features and lyrics per source (two catalogues may both say an artist is rock, and
#: both count), so an edited copy of a dataset adds only what is new in it. A Parquet
#: lake keeps tags without their source: its tags match a stored tag of any source, so a
#: lake ingested back into the store it came from adds none twice.
_ALREADY_STORED = {
    "playcounts": (
        "x.user_id = NULLIF(trim({s}.user_id), '') "
        "AND x.artist_id IS NOT DISTINCT FROM {s}._artist_id "
        "AND x.track_id IS NOT DISTINCT FROM {s}._track_id"
    ),
    "friends": "x.user_id = NULLIF(trim({s}.user_id), '') AND x.friend_id = NULLIF(trim({s}.friend_id), '')",
    "playlists": (
        "x.user_id = NULLIF(trim({s}.user_id), '') AND x.name = {s}.name "
        "AND x.position = {s}.position AND x.track_id = {s}._track_id"
    ),
    "artist_tags": (
        "(x.source = $src OR $src = 'parquet') "
        "AND x.artist_id = {s}._artist_id AND x.tag = trim({s}.tag) "
        "AND x.user_id IS NOT DISTINCT FROM NULLIF(trim({s}.user_id), '') "
        "AND x.tagged_at IS NOT DISTINCT FROM {s}.tagged_at"
    ),
    "track_tags": (
        "(x.source = $src OR $src = 'parquet') "
        "AND x.track_id = {s}._track_id AND x.tag = trim({s}.tag) "
        "AND x.kind = COALESCE({s}.kind, 'tag')"
    ),
    "track_features": (
        "x.source = $src AND x.track_id = {s}._track_id AND x.feature = {s}.feature"
    ),
    "artist_features": (
        "x.source = $src AND x.artist_id = {s}._artist_id AND x.feature = {s}.feature"
    ),
    "lyrics": "x.source = $src AND x.track_id = {s}._track_id",
}

_TRACK_REF_PAIRS = (
    ("title", "track"),
    ("mbid", "track_mbid"),
    ("uri", "track_uri"),
    ("ext", "track_ext"),
    ("album", "album"),
    ("a", "artist"),
    ("am", "artist_mbid"),
    ("ae", "artist_ext"),
)
_ARTIST_REF_PAIRS = (("name", "artist"), ("mbid", "artist_mbid"), ("ext", "artist_ext"))
_ALBUM_REF_PAIRS = (
    ("title", "album"),
    ("a", "artist"),
    ("am", "artist_mbid"),
    ("ae", "artist_ext"),
)


def _ref_join(x: str, r: str, pairs: Sequence[tuple[str, str]] = _TRACK_REF_PAIRS) -> str:
    """Join condition between a staged row ``x`` and a reference row ``r`` (track by default).

    ``pairs`` maps the reference table's columns to the staged frame's: the track, artist
    and album reference tables (``_tref``, ``_aref``, ``_alref``) each have their own.
    """
    return " AND ".join(f"{r}.{rc} IS NOT DISTINCT FROM {_clean(f'{x}.{xc}')}" for rc, xc in pairs)


def _add_ref_ids(con: duckdb.DuckDBPyConnection, names: Mapping[str, str]) -> None:
    """Add resolved ``_artist_id``, ``_album_id``, ``_track_id`` columns to every staged table."""
    for table, n in names.items():
        spec = STAGED_COLUMNS[table]
        if "artist" not in spec:
            continue
        con.execute(f"ALTER TABLE {n} ADD COLUMN _artist_id BIGINT")
        con.execute(f"ALTER TABLE {n} ADD COLUMN _album_id BIGINT")
        con.execute(f"ALTER TABLE {n} ADD COLUMN _track_id BIGINT")
        con.execute(
            f"""
            UPDATE {n} SET _artist_id = r.artist_id FROM _aref r
            WHERE {_ref_join(n, "r", _ARTIST_REF_PAIRS)}
            """
        )
        if "album" in spec:
            con.execute(
                f"""
                UPDATE {n} SET _album_id = r.album_id FROM _alref r
                WHERE {_ref_join(n, "r", _ALBUM_REF_PAIRS)}
                """
            )
        if table in TRACK_FRAMES:
            con.execute(
                f"UPDATE {n} SET _track_id = r.track_id FROM _tref r WHERE {_ref_join(n, 'r')}"
            )


def _attach_artist(con: duckdb.DuckDBPyConnection, table: str, a: str, am: str, ae: str) -> None:
    con.execute(
        f"""
        UPDATE {table} SET artist_id = r.artist_id FROM _aref r
        WHERE r.name IS NOT DISTINCT FROM {table}.{a} AND r.mbid IS NOT DISTINCT FROM {table}.{am}
          AND r.ext IS NOT DISTINCT FROM {table}.{ae}
        """
    )


#: Matching of references to existing catalogue rows, run before and again after new rows
#: are inserted (the second run gives the references the ids of the rows just created).
_MATCH_ARTISTS = (
    """
    UPDATE _aref SET artist_id = m.artist_id FROM (
        SELECT mbid, min(artist_id) AS artist_id FROM artists WHERE mbid IS NOT NULL GROUP BY mbid
    ) m WHERE _aref.artist_id IS NULL AND m.mbid = _aref.mbid
    """,
    """
    UPDATE _aref SET artist_id = m.artist_id FROM (
        SELECT name_norm, min(artist_id) AS artist_id FROM artists GROUP BY name_norm
    ) m WHERE _aref.artist_id IS NULL AND _aref.norm <> '' AND m.name_norm = _aref.norm
    """,
)
_MATCH_TRACKS = (
    *(
        f"""
        UPDATE _tref SET track_id = m.track_id FROM (
            SELECT {key}, min(track_id) AS track_id FROM tracks WHERE {key} IS NOT NULL GROUP BY {key}
        ) m WHERE _tref.track_id IS NULL AND m.{key} = _tref.{key}
        """
        for key in ("mbid", "uri")
    ),
    """
    UPDATE _tref SET track_id = m.track_id FROM (
        SELECT title_norm, artist_id, min(track_id) AS track_id FROM tracks GROUP BY ALL
    ) m WHERE _tref.track_id IS NULL AND _tref.norm <> '' AND m.title_norm = _tref.norm
      AND m.artist_id IS NOT DISTINCT FROM _tref.artist_id
    """,
)
_MATCH_ALBUMS = """
    UPDATE _alref SET album_id = m.album_id FROM (
        SELECT title_norm, artist_id, min(album_id) AS album_id FROM albums GROUP BY ALL
    ) m WHERE _alref.album_id IS NULL AND m.title_norm = _alref.norm
      AND m.artist_id IS NOT DISTINCT FROM _alref.artist_id
"""


def _execute_all(con: duckdb.DuckDBPyConnection, statements: Iterable[str]) -> None:
    for statement in statements:
        con.execute(statement)


def _insert_numbered(
    con: duckdb.DuckDBPyConnection,
    table: str,
    id_column: str,
    columns: Sequence[str],
    select: str,
    params: Mapping[str, Any],
    *,
    keep_ids: bool = False,
) -> None:
    """Insert ``select``'s rows into ``table`` with ids drawn in the order of its ``_key``.

    ``select`` names ``columns`` and a ``_key`` unique per row. The rows take the next
    ids of ``{id_column}_seq`` in ``_key`` order, so one input gives one numbering:
    letting the column's default draw them numbered the rows in the order the threads
    of a parallel GROUP BY produced them, and two ingests of the same files gave a
    third of the artists other ids (and models trained on them other ties).
    ``keep_ids``: leave the ids drawn in ``_inserted_<table>`` for
    :func:`_drop_unreferenced`, which drops that table.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _numbered AS {select}", dict(params))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inserted_{table} (id BIGINT)")
    row = con.execute("SELECT count(*) FROM _numbered").fetchone()
    n = int(row[0]) if row else 0
    if n:
        con.execute(
            f"""
            INSERT INTO _inserted_{table}
            SELECT nextval('{id_column}_seq') AS id FROM range($n)
            """,
            {"n": n},
        )
        cols = ", ".join(columns)
        con.execute(
            f"""
            INSERT INTO {table} ({id_column}, {cols})
            SELECT i.id, {cols}
            FROM (SELECT *, row_number() OVER (ORDER BY _key) AS _rn FROM _numbered) r
            JOIN (SELECT id, row_number() OVER (ORDER BY id) AS _rn FROM _inserted_{table}) i
            USING (_rn)
            """
        )
    con.execute("DROP TABLE _numbered")
    if not keep_ids:
        con.execute(f"DROP TABLE _inserted_{table}")


def _drop_unreferenced(
    con: duckdb.DuckDBPyConnection, table: str, id_column: str, ref: str
) -> None:
    """Delete the rows this write added to ``table`` that no reference of ``ref`` resolved to.

    New rows are made one per key (MBID, URI, normalised name...), then every reference
    is matched again, by MBID or URI first and by normalised name to the lowest id: a
    name-only scrobble of an artist whose other scrobbles carry an MBID joins the MBID's
    row, and the row made for its name alone is left with no play, like, tag or album
    (27 artists and 109 tracks on the demo store). Such rows are not kept. Only the rows of
    this call (``_inserted_<table>``, kept by :func:`_insert_numbered`) are looked at: a
    lake ingested in batches writes under one ingest id, and an earlier batch's rows are
    the references of that batch, not of this one.
    """
    con.execute(
        f"""
        DELETE FROM {table} WHERE {id_column} IN (
            SELECT id FROM _inserted_{table} WHERE id NOT IN (
                SELECT {id_column} FROM {ref} WHERE {id_column} IS NOT NULL
            )
        )
        """
    )
    con.execute(f"DROP TABLE _inserted_{table}")


def _match_external_ids(con: duckdb.DuckDBPyConnection, ref: str, entity: str, source: str) -> None:
    """Give the rows of ``ref`` (``ext``, ``<entity>_id``) the id an earlier ingest of
    ``source`` recorded for their external id."""
    con.execute(
        f"""
        UPDATE {ref} SET {entity}_id = x.internal_id FROM external_ids x
        WHERE x.source = $src AND x.entity = '{entity}' AND x.external_id = {ref}.ext
        """,
        {"src": source},
    )


def _keep_external_ids(con: duckdb.DuckDBPyConnection, ref: str, entity: str, source: str) -> None:
    """Record the external id -> ``<entity>_id`` of ``source`` that ``ref`` resolved."""
    con.execute(
        f"""
        INSERT OR IGNORE INTO external_ids
        SELECT DISTINCT $src, '{entity}', ext, {entity}_id FROM {ref}
        WHERE ext IS NOT NULL AND {entity}_id IS NOT NULL
        """,
        {"src": source},
    )


def _resolve_artists(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> None:
    """Give every row of ``_aref`` an artist id: ext id, then MBID, then normalised name; else new."""
    _match_external_ids(con, "_aref", "artist", p["src"])
    _execute_all(con, _MATCH_ARTISTS)
    # A stored artist whose name normalises to nothing ("!!!"), or who was named by their
    # external id for want of a name (an MSD artist id), matches exactly that name: a
    # lake of the store names them so, and their name normalises to something else.
    con.execute(
        """
        UPDATE _aref SET artist_id = m.artist_id FROM (
            SELECT name, min(artist_id) AS artist_id FROM artists WHERE name_norm = '' GROUP BY name
        ) m WHERE _aref.artist_id IS NULL AND m.name = _aref.name
        """
    )
    # New artists: one per MBID, else one per normalised name (else one per external id).
    _insert_numbered(
        con,
        "artists",
        "artist_id",
        ("name", "name_norm", "mbid", "source", "ingest_id"),
        """
        SELECT COALESCE(arg_min(name, ((name = lower(name))::INT, length(name), name)), min(ext)) AS name,
               COALESCE(min(norm), '') AS name_norm, min(mbid) AS mbid, $src AS source,
               $ing AS ingest_id,
               COALESCE(mbid, CASE WHEN norm <> '' THEN 'n:' || norm END, 'x:' || ext) AS _key
        FROM _aref WHERE artist_id IS NULL GROUP BY ALL
        """,
        p,
        keep_ids=True,
    )
    _execute_all(con, _MATCH_ARTISTS)
    con.execute(
        """
        UPDATE _aref SET artist_id = m.artist_id FROM (
            SELECT name, min(artist_id) AS artist_id FROM artists WHERE ingest_id = $ing GROUP BY name
        ) m WHERE _aref.artist_id IS NULL AND m.name = COALESCE(_aref.name, _aref.ext)
        """,
        {"ing": p["ing"]},
    )
    _drop_unreferenced(con, "artists", "artist_id", "_aref")
    _keep_external_ids(con, "_aref", "artist", p["src"])


def _resolve_tracks(con: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> None:
    """Give every row of ``_tref`` a track id: ext id, MBID, URI, then (artist, title); else new."""
    _match_external_ids(con, "_tref", "track", p["src"])
    _execute_all(con, _MATCH_TRACKS)
    # A stored track whose title normalises to nothing ("???", "(Radio Edit)"), or that
    # was titled by its external id for want of a title (an MSD song id such as
    # SOAUTVB12AB018AFF0, stored with an empty normalised title), matches a reference of
    # the same artist with exactly that title, as such artist names do: a second export
    # or a lake of the store names it so, and that title normalises to something else.
    con.execute(
        """
        UPDATE _tref SET track_id = m.track_id FROM (
            SELECT title, artist_id, min(track_id) AS track_id FROM tracks WHERE title_norm = ''
            GROUP BY ALL
        ) m WHERE _tref.track_id IS NULL AND m.title = _tref.title
          AND m.artist_id IS NOT DISTINCT FROM _tref.artist_id
        """
    )
    # New tracks: one per MBID or URI, else per normalised title, else per external id,
    # else per exact title (two empty-normalised titles of one artist are two tracks). A
    # track met on several albums takes the first album by title, not the lowest id:
    # album ids are drawn in parallel, so "lowest" differed between two ingests.
    _insert_numbered(
        con,
        "tracks",
        "track_id",
        ("title", "title_norm", "artist_id", "album_id", "mbid", "uri", "source", "ingest_id"),
        """
        SELECT COALESCE(arg_min(title, (length(title), title)), min(ext)) AS title,
               COALESCE(min(norm), '') AS title_norm, artist_id,
               arg_min(album_id, (album, album_id)) FILTER (WHERE album_id IS NOT NULL) AS album_id,
               min(mbid) AS mbid, min(uri) AS uri, $src AS source, $ing AS ingest_id,
               (artist_id, COALESCE(
                   mbid, uri, CASE WHEN norm <> '' THEN 'n:' || norm END, 'x:' || ext, 't:' || title
               )) AS _key
        FROM _tref WHERE track_id IS NULL GROUP BY ALL
        """,
        p,
        keep_ids=True,
    )
    _execute_all(con, _MATCH_TRACKS)
    con.execute(
        """
        UPDATE _tref SET track_id = m.track_id FROM (
            SELECT title, artist_id, min(track_id) AS track_id FROM tracks WHERE ingest_id = $ing GROUP BY ALL
        ) m WHERE _tref.track_id IS NULL AND m.title = COALESCE(_tref.title, _tref.ext)
          AND m.artist_id IS NOT DISTINCT FROM _tref.artist_id
        """,
        {"ing": p["ing"]},
    )
    _drop_unreferenced(con, "tracks", "track_id", "_tref")
    _keep_external_ids(con, "_tref", "track", p["src"])


def _fill_catalogue(
    con: duckdb.DuckDBPyConnection,
    table: str,
    metadata: str,
    p: dict[str, Any],
    updated: dict[str, int] | None,
    duplicates: dict[str, int] | None,
) -> None:
    """Fill what the catalogue rows of ``table`` lack from a staged catalogue frame.

    ``metadata``: a query of one row per resolved ``<entity>_id`` (the first column) with
    the staged values of the columns it names. A stored value is kept; a missing one is
    filled. Of the rows an earlier ingest stored, those given a value count in ``updated``
    and the rest in ``duplicates`` (named, unchanged); rows this ingest created are
    counted as loaded by the caller.
    """
    key = f"{table[:-1]}_id"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _meta AS {metadata}")
    try:
        cols = [str(r[0]) for r in con.execute("DESCRIBE _meta").fetchall() if r[0] != key]

        def fills(row: str) -> str:  # the stored row lacks a value the staged one has
            return " OR ".join(f"({row}.{col} IS NULL AND m.{col} IS NOT NULL)" for col in cols)

        ((changed, same),) = con.execute(
            f"""SELECT count(*) FILTER (WHERE {fills("c")}), count(*) FILTER (WHERE NOT ({fills("c")}))
                FROM _meta m JOIN {table} c ON c.{key} = m.{key} WHERE c.ingest_id <> $ing""",
            {"ing": p["ing"]},
        ).fetchall()
        sets = ", ".join(f"{col} = COALESCE({table}.{col}, m.{col})" for col in cols)
        con.execute(
            f"UPDATE {table} SET {sets} FROM _meta m WHERE {table}.{key} = m.{key} "
            f"AND ({fills(table)})"
        ).fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _meta")
    for counts, n in ((updated, changed), (duplicates, same)):
        if counts is not None and n:
            counts[table] = counts.get(table, 0) + int(n)


#: How a stored user's attribute (``{old}``) and a staged one (``{new}``) merge: a staged
#: value fills or replaces the stored one, and a declared country ('profile') is kept over
#: one read from plays, in either ingest order. One home for the update and for the check
#: that tells an unchanged user from a changed one.
_USER_MERGE = {
    "registered_at": "COALESCE({new}.registered_at, {old}.registered_at)",
    "country": (
        "CASE WHEN {old}.country_basis = 'profile' AND {new}.country_basis = 'plays' "
        "THEN {old}.country ELSE COALESCE({new}.country, {old}.country) END"
    ),
    "country_basis": (
        "CASE WHEN {old}.country_basis = 'profile' AND {new}.country_basis = 'plays' "
        "THEN {old}.country_basis ELSE COALESCE({new}.country_basis, {old}.country_basis) END"
    ),
    "age": "COALESCE({new}.age, {old}.age)",
    "gender": "COALESCE({new}.gender, {old}.gender)",
    "declared_plays": "COALESCE({new}.declared_plays, {old}.declared_plays)",
}


def _write_users(con: duckdb.DuckDBPyConnection, staged: str, p: dict[str, Any]) -> tuple[int, int]:
    """Insert new users and merge staged attributes into stored ones; ``(changed, unchanged)``.

    A stored user keeps the ``source`` and ``ingest_id`` that first brought them (as an
    artist or a track does): another source, or a lake of this store, only adds or
    corrects attributes (:data:`_USER_MERGE`). A user whose merged attributes equal the
    stored ones is not written at all. Countries are mapped to ISO alpha-2 and a region
    before the comparison, so "United Kingdom" and a stored "GB" are the same; the region
    of a changed user follows their country.
    """
    from encore.data.countries import country_table

    con.register("_countries", country_table())
    try:
        country = _clean("s.country")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _usr AS
            SELECT {_clean("s.user_id")} AS user_id, s.registered_at,
                   COALESCE(c.iso2, {country}) AS country,
                   CASE WHEN {country} IS NOT NULL
                        THEN COALESCE({_clean("s.country_basis")}, 'profile') END AS country_basis,
                   c.region, s.age, {_clean("s.gender")} AS gender, s.declared_plays
            FROM {staged} s LEFT JOIN _countries c ON c.key = lower({country})
            WHERE {_clean("s.user_id")} IS NOT NULL
            """
        )
        same = " AND ".join(
            f"({merge.format(new='n', old='u')}) IS NOT DISTINCT FROM u.{col}"
            for col, merge in _USER_MERGE.items()
        )
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _usr_state AS
            SELECT n.user_id, bool_and(u.user_id IS NOT NULL AND {same}) AS same,
                   bool_or(u.user_id IS NULL) AS new
            FROM _usr n LEFT JOIN users u ON u.user_id = n.user_id GROUP BY n.user_id
            """
        )
        ((changed, unchanged),) = con.execute(
            "SELECT count(*) FILTER (WHERE NOT new AND NOT same), count(*) FILTER (WHERE same) "
            "FROM _usr_state"
        ).fetchall()
        cols = ", ".join(_USER_MERGE)
        sets = ",\n".join(
            f"{col} = {merge.format(new='excluded', old='users')}"
            for col, merge in _USER_MERGE.items()
        )
        con.execute(
            f"""
            INSERT INTO users (user_id, {cols}, region, source, ingest_id)
            SELECT user_id, {cols}, region, $src, $ing FROM _usr
            WHERE user_id IN (SELECT user_id FROM _usr_state WHERE NOT same)
            ON CONFLICT (user_id) DO UPDATE SET {sets}
            """,
            p,
        )
        # the region of a changed user follows their (merged) country
        con.execute(
            """
            UPDATE users SET region = c.region FROM (
                SELECT s.user_id, any_value(k.region) AS region
                FROM _usr_state s JOIN users u ON u.user_id = s.user_id
                LEFT JOIN _countries k ON k.key = lower(trim(u.country))
                WHERE NOT s.same AND NOT s.new GROUP BY s.user_id
            ) c WHERE users.user_id = c.user_id
            """
        )
    finally:
        con.unregister("_countries")
        con.execute("DROP TABLE IF EXISTS _usr")
        con.execute("DROP TABLE IF EXISTS _usr_state")
    return changed, unchanged
