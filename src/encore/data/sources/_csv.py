"""Reading CSV and Parquet files into DuckDB for validation, with record numbers.

The catalogue loaders (and the generic format) read each file with :func:`read_raw` into
a temporary table of text columns plus ``_rec`` (the record number), judge it with
:func:`validate` against :class:`~encore.data.sources._toolkit.Check` rules (every bad
value reported with file, line and field, bad rows removed) and convert the rest in SQL
with the toolkit's expressions. :class:`CsvFileLoader` is the base of the loaders that
read one or more CSV files recognised by their columns.

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
from encore.data.sources._toolkit import Check, ident, num_expr, sql_str, txt
from encore.errors import DataError

log = logging.getLogger(__name__)


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

    def line_sql(self, rec: str = "_rec") -> str:
        """SQL: :meth:`line` of the record number column ``rec``.

        The skipped lines ``s_1 < s_2 < ...`` shift a record by one line each while
        ``s_i - (i - 1) <= rec + 1`` (what :meth:`line`'s loop does, as a count).
        """
        if self.parquet:
            return rec
        if not self.skipped_lines:
            return f"({rec} + 1)"
        marks = ", ".join(str(s - i) for i, s in enumerate(self.skipped_lines))
        return f"({rec} + 1 + len(list_filter([{marks}], lambda x: x <= {rec} + 1)))"

    def provenance(self) -> str:
        """SQL select items ``_file, _line`` for a staged frame (see ``writer.PROVENANCE_COLUMNS``)."""
        return f"{sql_str(str(self.file))} AS _file, {self.line_sql()} AS _line"

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

    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise DataError(
            "the file is UTF-16 (or holds NUL bytes), not UTF-8 text",
            file=str(path),
            line=1,
            hint="save it as UTF-8 CSV (e.g. iconv -f UTF-16 -t UTF-8, or 'CSV UTF-8' in a spreadsheet)",
        )
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
        f"CAST(to_json(r) AS VARCHAR) AS row FROM {raw.name} r WHERE {c.condition}"
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


# ------------------------------------------------------------------ staged rows every catalogue
# loader builds the same way: per record, a track's numeric features, a tag, its lyrics.
def unpivot_numbers(features: Mapping[str, str]) -> str:
    """SQL ``LATERAL (VALUES ...) u(feature, value)``: one row per numeric column of a record.

    ``features`` maps a raw column to its feature name; ``u.value`` is the column as DOUBLE
    (:func:`~encore.data.sources._toolkit.num_expr`: NULL when empty or not a number).
    """
    values = ", ".join(f"({sql_str(name)}, {num_expr(col)})" for col, name in features.items())
    return f"LATERAL (VALUES {values}) u(feature, value)"


def feature_rows(
    con: duckdb.DuckDBPyConnection, raw: RawTable, ref: str, features: Mapping[str, str]
) -> pa.Table:
    """``track_features`` rows: the record's reference columns ``ref``, then ``feature`` and
    ``value`` for each of ``features`` (raw column -> feature name) that holds a number."""
    return arrow(
        con,
        f"SELECT {ref}, u.feature, u.value FROM {raw.name}, {unpivot_numbers(features)} "
        "WHERE u.value IS NOT NULL",
    )


def tag_rows(
    con: duckdb.DuckDBPyConnection, raw: RawTable, ref: str, column: str, kind: str
) -> pa.Table:
    """``track_tags`` rows: the text of ``column`` as a tag of weight 1 and ``kind``, for each
    record that has one (in file order)."""
    return arrow(
        con,
        f"SELECT {ref}, {txt(column)} AS tag, 1.0 AS weight, {sql_str(kind)} AS kind "
        f"FROM {raw.name} WHERE {txt(column)} IS NOT NULL ORDER BY _rec",
    )


def lyrics_rows(
    con: duckdb.DuckDBPyConnection, raw: RawTable, ref: str, column: str, *, processed: bool
) -> pa.Table:
    """``lyrics`` rows: the text of ``column`` for each record that has one (in file order);
    ``processed`` says whether it is the verbatim text (False) or preprocessed words (True)."""
    return arrow(
        con,
        f"SELECT {ref}, {txt(column)} AS text, {str(processed).upper()} AS processed "
        f"FROM {raw.name} WHERE {txt(column)} IS NOT NULL ORDER BY _rec",
    )


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
