"""Reading tab-separated research files into DuckDB with exact line numbers.

The research datasets (HetRec, Last.fm 1K, JODIE, LFM-1b) are plain tab-separated text
with no quoting. :class:`TsvTable` reads one such file into a DuckDB temporary table of
``VARCHAR`` columns plus ``_line`` (the 1-based line of the file) so a loader validates
and converts whole columns in SQL instead of looping over rows in Python:

1. the header (when the file has one) must name every expected column (in any order;
   extra columns are ignored), else :class:`DataError` naming the missing field;
2. a clean file (UTF-8, ``\\n`` endings, no blank lines, the right number of fields on
   every line) is read by DuckDB's ``read_csv`` and numbered with ``row_number()``; any
   other file goes to an exact reader: Python decodes it in one call (invalid bytes ->
   :class:`DataError` naming the line and field of the first bad byte), drops a BOM and
   ``\\r\\n`` endings, splits lines on ``\\n`` only, and DuckDB splits the fields;
3. :meth:`TsvTable.validate` finds bad rows in one SQL pass (each row's first failing
   :class:`Check`); they are reported through :meth:`IngestContext.reject` in line order
   (strict mode raises on the first) and removed.

Blank lines are ignored (they keep their place in the line numbering).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from encore.data.ingest import IngestContext, Reject
from encore.errors import DataError

log = logging.getLogger(__name__)

#: Longest raw line kept in the ``rejects`` table.
RAW_LIMIT = 1000

_SAFE_NAME = re.compile(r"[^0-9A-Za-z_]+")


@dataclass(frozen=True)
class Check:
    """One validation rule: rows where ``condition`` (SQL over the column names) is true are bad.

    Attributes
    ----------
    condition:
        SQL boolean expression; NULL counts as false.
    field:
        The column named in the error (its value is shown in the message).
    reason:
        What is wrong, in words (the offending value is appended).
    """

    condition: str
    field: str
    reason: str


def q(name: str) -> str:
    """Quote a column name for SQL."""
    return '"' + name.replace('"', '""') + '"'


def int_sql(col: str) -> str:
    """SQL: the column as BIGINT (NULL when empty or not an integer; apply after :func:`not_int`)."""
    return f"TRY_CAST({q(col)} AS BIGINT)"


def not_int(col: str, *, optional: bool = False) -> str:
    """SQL condition: the column is not a whole number (``optional``: an empty value is fine).

    DuckDB's cast alone is lenient (``1.5``, ``1e3``, ``0x10``, ``1_000`` all cast), so the
    text must also be an optional sign and digits (spaces around allowed). The conditions
    here are ``CASE`` chains: DuckDB evaluates a later branch only for rows that reach it.
    """
    v = q(col)
    bad = (
        f"CASE WHEN TRY_CAST({v} AS BIGINT) IS NULL THEN TRUE "
        f"ELSE NOT regexp_full_match({v}, ' *[+-]?[0-9]+ *') END"
    )
    return f"(CASE WHEN {blank(col)} THEN FALSE ELSE {bad} END)" if optional else f"({bad})"


def blank(col: str) -> str:
    """SQL condition: the column is empty or only spaces."""
    v = q(col)
    return f"(CASE WHEN {v} = '' THEN TRUE WHEN starts_with({v}, ' ') THEN trim({v}) = '' ELSE FALSE END)"


def one_of(col: str, values: Sequence[str]) -> str:
    """SQL condition: the column, trimmed and lower-cased, is one of ``values`` (exact match first)."""
    v = q(col)
    lits = ", ".join("'" + x.replace("'", "''") + "'" for x in values)
    return f"(CASE WHEN {v} IN ({lits}) THEN TRUE ELSE lower(trim({v})) IN ({lits}) END)"


def duplicate(table: str, key: str) -> str:
    """SQL condition: this row of ``table`` repeats an earlier row's ``key`` (an SQL expression)."""
    return (
        f"_line IN (SELECT _line FROM (SELECT _line, row_number() OVER "
        f"(PARTITION BY {key} ORDER BY _line) AS _k FROM {table}) WHERE _k > 1)"
    )


