"""``generic``: a documented CSV/Parquet layout for a music service's own logs.

The format is specified in ``docs/generic-format.md``. A folder (or one of its files) holds
any of ``users``, ``tracks``, ``events`` and ``likes``, each as ``.csv`` or ``.parquet``.
Validation is strict and done in DuckDB (no Python row loops): every bad value is reported
with file, line and field; unknown or missing columns, duplicate ``track_id`` and events
that name a track the tracks file does not list are errors.

This module also holds the small CSV toolkit the other catalogue loaders share
(:func:`read_raw`, :class:`Check`, :func:`validate`, :func:`ts_expr`, ...): DuckDB's
``read_csv`` with every column read as text and a record number, so bad values are found
with ``TRY_CAST`` in one query and reported with their line.

Line numbers are record numbers counting the header as line 1; they equal the physical
line unless a quoted field spans several lines. For Parquet the "line" is the 1-based row.
"""

from __future__ import annotations

import csv
import logging
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa

from encore.data.ingest import IngestContext, Loader, Staged
from encore.errors import DataError

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ shared CSV toolkit
def sql_str(text: str) -> str:
    """A SQL string literal for ``text``."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier for the column ``name``."""
    return '"' + name.replace('"', '""') + '"'


#: SQL: the whitespace characters :func:`txt` strips (space, tab, line feed, carriage return).
WHITESPACE = "' ' || chr(9) || chr(10) || chr(13)"


def txt(col: str, alias: str | None = None) -> str:
    """SQL: the text of raw column ``col`` (of table ``alias``) without surrounding whitespace, NULL when empty."""
    ref = f"{alias}.{ident(col)}" if alias else ident(col)
    return f"NULLIF(trim({ref}, {WHITESPACE}), '')"


def num_expr(col: str) -> str:
    """SQL: raw column ``col`` as DOUBLE (NULL when empty or not a number)."""
    return f"TRY_CAST({txt(col)} AS DOUBLE)"


def int_expr(col: str) -> str:
    """SQL: raw column ``col`` as BIGINT when it is a whole number, else NULL.

    A whole number is an optional sign and ASCII digits (surrounding whitespace ignored)
    within the range of BIGINT, the rule of the TSV loaders: not ``12.0``, ``1e3`` or
    ``1_000``. (Through DOUBLE, ``12.0000000000000001`` passed as 12, integers above 2**53
    changed and ones beyond BIGINT failed the whole statement.)
    """
    x = txt(col)
    return f"(CASE WHEN regexp_full_match({x}, '[+-]?[0-9]+') THEN TRY_CAST({x} AS BIGINT) END)"


_TZ_SUFFIX = r"[T ]\d{1,2}:\d\d(:\d\d(\.\d+)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"


def ts_expr(col: str) -> str:
    """SQL: raw column ``col`` as a UTC TIMESTAMP.

    ISO 8601 with a ``Z`` or ``+hh:mm`` offset is converted to UTC; without an offset the
    time is taken as UTC already; a bare date is midnight.
    """
    x = txt(col)
    return (
        f"(CASE WHEN regexp_matches({x}, {sql_str(_TZ_SUFFIX)}) "
        f"THEN timezone('UTC', TRY_CAST({x} AS TIMESTAMPTZ)) ELSE TRY_CAST({x} AS TIMESTAMP) END)"
    )


def bool_expr(col: str) -> str:
    """SQL: raw column ``col`` as BOOLEAN (true/false, t/f, 1/0, yes/no, y/n), else NULL."""
    x = f"lower({txt(col)})"
    return (
        f"(CASE WHEN {x} IN ('true', 't', '1', 'yes', 'y') THEN TRUE "
        f"WHEN {x} IN ('false', 'f', '0', 'no', 'n') THEN FALSE END)"
    )


def csv_header(path: Path) -> list[str]:
    """The first record of a CSV file, stripped (empty when the file is empty or unreadable)."""
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
            row = next(csv.reader(fh), None)
    except (OSError, csv.Error):
        return []
    return [c.strip() for c in row] if row else []


def csv_files_with(path: Path, columns: Iterable[str]) -> list[Path]:
    """CSV files at ``path`` (the file itself, or a folder's top level) whose header has ``columns``."""
    need = set(columns)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    else:
        return []
    return [f for f in files if f.suffix.lower() == ".csv" and need <= set(csv_header(f))]


