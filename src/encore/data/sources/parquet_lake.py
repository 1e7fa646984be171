"""``parquet``: an Encore Parquet lake (``encore export events``) read back into a store.

The lake's manifest is checked first (format, versions, every listed file present; see
:func:`encore.lake.export.read_manifest`). Then, in DuckDB over the files in place:

- **events** (every date partition): ``user_id`` present and not blank, ``ts`` present
  and within the plausibility bounds, ``ms_played`` within bounds, a track or an artist
  named, and every ``track_id`` / ``artist_id`` listed in the lake's catalogue. A bad
  row is reported with its file, row (1-based, within that file) and field; with
  ``--on-error skip`` it goes to the rejects table and the rest is loaded.
- **catalogue**: artists, albums, tracks (with their MusicBrainz ids, Spotify URIs,
  durations, raw genres, languages, years), artist and track tags, users. An artist
  with a coarse genre but no tag keeps the genre as a catalogue genre entry (a tag with
  no tagger), from which the store derives it again.

References are staged as external ids of this source (the lake's own ``track_id`` /
``artist_id``) plus names and MusicBrainz ids, so the writer matches them against the
store's catalogue like any loader's, and a second ingest of the same lake adds nothing.
Rows keep their time, duration and skip flag; their ``source`` becomes ``parquet``.
Likes, play counts and derived tables (segments, genre resolution) are not part of a
lake's events: recompute the derived ones after the ingest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import duckdb

from encore.data import bounds
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import sql_str
from encore.errors import DataError

#: Events columns a lake must have (the store's own).
_EVENT_COLUMNS = ("user_id", "track_id", "artist_id", "ts", "ms_played", "skipped")


class ParquetLakeLoader(Loader):
    """An Encore Parquet lake: events by date plus catalogue, with a manifest."""

    name: ClassVar[str] = "parquet"
    description: ClassVar[str] = (
        "an Encore Parquet lake (events by date + catalogue + manifest.json) from `encore export events`"
    )
    priority: ClassVar[int] = 45

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A folder with a ``manifest.json`` whose format is ``encore-lake``."""
        manifest = path / "manifest.json"
        if not manifest.is_file():
            return False
        try:
            return bool(
                json.loads(manifest.read_text(encoding="utf-8")).get("format") == "encore-lake"
            )
        except (OSError, ValueError, AttributeError):
            return True  # ours, but damaged: load() says how

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Check the manifest and every event row, then stage events and catalogue.

        Raises
        ------
        DataError
            A damaged manifest, a missing table or column, a bad event row (strict mode),
            or a Parquet file DuckDB cannot read (truncated, damaged, not Parquet): every
            staged table is read here, so a damaged file is reported before anything is
            written.
        """
        try:
            staged = self._load(path, ctx)
            for table, frame in list(staged.frames.items()):
                if isinstance(frame, duckdb.DuckDBPyRelation):
                    staged.frames[table] = frame.to_arrow_table()
        except duckdb.Error as exc:
            text = str(exc).strip().splitlines()
            raise DataError(
                f"cannot read the lake: {text[0] if text else type(exc).__name__}",
                file=str(path),
                hint="the lake's files are damaged or were edited; export it again with "
                "`encore export events`",
            ) from exc
        return staged

    def _load(self, path: Path, ctx: IngestContext) -> Staged:
        from encore.lake.export import EVENTS_DIR, read_manifest

        manifest = read_manifest(path)
        con = ctx.con
        staged = Staged()
        tables = manifest["tables"]

        def src(name: str) -> str | None:
            spec = tables.get(name)
            return f"read_parquet({sql_str(str(path / spec['path']))})" if spec else None

        for needed in ("artists", "tracks"):
            if needed not in tables:
                raise DataError(
                    f"the lake has no {needed} table",
                    file=str(path / "manifest.json"),
                    field="tables",
                )
        artists, tracks = src("artists"), src("tracks")
        albums = src("albums") or (
            "(SELECT NULL::BIGINT AS album_id, NULL::VARCHAR AS title WHERE FALSE)"
        )
        ctx.step("parquet: catalogue")
        staged.add(
            "artists",
            con.sql(
                f"""SELECT name AS artist, mbid AS artist_mbid, CAST(artist_id AS VARCHAR) AS artist_ext,
                           country FROM {artists} ORDER BY artist_id"""
            ),
        )
        track_ref = """t.title AS track, t.mbid AS track_mbid, t.uri AS track_uri,
                        CAST(t.track_id AS VARCHAR) AS track_ext, al.title AS album,
                        a.name AS artist, a.mbid AS artist_mbid, CAST(a.artist_id AS VARCHAR) AS artist_ext"""
        track_join = f"""LEFT JOIN {artists} a ON a.artist_id = t.artist_id
                         LEFT JOIN {albums} al ON al.album_id = t.album_id"""
        staged.add(
            "tracks",
            con.sql(
                f"""SELECT {track_ref}, t.duration_ms, t.genre_raw, t.language, t.release_year
                    FROM {tracks} t {track_join} ORDER BY t.track_id"""
            ),
        )
        if (users := src("users")) is not None:
            staged.add(
                "users",
                con.sql(
                    f"""SELECT user_id, registered_at, country, age, gender, declared_plays
                        FROM {users} ORDER BY user_id"""
                ),
            )
        if (tags := src("artist_tags")) is not None:
            staged.add(
                "artist_tags",
                con.sql(
                    f"""SELECT a.name AS artist, a.mbid AS artist_mbid,
                               CAST(a.artist_id AS VARCHAR) AS artist_ext,
                               g.tag, g.weight, g.user_id, g.tagged_at
                        FROM {tags} g JOIN {artists} a ON a.artist_id = g.artist_id"""
                ),
            )
        # an artist whose coarse genre came with no tag (a generator or an older store set
        # it directly) keeps it as a catalogue genre entry, so the store derives it again
        no_tags = (
            f"AND a.artist_id NOT IN (SELECT artist_id FROM {tags})" if tags is not None else ""
        )
        staged.add(
            "artist_tags",
            con.sql(
                f"""SELECT a.name AS artist, a.mbid AS artist_mbid,
                           CAST(a.artist_id AS VARCHAR) AS artist_ext,
                           a.genre AS tag, 1.0 AS weight, NULL AS user_id, NULL::TIMESTAMP AS tagged_at
                    FROM {artists} a WHERE a.genre IS NOT NULL {no_tags}"""
            ),
        )
        if (ttags := src("track_tags")) is not None:
            staged.add(
                "track_tags",
                con.sql(
                    f"""SELECT {track_ref}, g.tag, g.weight, g.kind
                        FROM {ttags} g JOIN {tracks} t ON t.track_id = g.track_id {track_join}"""
                ),
            )
        if not manifest["events"].get("files"):
            return staged
        pattern = str(path / EVENTS_DIR / "**" / "*.parquet")
        events = (
            f"read_parquet({sql_str(pattern)}, hive_partitioning = true, "
            "filename = true, file_row_number = true)"
        )
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {events}").fetchall()}
        missing = [c for c in _EVENT_COLUMNS if c not in cols]
        if missing:
            raise DataError(
                f"the events files lack column(s) {', '.join(missing)}",
                file=str(path / EVENTS_DIR),
                field=missing[0],
            )
        ctx.step(f"parquet: checking {manifest['events'].get('rows', 0):,} events")
        checks = [
            ("user_id", "e.user_id IS NULL OR trim(e.user_id) = ''", "user_id is missing"),
            ("ts", "e.ts IS NULL", "ts is missing"),
            (
                "ts",
                bounds.ts_out_of_bounds_sql("e.ts"),
                "out of bounds: " + bounds.bound_text("time"),
            ),
            (
                "ms_played",
                bounds.ms_out_of_bounds_sql("e.ms_played"),
                "out of bounds: " + bounds.bound_text("play"),
            ),
            (
                "track_id",
                "e.track_id IS NULL AND e.artist_id IS NULL",
                "an event must name a track or an artist",
            ),
            (
                "track_id",
                f"e.track_id IS NOT NULL AND e.track_id NOT IN (SELECT track_id FROM {tracks})",
                "unknown track_id: not in the lake's catalogue/tracks",
            ),
            (
                "artist_id",
                f"e.artist_id IS NOT NULL AND e.artist_id NOT IN (SELECT artist_id FROM {artists})",
                "unknown artist_id: not in the lake's catalogue/artists",
            ),
        ]
        case = " ".join(f"WHEN {cond} THEN {i}" for i, (_f, cond, _r) in enumerate(checks))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _lake_bad AS
                SELECT filename AS file, file_row_number + 1 AS row, CASE {case} END AS k,
                       e.user_id, CAST(e.ts AS VARCHAR) AS ts
                FROM {events} e WHERE ({" OR ".join(f"({c})" for _f, c, _r in checks)})"""
        )
        try:
            bad = con.execute(
                "SELECT file, row, k, user_id, ts FROM _lake_bad ORDER BY file, row"
            ).fetchall()
            for file, row, k, user, ts in bad:
                field, _cond, reason = checks[int(k)]
                ctx.reject("events", file, int(row), field, reason, raw=f"{user},{ts}")
            keep = (
                "NOT EXISTS (SELECT 1 FROM _lake_bad b WHERE b.file = e.filename "
                "AND b.row = e.file_row_number + 1)"
                if bad
                else "TRUE"
            )
            # the event's own artist first (an event may name only an artist), else the track's
            event_ref = (
                track_ref.replace("a.name", "COALESCE(ea.name, a.name)")
                .replace("a.mbid", "COALESCE(ea.mbid, a.mbid)")
                .replace("CAST(a.artist_id", "CAST(COALESCE(ea.artist_id, a.artist_id)")
            )
            rel = con.sql(
                f"""SELECT e.user_id, e.ts, e.ms_played, e.skipped,
                           {event_ref},
                           e.filename AS _file, e.file_row_number + 1 AS _line
                    FROM {events} e
                    LEFT JOIN {tracks} t ON t.track_id = e.track_id
                    {track_join}
                    LEFT JOIN {artists} ea ON ea.artist_id = e.artist_id
                    WHERE {keep}"""
            )
            # materialised before the temp table of bad rows goes away
            staged.add("events", rel.to_arrow_table())
        finally:
            con.execute("DROP TABLE IF EXISTS _lake_bad")
        return staged