def decode(data: bytes, path: Path, encodings: Sequence[str], names: Sequence[str] | None) -> str:
    """Decode file bytes with the first encoding that fits; the last one's error is raised.

    Raises
    ------
    DataError
        No encoding fits: names the line and (when the columns are known) the field of the
        first undecodable byte.
    """
    for i, enc in enumerate(encodings):
        try:
            return data.decode(enc)
        except UnicodeDecodeError as exc:
            if i < len(encodings) - 1:
                continue
            line = data.count(b"\n", 0, exc.start) + 1
            start = data.rfind(b"\n", 0, exc.start) + 1
            col = data.count(b"\t", start, exc.start)
            if names is None:
                first = data[: data.find(b"\n")] if b"\n" in data else data
                names = (
                    first.decode(enc, errors="replace").lstrip("\ufeff").rstrip("\r").split("\t")
                )
            field = names[col] if col < len(names) else None
            raise DataError(
                f"not valid {enc} text (byte 0x{data[exc.start]:02x} at byte {exc.start}); "
                "the file may use another encoding",
                file=str(path),
                line=line,
                field=field,
                hint="re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            ) from exc
    raise AssertionError("no encodings given")  # pragma: no cover - encodings is never empty


class TsvTable:
    """A tab-separated file in a DuckDB temp table: ``_line``, ``_nf`` and one VARCHAR per column.

    ``_line`` is the 1-based line of the file, ``_nf`` the number of fields on it; column
    values are never NULL (an empty field is ``''``).

    Parameters
    ----------
    ctx:
        The ingest context (its connection holds the temp table; bad rows go to its policy).
    path:
        The file.
    table:
        The store table the rows are for (named in rejects).
    columns:
        The columns the file must have. With ``header=True`` these are header names (extra
        header columns are ignored); without a header, the file's columns in order.
    header:
        Whether the first line is a header.
    aliases:
        Other header spellings accepted for a column (e.g. ``{"id": ["#id"]}``).
    encodings:
        Encodings tried in order (the last one's error is reported).
    name:
        Name of the temp table (default derived from the file name).

    Raises
    ------
    DataError
        Empty file, header without rows, missing column, undecodable bytes.

    Notes
    -----
    Two readers give the same table. The fast one is DuckDB's ``read_csv`` (all VARCHAR, no
    quoting, strict) numbered with ``row_number()``; it is used only when that numbering is
    provably the file's: UTF-8 without BOM or ``\\r``, a unique header, and as many rows as
    the file has lines. Anything else (a parse error, a blank line, another encoding) goes
    to the exact reader: Python decodes and splits the lines, DuckDB splits the fields.
    """

    def __init__(
        self,
        ctx: IngestContext,
        path: Path,
        table: str,
        columns: Sequence[str],
        *,
        header: bool = True,
        aliases: Mapping[str, Sequence[str]] | None = None,
        encodings: Sequence[str] = ("utf-8",),
        name: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.path = path
        self.table = table
        self.columns = list(columns)
        self.name = name or "_tsv_" + _SAFE_NAME.sub("_", path.stem).lower()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
        if not data or data.isspace():  # isspace() stops at the first non-space byte; strip() copies
            raise DataError("empty file", file=str(path))
        self._data = data
        first_line = 1
        found = list(self.columns)
        if header:
            end = data.find(b"\n")
            head = data[: end if end >= 0 else len(data)]
            found = decode(head, path, encodings, None).lstrip("\ufeff").rstrip("\r").split("\t")
            first_line = 2
            if end < 0 or data[end + 1 :].isspace() or end + 1 == len(data):
                raise DataError("empty file: a header but no data rows", file=str(path))
        positions = {}
        for col in self.columns:
            spellings = [col, *(aliases or {}).get(col, ())]
            hit = next((found.index(s) for s in spellings if s in found), None)
            if hit is None:
                raise DataError(
                    f"missing column {col!r} (the header has {', '.join(map(repr, found))})",
                    file=str(path),
                    line=1,
                    field=col,
                )
            positions[col] = hit
        self.width = len(found)
        fast_ok = (
            encodings[0].lower().replace("_", "-") in ("utf-8", "utf8")
            and b"\r" not in data
            and not data.startswith(b"\xef\xbb\xbf")
            and len(set(found)) == len(found)
        )
        if not (fast_ok and self._read_fast(found, positions, header, first_line)):
            self._read_exact(encodings, positions, header, first_line)

    def _read_fast(
        self, found: Sequence[str], positions: Mapping[str, int], header: bool, first_line: int
    ) -> bool:
        """DuckDB's CSV reader; False when its numbering might not be the file's (then replaced)."""
        data = self._data
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        expected = lines - (first_line - 1)
        names = [f"c{i}" for i in range(len(found))]
        spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        cols = ", ".join(f"COALESCE(c{positions[c]}, '') AS {q(c)}" for c in self.columns)
        # ignore_errors: a row DuckDB cannot take (wrong field count, bad UTF-8) is left out
        # instead of failing the statement (which would abort the ingest's transaction);
        # the row count below then sends the file to the exact reader.
        try:
            self.ctx.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self.name} AS "
                f"SELECT row_number() OVER () + {first_line - 1} AS _line, {self.width} AS _nf, {cols} "
                f"FROM read_csv(?, delim = '\t', quote = '', escape = '', header = ?, "
                f"auto_detect = false, columns = {spec}, new_line = '\\n', strict_mode = true, "
                f"ignore_errors = true)",
                [str(self.path), header],
            )
        except duckdb.Error as exc:
            raise DataError(f"cannot read file: {exc}", file=str(self.path)) from exc
        row = self.ctx.con.execute(f"SELECT count(*) FROM {self.name}").fetchall()
        if int(row[0][0]) != expected:
            log.debug("%s: %s rows for %s lines; reading exactly", self.path, row[0][0], expected)
            return False
        return True

    def _read_exact(
        self, encodings: Sequence[str], positions: Mapping[str, int], header: bool, first_line: int
    ) -> None:
        """Python decodes and splits lines (exact numbering, precise errors); DuckDB splits fields."""
        text = decode(self._data, self.path, encodings, None if header else self.columns)
        if text.startswith("\ufeff"):
            text = text[1:]
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = lines[first_line - 1 :]
        arrow = pa.table(
            {
                "_line": pa.array(np.arange(first_line, first_line + len(lines), dtype=np.int64)),
                "_raw": pa.array(lines, type=pa.string()),
            }
        )
        con = self.ctx.con
        src = self.name + "_arrow"
        con.register(src, arrow)
        try:
            cols = ", ".join(
                f"COALESCE(_f[{positions[c] + 1}], '') AS {q(c)}" for c in self.columns
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self.name} AS "
                f"SELECT _line, len(_f) AS _nf, {cols} FROM ("
                f"  SELECT _line, string_split(_raw, chr(9)) AS _f FROM {src}"
                f"  WHERE trim(_raw) <> ''"
                f")"
            )
        finally:
            con.unregister(src)
        self._text_lines = lines
        self._first_line = first_line

    def raw(self, lines: Sequence[int]) -> dict[int, str]:
        """The text of some lines (for the ``rejects`` table), at most :data:`RAW_LIMIT` chars each."""
        if not lines:
            return {}
        if hasattr(self, "_text_lines"):
            return {n: self._text_lines[n - self._first_line][:RAW_LIMIT] for n in lines}
        split = self._data.split(b"\n")
        return {n: split[n - 1].decode("utf-8", errors="replace")[:RAW_LIMIT] for n in lines}

    # ------------------------------------------------------------------ checks
    def unique(self, col: str, reason: str, key: str | None = None) -> list[Check]:
        """A check for repeated values of ``col``, or none when the column has no repeats.

        ``key`` is the SQL expression compared (default: the trimmed text).
        """
        key = key or f"trim({q(col)})"
        row = self.ctx.con.execute(
            f"SELECT count(DISTINCT {key}) = count({key}) FROM {self.name}"
        ).fetchall()
        return [] if row[0][0] else [Check(duplicate(self.name, key), col, reason)]

    def validate(self, checks: Sequence[Check]) -> int:
        """Report and remove rows with the wrong number of fields or failing a check.

        One pass: each row gets its first failing rule. Rows are reported in line order;
        in strict mode the first one raises :class:`DataError`.

        Returns
        -------
        int
            The number of rows removed.
        """
        rules = " ".join(
            f"WHEN COALESCE(({c.condition}), FALSE) THEN {i}" for i, c in enumerate(checks, start=1)
        )
        limit = " LIMIT 1" if self.ctx.on_error == "raise" else ""
        found = self.ctx.con.execute(
            f"SELECT _line, _rule FROM (SELECT _line, CASE WHEN _nf <> {self.width} THEN 0 {rules} "
            f"END AS _rule FROM {self.name}) WHERE _rule IS NOT NULL ORDER BY _line{limit}"
        ).fetchall()
        bad: list[dict[str, Any]] = []
        if found:
            rule_of = dict(found)
            src = self.name + "_bad"
            self.ctx.con.register(
                src, pa.table({"_line": pa.array(list(rule_of), type=pa.int64())})
            )
            try:
                cur = self.ctx.con.execute(
                    f"SELECT t.* FROM {self.name} t JOIN {src} USING (_line) ORDER BY _line"
                )
                names = [d[0] for d in cur.description or []]
                bad = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            finally:
                self.ctx.con.unregister(src)
            for b in bad:
                b["_rule"] = rule_of[b["_line"]]
        raw = self.raw([b["_line"] for b in bad])
        for b in bad:
            line = b["_line"]
            if b["_rule"] == 0:
                self.ctx.reject(
                    self.table,
                    self.path,
                    line,
                    None,
                    f"expected {self.width} tab-separated fields, found {b['_nf']}",
                    raw[line],
                )
            else:
                chk = checks[b["_rule"] - 1]
                val = b.get(chk.field)
                self.ctx.reject(
                    self.table, self.path, line, chk.field, f"{chk.reason} (got {val!r})", raw[line]
                )
        if bad:
            self._delete([b["_line"] for b in bad])
            log.warning("%s: %d bad rows skipped", self.path, len(bad))
        return len(bad)

    def drop(self, condition: str, field: str, reason: str) -> int:
        """Remove well-formed rows the store cannot hold, recording them in ``rejects`` in any mode.

        For rows that are valid but unusable (e.g. a reference to an id the dataset does not
        define): they are not input errors, so strict mode does not raise.
        """
        rows = self.ctx.con.execute(
            f"SELECT _line, CAST({q(field)} AS VARCHAR) FROM {self.name} "
            f"WHERE COALESCE(({condition}), FALSE) ORDER BY _line"
        ).fetchall()
        raw = self.raw([line for line, _ in rows])
        self.ctx.rejects.extend(
            Reject(self.table, str(self.path), line, field, f"{reason} (got {val!r})", raw[line])
            for line, val in rows
        )
        if rows:
            self._delete([line for line, _ in rows])
            log.info("%s: %d rows dropped: %s", self.path, len(rows), reason)
        return len(rows)

    def _delete(self, lines: Sequence[int]) -> None:
        con = self.ctx.con
        src = self.name + "_gone"
        con.register(src, pa.table({"_line": pa.array(lines, type=pa.int64())}))
        try:
            con.execute(f"DELETE FROM {self.name} WHERE _line IN (SELECT _line FROM {src})")
        finally:
            con.unregister(src)

    # ------------------------------------------------------------------ output
    def select(self, columns: str, where: str = "TRUE") -> duckdb.DuckDBPyRelation:
        """A relation over the (validated) rows: ``SELECT columns FROM table WHERE where``."""
        return self.ctx.con.sql(f"SELECT {columns} FROM {self.name} WHERE {where}")

    def count(self) -> int:
        """Rows currently held."""
        row = self.ctx.con.execute(f"SELECT count(*) FROM {self.name}").fetchall()
        return int(row[0][0])