def csv_inputs(path: Path, columns: Sequence[str]) -> list[Path]:
    """The CSV files a loader reads: ``path`` itself when it is a file, else the folder's matching CSVs.

    Raises
    ------
    DataError
        A folder with no CSV whose header has ``columns``.
    """
    if path.is_file():
        return [path]
    files = csv_files_with(path, columns)
    if not files:
        raise DataError(f"no CSV file with columns {', '.join(columns)}", file=str(path))
    return files


@dataclass
class RawTable:
    """A file read into a temporary DuckDB table of text columns plus ``_rec`` (record number).

    Attributes
    ----------
    name:
        The temporary table's name in the context's connection.
    file:
        The file it came from.
    columns:
        The file's columns, in order (``_rec`` not included).
    parquet:
        True for Parquet (line numbers are row numbers there).
    skipped_lines:
        Physical lines of malformed CSV records already rejected (sorted); used to map
        record numbers of the remaining rows back to lines.
    """

    name: str
    file: Path
    columns: list[str]
    parquet: bool = False
    skipped_lines: list[int] = field(default_factory=list)

    def line(self, rec: int) -> int:
        """The line (CSV, header = 1) or row (Parquet, 1-based) of record ``rec``."""
        if self.parquet:
            return rec
        line = rec + 1
        for skipped in self.skipped_lines:
            if skipped <= line:
                line += 1
            else:
                break
        return line

    def count(self, con: duckdb.DuckDBPyConnection) -> int:
        """Rows left in the table."""
        row = con.execute(f"SELECT count(*) FROM {self.name}").fetchone()
        return int(row[0]) if row else 0

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop the temporary table (a no-op when the transaction already failed: it rolls back)."""
        try:
            con.execute(f"DROP TABLE IF EXISTS {self.name}")
        except duckdb.TransactionException:
            log.debug("not dropping %s: transaction aborted", self.name)


_counter = 0


def _tmp_name(label: str) -> str:
    global _counter
    _counter += 1
    safe = re.sub(r"\W", "_", label)
    return f"_raw_{safe}_{_counter}"


def read_raw(
    ctx: IngestContext,
    path: Path,
    table: str,
    *,
    label: str | None = None,
    required: Sequence[str] = (),
    allowed: Sequence[str] | None = None,
) -> RawTable:
    """Read a CSV or Parquet file into a temporary table with every column as text.

    CSV is read with a fixed dialect (comma, double quote, UTF-8) and the header's own
    column names; malformed records (wrong number of fields, unterminated quote, bad
    encoding) go to ``ctx.reject`` with their physical line. The header is checked
    against ``required`` and ``allowed`` (see :func:`require_columns`) before any row.

    Raises
    ------
    DataError
        The file is empty, has duplicate, missing or unknown column names or cannot be
        read at all; or a malformed record in strict mode.
    """
    con = ctx.con
    name = _tmp_name(label or path.stem)
    if path.suffix.lower() == ".parquet":
        src = f"read_parquet({sql_str(str(path))}, file_row_number=true)"
        try:
            cols = [
                c for c in con.sql(f"SELECT * FROM {src} LIMIT 0").columns if c != "file_row_number"
            ]
        except duckdb.Error as exc:
            raise DataError(
                f"cannot read Parquet file: {_first_line(exc)}", file=str(path)
            ) from exc
        require_columns(RawTable(name, path, cols, parquet=True), required, allowed)
        try:
            select = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in cols)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS "
                f"SELECT file_row_number + 1 AS _rec, {select} FROM {src}"
            )
        except duckdb.Error as exc:
            raise DataError(
                f"cannot read Parquet file: {_first_line(exc)}", file=str(path)
            ) from exc
        return RawTable(name, path, cols, parquet=True)

    header = csv_header(path)
    if not header:
        raise DataError("empty file: no header line", file=str(path), line=1)
    cols = [h or f"column{i}" for i, h in enumerate(header)]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise DataError(f"duplicate column names {dupes}", file=str(path), line=1, field=dupes[0])
    require_columns(RawTable(name, path, cols), required, allowed)
    spec = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in cols) + "}"
    rej_t, rej_s = f"{name}_rej", f"{name}_scan"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT row_number() OVER () AS _rec, * FROM read_csv("
            f"{sql_str(str(path))}, auto_detect=false, header=true, columns={spec}, delim=',', "
            f"quote='\"', escape='\"', store_rejects=true, rejects_table={sql_str(rej_t)}, "
            f"rejects_scan={sql_str(rej_s)})"
        )
        errors = con.execute(
            f"SELECT line, column_name, error_type, error_message, csv_line FROM {rej_t} ORDER BY line"
        ).fetchall()
        con.execute(f"DROP TABLE IF EXISTS {rej_t}")
        con.execute(f"DROP TABLE IF EXISTS {rej_s}")
    except duckdb.Error as exc:
        raise DataError(f"cannot read CSV file: {_first_line(exc)}", file=str(path)) from exc
    raw = RawTable(name, path, cols, skipped_lines=sorted({int(e[0]) for e in errors}))
    for line, column, kind, message, text in errors:
        ctx.reject(
            table,
            path,
            int(line),
            column,
            f"malformed CSV record ({str(kind).lower()}): {_first_line(message)}",
            text,
        )
    return raw


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else text


def require_columns(
    raw: RawTable, required: Iterable[str], allowed: Iterable[str] | None = None
) -> None:
    """Check a file's header: every ``required`` column present; with ``allowed``, no others.

    Raises
    ------
    DataError
        Naming the missing or unknown column and the expected set.
    """
    req = list(required)
    expected = list(allowed) if allowed is not None else req
    where = "row 1" if raw.parquet else "line 1"
    for col in req:
        if col not in raw.columns:
            raise DataError(
                f"missing column {col!r}; expected columns: {', '.join(expected)} (required: {', '.join(req)})",
                file=str(raw.file),
                line=None if raw.parquet else 1,
                field=col,
                hint=f"the header ({where}) has: {', '.join(raw.columns)}",
            )
    if allowed is not None:
        for col in raw.columns:
            if col not in expected:
                raise DataError(
                    f"unknown column {col!r}; expected columns: {', '.join(expected)}",
                    file=str(raw.file),
                    line=None if raw.parquet else 1,
                    field=col,
                    hint="rename or drop the column (see docs/generic-format.md)",
                )


@dataclass(frozen=True)
class Check:
    """One validation rule: ``bad`` is a SQL condition over the raw text columns."""

    field: str
    bad: str
    reason: str


def required(col: str) -> Check:
    """The value must not be empty."""
    return Check(col, f"{txt(col)} IS NULL", "missing value")


def is_number(col: str) -> Check:
    """When given, the value must be a number."""
    return Check(col, f"{txt(col)} IS NOT NULL AND {num_expr(col)} IS NULL", "not a number")


def is_int(col: str, lo: int | None = None, hi: int | None = None) -> Check:
    """When given, the value must be a whole number, optionally within ``[lo, hi]``."""
    bad = f"{txt(col)} IS NOT NULL AND ({int_expr(col)} IS NULL"
    reason = "not a whole number"
    if lo is not None:
        bad += f" OR {int_expr(col)} < {lo}"
    if hi is not None:
        bad += f" OR {int_expr(col)} > {hi}"
    if lo is not None or hi is not None:
        reason += f" in [{'' if lo is None else lo}, {'' if hi is None else hi}]"
    return Check(col, bad + ")", reason)


def is_ts(col: str) -> Check:
    """When given, the value must be an ISO 8601 date or timestamp."""
    return Check(
        col,
        f"{txt(col)} IS NOT NULL AND {ts_expr(col)} IS NULL",
        "not an ISO 8601 timestamp (e.g. 2024-05-01T13:45:00Z or 2024-05-01 13:45:00)",
    )


def is_bool(col: str) -> Check:
    """When given, the value must be a boolean word."""
    return Check(
        col,
        f"{txt(col)} IS NOT NULL AND {bool_expr(col)} IS NULL",
        "not a boolean (true/false, 1/0, yes/no)",
    )


def validate(ctx: IngestContext, raw: RawTable, table: str, checks: Sequence[Check]) -> int:
    """Run ``checks`` in one query; report each bad value, then delete the bad rows.

    Returns the number of rows removed. In strict mode the first bad value (in file
    order) raises :class:`DataError`.
    """
    if not checks:
        return 0
    con = ctx.con
    parts = [
        f"SELECT _rec, {i} AS k, CAST({ident(c.field) if c.field in raw.columns else 'NULL'} AS VARCHAR) AS v, "
        f"CAST(to_json(r) AS VARCHAR) AS row FROM {raw.name} r WHERE {c.bad}"
        for i, c in enumerate(checks)
    ]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY _rec, k").fetchall()
    for rec, k, value, row in rows:
        check = checks[k]
        shown = "" if value is None else f" ({value[:80]!r})"
        ctx.reject(table, raw.file, raw.line(int(rec)), check.field, check.reason + shown, row)
    bad = sorted({int(r[0]) for r in rows})
    if bad:
        con.execute(f"DELETE FROM {raw.name} WHERE _rec IN (SELECT unnest(?::BIGINT[]))", [bad])
    return len(bad)


def arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Run ``sql`` and return the result as an Arrow table (materialised, so temp tables can go)."""
    return con.sql(sql).to_arrow_table()


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


