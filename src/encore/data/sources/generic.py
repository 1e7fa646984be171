"""``generic``: a documented CSV/Parquet layout for a music service's own logs.

The format is specified in ``docs/generic-format.md``. A folder (or one of its files) holds
any of ``users``, ``tracks``, ``events`` and ``likes``, each as ``.csv`` or ``.parquet``.
Validation is strict and done in DuckDB (no Python row loops): every bad value is reported
with file, line and field; unknown or missing columns, duplicate ``track_id`` and events
that name a track the tracks file does not list are errors. Files are read by
:func:`~encore.data.sources._csv.read_raw` and judged by the loaders' one toolkit
(:mod:`encore.data.sources._toolkit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from encore.data import bounds
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._csv import RawTable, arrow, read_raw, validate
from encore.data.sources._toolkit import (
    Check,
    bool_expr,
    duplicate,
    ident,
    int_expr,
    is_bool,
    is_int,
    is_ts,
    required,
    sql_str,
    ts_expr,
    txt,
)
from encore.errors import DataError

#: A value that looks like an ISO 8601 date (or a timestamp starting with one).
_ISO_DATE_SHAPE = r"\d{4}-\d\d-\d\d([T ].*)?"


def _real_date(col: str) -> Check:
    """When given and ISO 8601 in shape (``2024-02-30``, ``2023-13-01T10:00:00Z``), the date
    must exist in the calendar: said so before :func:`is_ts`'s "not an ISO 8601 timestamp",
    which would read as if the format were wrong."""
    x = txt(col)
    shaped = f"regexp_full_match({x}, {sql_str(_ISO_DATE_SHAPE)})"
    day = f"TRY_CAST(substr({x}, 1, 10) AS DATE)"
    return Check(
        f"{x} IS NOT NULL AND {shaped} AND {day} IS NULL AND {ts_expr(col)} IS NULL",
        col,
        "not a real date: ISO 8601 in shape, but no such day in the calendar "
        "(month 01-12, day within the month)",
    )


# ------------------------------------------------------------------ the generic format
#: Columns of each file: name -> required (the column must be present and non-empty).
GENERIC_COLUMNS: dict[str, dict[str, bool]] = {
    "users": {
        "user_id": True,
        "registered_at": False,
        "country": False,
        "age": False,
        "gender": False,
    },
    "tracks": {
        "track_id": True,
        "title": True,
        "artist": False,
        "album": False,
        "duration_ms": False,
        "genre": False,
        "language": False,
        "release_year": False,
        "artist_country": False,
    },
    "events": {"user_id": True, "track_id": True, "ts": True, "ms_played": False, "skipped": False},
    "likes": {"user_id": True, "entity_type": True, "entity_id": True, "liked_at": False},
}

_GENDERS = {
    "m": "m",
    "male": "m",
    "man": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "n": "n",
    "x": "n",
    "other": "n",
    "nonbinary": "n",
    "non-binary": "n",
}


def generic_files(path: Path) -> dict[str, Path]:
    """The generic-format files at ``path`` (a folder, or one file named after its kind).

    Raises
    ------
    DataError
        A folder holds both ``X.csv`` and ``X.parquet``.
    """
    found: dict[str, Path] = {}
    if path.is_file():
        if path.stem in GENERIC_COLUMNS and path.suffix.lower() in (".csv", ".parquet"):
            found[path.stem] = path
        return found
    if not path.is_dir():
        return found
    for kind in GENERIC_COLUMNS:
        hits = [p for p in (path / f"{kind}.csv", path / f"{kind}.parquet") if p.is_file()]
        if len(hits) > 1:
            raise DataError(
                f"both {hits[0].name} and {hits[1].name} found; keep one", file=str(path)
            )
        if hits:
            found[kind] = hits[0]
    return found


class GenericLoader(Loader):
    """A service's own logs in the documented generic layout (``docs/generic-format.md``).

    User ids are kept as given (no namespace prefix); the service's ``track_id`` becomes
    the track's external id for the source ``generic``. Artists and albums are matched by
    name against the rest of the catalogue.
    """

    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "a service's own logs: users/tracks/events/likes as CSV or Parquet"
    priority: ClassVar[int] = 40

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A folder with ``events`` or ``tracks`` (.csv/.parquet), or such a file itself."""
        try:
            files = generic_files(path)
        except DataError:
            return True  # ambiguous, but ours: load() reports the problem
        if path.is_file():
            return bool(files)
        return "events" in files or "tracks" in files

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Validate and stage every file found; see ``docs/generic-format.md``."""
        files = generic_files(path)
        if not files:
            raise DataError(
                "no generic-format file found (users, tracks, events or likes as .csv or .parquet)",
                file=str(path),
                hint="see docs/generic-format.md",
            )
        con = ctx.con
        raws: dict[str, RawTable] = {}
        staged = Staged()
        try:
            for kind in ("users", "tracks", "events", "likes"):
                if kind not in files:
                    continue
                ctx.step(f"generic: checking {files[kind].name}")
                spec = GENERIC_COLUMNS[kind]
                raw = read_raw(
                    ctx,
                    files[kind],
                    kind,
                    required=[c for c, req in spec.items() if req],
                    allowed=list(spec),
                )
                raws[kind] = raw
                for col in spec:  # optional columns absent from the file read as NULL
                    if col not in raw.columns:
                        con.execute(f"ALTER TABLE {raw.name} ADD COLUMN {ident(col)} VARCHAR")
                        raw.columns.append(col)
                getattr(self, f"_{kind}")(ctx, raw, raws, staged)
        finally:
            for raw in raws.values():
                raw.drop(con)
        return staged

    # -- one method per file --------------------------------------------------
    @staticmethod
    def _dupes(raw: RawTable, key: str, what: str) -> Check:
        return Check(
            duplicate(raw.name, txt(key), "_rec"), key, f"duplicate {what} (each must appear once)"
        )

    def _users(
        self, ctx: IngestContext, raw: RawTable, raws: Mapping[str, RawTable], staged: Staged
    ) -> None:
        genders = ", ".join(sql_str(g) for g in _GENDERS)
        validate(
            ctx,
            raw,
            "users",
            [
                required("user_id"),
                _real_date("registered_at"),
                is_ts("registered_at"),
                is_int("age", 0, 150),
                Check(
                    f"{txt('gender')} IS NOT NULL AND lower({txt('gender')}) NOT IN ({genders})",
                    "gender",
                    f"unknown gender (use one of {', '.join(_GENDERS)})",
                ),
                self._dupes(raw, "user_id", "user_id"),
            ],
        )
        cases = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in _GENDERS.items())
        staged.add(
            "users",
            arrow(
                ctx.con,
                f"""
            SELECT {txt("user_id")} AS user_id, {ts_expr("registered_at")} AS registered_at,
                   {txt("country")} AS country, CAST({int_expr("age")} AS SMALLINT) AS age,
                   CASE lower({txt("gender")}) {cases} END AS gender
            FROM {raw.name} ORDER BY _rec""",
            ),
        )

    def _tracks(
        self, ctx: IngestContext, raw: RawTable, raws: Mapping[str, RawTable], staged: Staged
    ) -> None:
        validate(
            ctx,
            raw,
            "tracks",
            [
                required("track_id"),
                required("title"),
                is_int("duration_ms", 0, bounds.MAX_DURATION_MS - 1),
                is_int("release_year", 0, 3000),
                self._dupes(raw, "track_id", "track_id"),
            ],
        )
        staged.add(
            "tracks",
            arrow(
                ctx.con,
                f"""
            SELECT {txt("track_id")} AS track_ext, {txt("title")} AS track, {txt("artist")} AS artist,
                   {txt("album")} AS album, {int_expr("duration_ms")} AS duration_ms,
                   {txt("genre")} AS genre_raw, {txt("language")} AS language,
                   CAST({int_expr("release_year")} AS SMALLINT) AS release_year
            FROM {raw.name} ORDER BY _rec""",
            ),
        )
        countries = arrow(
            ctx.con,
            f"""
            SELECT DISTINCT {txt("artist")} AS artist, {txt("artist_country")} AS country FROM {raw.name}
            WHERE {txt("artist")} IS NOT NULL AND {txt("artist_country")} IS NOT NULL""",
        )
        if countries.num_rows:
            staged.add("artists", countries)

    @staticmethod
    def _track_ref(raws: Mapping[str, RawTable], key: str, alias: str = "x") -> tuple[str, str]:
        """(select list, join) giving the full track reference of ``alias.key``."""
        key_sql = txt(key, alias)
        if "tracks" not in raws:
            return f"{key_sql} AS track_ext", ""
        t = raws["tracks"].name
        return (
            f"{key_sql} AS track_ext, {txt('title', 't')} AS track, {txt('artist', 't')} AS artist, "
            f"{txt('album', 't')} AS album",
            f"LEFT JOIN {t} t ON {txt('track_id', 't')} = {key_sql}",
        )

    def _events(
        self, ctx: IngestContext, raw: RawTable, raws: Mapping[str, RawTable], staged: Staged
    ) -> None:
        checks = [
            required("user_id"),
            required("track_id"),
            required("ts"),
            _real_date("ts"),
            is_ts("ts"),
            Check(
                bounds.ts_out_of_bounds_sql(ts_expr("ts")),
                "ts",
                "out of bounds: " + bounds.bound_text("time"),
            ),
            is_int("ms_played", 0, bounds.MAX_PLAY_MS - 1),
            is_bool("skipped"),
        ]
        if "tracks" in raws:
            checks.append(
                Check(
                    f"{txt('track_id')} IS NOT NULL AND {txt('track_id')} NOT IN "
                    f"(SELECT {txt('track_id')} FROM {raws['tracks'].name} WHERE {txt('track_id')} IS NOT NULL)",
                    "track_id",
                    f"unknown track_id: not in {raws['tracks'].file.name}",
                )
            )
        validate(ctx, raw, "events", checks)
        ref, join = self._track_ref(raws, "track_id")
        staged.add(
            "events",
            arrow(
                ctx.con,
                f"""
            SELECT {txt("user_id")} AS user_id, {ts_expr("ts")} AS ts, {int_expr("ms_played")} AS ms_played,
                   {bool_expr("skipped")} AS skipped, {ref}
            FROM {raw.name} x {join} ORDER BY x._rec""",
            ),
        )

    def _likes(
        self, ctx: IngestContext, raw: RawTable, raws: Mapping[str, RawTable], staged: Staged
    ) -> None:
        et = f"lower({txt('entity_type')})"
        checks = [
            required("user_id"),
            required("entity_type"),
            required("entity_id"),
            _real_date("liked_at"),
            is_ts("liked_at"),
            Check(
                f"{txt('entity_type')} IS NOT NULL AND {et} NOT IN ('track', 'artist', 'album')",
                "entity_type",
                "entity_type must be track, artist or album",
            ),
        ]
        if "tracks" in raws:
            t = raws["tracks"].name
            checks.append(
                Check(
                    f"{txt('entity_id')} IS NOT NULL AND ("
                    f"({et} = 'track' AND {txt('entity_id')} NOT IN (SELECT {txt('track_id')} FROM {t} "
                    f"WHERE {txt('track_id')} IS NOT NULL)) OR "
                    f"({et} = 'artist' AND {txt('entity_id')} NOT IN (SELECT {txt('artist')} FROM {t} "
                    f"WHERE {txt('artist')} IS NOT NULL)) OR "
                    f"({et} = 'album' AND {txt('entity_id')} NOT IN (SELECT {txt('album')} FROM {t} "
                    f"WHERE {txt('album')} IS NOT NULL)))",
                    "entity_id",
                    f"unknown entity_id: no such track_id, artist or album in {raws['tracks'].file.name}",
                )
            )
        validate(ctx, raw, "likes", checks)
        con = ctx.con
        base = (
            f"{txt('user_id')} AS user_id, {et} AS entity_type, {ts_expr('liked_at')} AS liked_at"
        )
        ref, join = self._track_ref(raws, "entity_id")
        frames = [
            arrow(
                con,
                f"SELECT {base}, {ref} FROM {raw.name} x {join} WHERE {et} = 'track' ORDER BY x._rec",
            ),
            arrow(
                con,
                f"SELECT {base}, {txt('entity_id')} AS artist FROM {raw.name} WHERE {et} = 'artist' "
                "ORDER BY _rec",
            ),
        ]
        if "tracks" in raws:
            # an album is named by its title; its artist comes from the tracks file
            t = raws["tracks"].name
            frames.append(
                arrow(
                    con,
                    f"""
                SELECT {base}, {txt("entity_id")} AS album, a.artist
                FROM {raw.name} x LEFT JOIN (
                    SELECT {txt("album")} AS album, min({txt("artist")}) AS artist FROM {t}
                    WHERE {txt("album")} IS NOT NULL GROUP BY 1) a ON a.album = {txt("entity_id", "x")}
                WHERE {et} = 'album' ORDER BY x._rec""",
                )
            )
        else:
            frames.append(
                arrow(
                    con,
                    f"SELECT {base}, {txt('entity_id')} AS album FROM {raw.name} "
                    f"WHERE {et} = 'album' ORDER BY _rec",
                )
            )
        for frame in frames:
            if frame.num_rows:
                staged.add("likes", frame)
