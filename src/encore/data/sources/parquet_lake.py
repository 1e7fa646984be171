"""``parquet``: an Encore Parquet lake (``encore export events``) read back into a store.

The lake's manifest is checked first (format, versions, every listed file present; see
:func:`encore.lake.export.read_manifest`). Then, in DuckDB over the files in place:

- **events** (every date partition): ``user_id`` present and not blank, ``ts`` present
  and within the plausibility bounds, ``ms_played`` within bounds, a track or an artist
  named, and every ``track_id`` / ``artist_id`` listed in the lake's catalogue. A bad
  row is reported with its file, row (1-based, within that file) and field; with
  ``--on-error skip`` it goes to the rejects table and the rest is loaded.
- **catalogue**: artists, albums, tracks (with their MusicBrainz ids, Spotify URIs,
  durations, raw genres, languages, years), artist and track tags, users (with where
  their country came from). An artist
  with a coarse genre but no tag keeps the genre as a catalogue genre entry (a tag with
  no tagger), from which the store derives it again.

References are staged as external ids of this source (the lake's own ``track_id`` /
``artist_id``) plus names and MusicBrainz ids, so the writer matches them against the
store's catalogue like any loader's, and a second ingest of the same lake adds nothing.
Rows keep their time, duration and skip flag; new rows get the source ``parquet``, while
a user, artist, album or track already stored keeps the source that first brought it: a
lake ingested back into the store it came from changes no user, adds no catalogue row,
tag or play, and its summary counts the users as already stored.
Likes, play counts and derived tables (segments, genre resolution) are not part of a
lake's events: recompute the derived ones after the ingest.

**Bounded memory.** The checks run as one streaming scan that keeps only the bad rows.
The events are then written in batches of whole date partitions (about
:data:`BATCH_ROWS` events each, in date order; see :attr:`encore.data.ingest.Staged.batches`),
each read by DuckDB from the Parquet files into a temporary table, never into Python,
all inside the ingest's one transaction: a failure in any batch leaves the store as it
was. A play's day is its partition, so a play repeated in the lake is always within one
batch, and the store's natural-key dedupe is the same as for a single write.

**Date range.** ``ParquetLakeLoader(start=..., end=...)`` (``encore ingest parquet DIR
--from DATE --to DATE``) reads only the partitions of those UTC days (inclusive). The
range is part of the ingest's identity: ingesting another range adds to the store,
ingesting the same range again replaces it, and plays already stored (from an
overlapping range or the whole lake) are not written twice.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from encore.data import bounds
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._toolkit import sql_str
from encore.data.writer import Frame
from encore.errors import ConfigError, DataError

#: Events columns a lake must have (the store's own).
_EVENT_COLUMNS = ("user_id", "track_id", "artist_id", "ts", "ms_played", "skipped")
#: Events per write batch (whole date partitions are added until a batch holds at least
#: this many): the ingest's memory grows with the batch, not with the lake.
BATCH_ROWS = 2_000_000


def _partition_day(rel: str) -> date | None:
    """The UTC day of an events file from its Hive folder (``events/date=YYYY-MM-DD/...``)."""
    for part in rel.split("/"):
        if part.startswith("date="):
            try:
                return date.fromisoformat(part[5:])
            except ValueError:
                return None
    return None


def _wrap(path: Path, exc: duckdb.Error) -> DataError:
    text = str(exc).strip().splitlines()
    return DataError(
        f"cannot read the lake: {text[0] if text else type(exc).__name__}",
        file=str(path),
        hint="the lake's files are damaged or were edited; export it again with "
        "`encore export events`",
    )


class ParquetLakeLoader(Loader):
    """An Encore Parquet lake: events by date plus catalogue, with a manifest."""

    name: ClassVar[str] = "parquet"
    description: ClassVar[str] = (
        "an Encore Parquet lake (events by date + catalogue + manifest.json) from `encore export events`"
    )
    priority: ClassVar[int] = 45

    def __init__(
        self,
        start: date | None = None,
        end: date | None = None,
        *,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        """Read every event of the lake, or only those of the UTC days ``start``..``end``.

        Raises
        ------
        ConfigError
            ``start`` after ``end``, or ``batch_rows`` not positive.
        """
        if start is not None and end is not None and start > end:
            raise ConfigError(f"--from {start} is after --to {end}")
        if batch_rows < 1:
            raise ConfigError("batch_rows must be positive")
        self.start, self.end, self.batch_rows = start, end, batch_rows

    def variant(self) -> str:
        """``events=FROM..TO`` for a date range (an open end left blank), else ``""``."""
        if self.start is None and self.end is None:
            return ""
        return f"events={self.start or ''}..{self.end or ''}"

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
            raise _wrap(path, exc) from exc
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
            # where a country came from (a profile, or read from plays) travels with it; a
            # lake of a store older than that column says nothing (a profile country)
            basis = (
                "country_basis"
                if "country_basis" in (tables["users"].get("columns") or {})
                else "NULL AS country_basis"
            )
            staged.add(
                "users",
                con.sql(
                    f"""SELECT user_id, registered_at, country, {basis}, age, gender, declared_plays
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
        files = [f for f in manifest["events"].get("files") or [] if isinstance(f, dict)]
        if self.start is not None or self.end is not None:
            days = [(_partition_day(str(f.get("path", ""))), f) for f in files]
            files = [
                f
                for day, f in days
                if day is not None
                and (self.start is None or day >= self.start)
                and (self.end is None or day <= self.end)
            ]
            if not files:
                known = sorted(d for d, _f in days if d is not None)
                span = f"{known[0]} to {known[-1]}" if known else "no dated partitions"
                raise ConfigError(
                    f"the lake has no events from {self.start or 'its start'} to "
                    f"{self.end or 'its end'} (its partitions span {span})",
                    hint="choose --from/--to within the lake's days",
                )
        if not files:
            return staged
        files.sort(key=lambda f: str(f.get("path", "")))
        listing = "[" + ", ".join(sql_str(str(path / str(f["path"]))) for f in files) + "]"
        events = (
            f"read_parquet({listing}, hive_partitioning = true, "
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
        rows = sum(int(f.get("rows") or 0) for f in files)
        ctx.step(f"parquet: checking {rows:,} events in {len(files):,} files")
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
        # one streaming scan over every selected file; only the bad rows are kept
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
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("DROP TABLE IF EXISTS _lake_bad")
            raise
        staged.batches = self._batches(path, ctx, files, bool(bad), track_ref, track_join, src)
        return staged

    def _batches(
        self,
        path: Path,
        ctx: IngestContext,
        files: list[dict[str, Any]],
        any_bad: bool,
        track_ref: str,
        track_join: str,
        src: Any,
    ) -> Iterator[dict[str, Frame]]:
        """The checked events, whole date partitions at a time, each in a temp table."""
        con = ctx.con
        tracks, artists = src("tracks"), src("artists")
        groups: list[list[dict[str, Any]]] = [[]]
        size = 0
        for f in files:  # sorted by path: date order, a day's files together
            day = _partition_day(str(f["path"]))
            prev = _partition_day(str(groups[-1][-1]["path"])) if groups[-1] else None
            if size >= self.batch_rows and day != prev:
                groups.append([])
                size = 0
            groups[-1].append(f)
            size += int(f.get("rows") or 0)
        keep = (
            "NOT EXISTS (SELECT 1 FROM _lake_bad b WHERE b.file = e.filename "
            "AND b.row = e.file_row_number + 1)"
            if any_bad
            else "TRUE"
        )
        # the event's own artist first (an event may name only an artist), else the track's;
        # no album: the catalogue staged each track with its album, and a play crediting
        # another artist than its track's (a featured artist) would otherwise name the
        # album with that artist, one the store never had
        event_ref = (
            track_ref.replace("al.title AS album", "NULL::VARCHAR AS album")
            .replace("a.name", "COALESCE(ea.name, a.name)")
            .replace("a.mbid", "COALESCE(ea.mbid, a.mbid)")
            .replace("CAST(a.artist_id", "CAST(COALESCE(ea.artist_id, a.artist_id)")
        )
        try:
            for i, group in enumerate(groups, 1):
                first, last = _partition_day(group[0]["path"]), _partition_day(group[-1]["path"])
                n = sum(int(f.get("rows") or 0) for f in group)
                ctx.step(f"parquet: writing events {i}/{len(groups)} ({first} to {last}, {n:,})")
                listing = "[" + ", ".join(sql_str(str(path / f["path"])) for f in group) + "]"
                try:
                    con.execute(
                        f"""CREATE OR REPLACE TEMP TABLE _lake_batch AS
                            SELECT e.user_id, e.ts, e.ms_played, e.skipped,
                                   {event_ref},
                                   e.filename AS _file, e.file_row_number + 1 AS _line
                            FROM read_parquet({listing}, filename = true,
                                              file_row_number = true) e
                            LEFT JOIN {tracks} t ON t.track_id = e.track_id
                            {track_join}
                            LEFT JOIN {artists} ea ON ea.artist_id = e.artist_id
                            WHERE {keep}"""
                    )
                except duckdb.Error as exc:
                    raise _wrap(path, exc) from exc
                yield {"events": con.table("_lake_batch")}
        finally:
            # after a failure the transaction is aborted and its rollback drops them
            with contextlib.suppress(duckdb.Error):
                con.execute("DROP TABLE IF EXISTS _lake_batch")
                con.execute("DROP TABLE IF EXISTS _lake_bad")