class CsvFileLoader(Loader):
    """Base of the loaders that read one or more CSV files identified by their columns.

    A subclass sets ``required_columns`` (how a file is recognised, and what must be there)
    and ``raw_label``, and implements :meth:`load_raw` for one file already read into a
    :class:`RawTable`; detection, the loop over files and dropping the temporary table are
    done here once.
    """

    required_columns: ClassVar[Sequence[str]] = ()
    raw_label: ClassVar[str] = "csv"

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A CSV (or a folder with one) whose header has every required column."""
        return bool(csv_files_with(path, cls.required_columns))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every matching CSV; bad values are rejected with their line."""
        staged = Staged()
        for file in csv_inputs(path, self.required_columns):
            raw = read_raw(
                ctx, file, "tracks", label=self.raw_label, required=self.required_columns
            )
            try:
                self.load_raw(raw, ctx, staged)
            finally:
                raw.drop(ctx.con)
        return staged

    @abstractmethod
    def load_raw(self, raw: RawTable, ctx: IngestContext, staged: Staged) -> None:
        """Validate one file's rows and add the staged frames (implemented per format)."""


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
            key,
            f"_rec IN (SELECT _rec FROM (SELECT _rec, row_number() OVER (PARTITION BY {txt(key)} ORDER BY _rec) "
            f"AS n FROM {raw.name} WHERE {txt(key)} IS NOT NULL) WHERE n > 1)",
            f"duplicate {what} (each must appear once)",
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
                is_ts("registered_at"),
                is_int("age", 0, 150),
                Check(
                    "gender",
                    f"{txt('gender')} IS NOT NULL AND lower({txt('gender')}) NOT IN ({genders})",
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
                is_int("duration_ms", 0),
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
            is_ts("ts"),
            is_int("ms_played", 0),
            is_bool("skipped"),
        ]
        if "tracks" in raws:
            checks.append(
                Check(
                    "track_id",
                    f"{txt('track_id')} IS NOT NULL AND {txt('track_id')} NOT IN "
                    f"(SELECT {txt('track_id')} FROM {raws['tracks'].name} WHERE {txt('track_id')} IS NOT NULL)",
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
            is_ts("liked_at"),
            Check(
                "entity_type",
                f"{txt('entity_type')} IS NOT NULL AND {et} NOT IN ('track', 'artist', 'album')",
                "entity_type must be track, artist or album",
            ),
        ]
        if "tracks" in raws:
            t = raws["tracks"].name
            checks.append(
                Check(
                    "entity_id",
                    f"{txt('entity_id')} IS NOT NULL AND ("
                    f"({et} = 'track' AND {txt('entity_id')} NOT IN (SELECT {txt('track_id')} FROM {t} "
                    f"WHERE {txt('track_id')} IS NOT NULL)) OR "
                    f"({et} = 'artist' AND {txt('entity_id')} NOT IN (SELECT {txt('artist')} FROM {t} "
                    f"WHERE {txt('artist')} IS NOT NULL)) OR "
                    f"({et} = 'album' AND {txt('entity_id')} NOT IN (SELECT {txt('album')} FROM {t} "
                    f"WHERE {txt('album')} IS NOT NULL)))",
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
