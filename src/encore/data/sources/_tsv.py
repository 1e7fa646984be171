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
   :class:`~encore.data.sources._toolkit.Check`, the loaders' one toolkit, whose value
   rules the checks use); they are reported through :meth:`IngestContext.reject` in line
   order (strict mode raises on the first) and removed.

Blank lines are ignored (they keep their place in the line numbering).

:meth:`TsvTable.load` is the loaders' entry point: it tries the **happy path** first (a
clean file, every row good): one ``read_csv`` statement that keeps only rows passing every
check and converts them straight into the output columns, with no line numbers and no
table of raw text. If that keeps every line of the file (and no :class:`Unique` key
repeats), the file was clean and the converted table is the result. Otherwise nothing of
it is used: the file is read again by the exact path above (numbered lines, ``validate``,
convert), so errors, line numbers and ``rejects`` are exactly those of the exact path.
The happy path may use a cheaper condition per check (:attr:`Check.fast`, which may also
flag good rows, or :attr:`Check.digits` for files of digits only; :func:`int_check` has
both): a row it flags only sends the file to the exact path.
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
from encore.data.sources._toolkit import Check, duplicate, ident, int_sql, not_int, sql_str
from encore.errors import DataError

log = logging.getLogger(__name__)

#: Longest raw line kept in the ``rejects`` table.
RAW_LIMIT = 1000

_SAFE_NAME = re.compile(r"[^0-9A-Za-z_]+")


@dataclass(frozen=True)
class Unique:
    """A rule: no two rows share ``key``; every repeat after the first is bad.

    Attributes
    ----------
    field:
        The column named in the error.
    reason:
        What is wrong, in words (the offending value is appended).
    key:
        SQL expression compared between rows (default: the trimmed text of ``field``).
    """

    field: str
    reason: str
    key: str | None = None

    def sql(self) -> str:
        """The key expression."""
        return self.key or f"trim({ident(self.field)})"


def int_check(col: str, reason: str, *, optional: bool = False) -> Check:
    """A :class:`Check` that the column is a whole number (:func:`not_int`), with cheap variants.

    For the happy path: ``fast`` flags every value that is not the canonical text of its
    BIGINT (``CAST(TRY_CAST(v AS BIGINT) AS VARCHAR) <> v``): a value :func:`not_int` rejects
    never equals that text (which is ``-?[0-9]+``); good values such as ``+7``, ``007`` or
    `` 7`` are flagged too and take the exact path. In a file of digits, tabs and newlines
    only, every value is ``[0-9]*``, a whole number exactly when it is not empty and fits
    BIGINT, which ``TRY_CAST`` alone decides (``digits``). Neither uses a regular expression.
    """
    v = ident(col)
    empty_ok = f"{v} <> '' AND " if optional else ""
    return Check(
        not_int(col, optional=optional),
        col,
        reason,
        fast=f"({empty_ok}CAST({int_sql(col)} AS VARCHAR) IS DISTINCT FROM {v})",
        digits=f"({empty_ok}{int_sql(col)} IS NULL)",
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
    read:
        Read the numbered table of raw text now (for :meth:`validate` and :meth:`select`).
        ``False`` leaves the reading to :meth:`load`, which tries the happy path first.

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
        read: bool = True,
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
        # isspace() stops at the first non-space byte; strip() copies
        if not data or data.isspace():
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
        truncated = False
        if not data.endswith(b"\n"):
            # These files end with a line end: a last line without one, that has every field,
            # was cut inside its last value (a count of 2345 cut to 2 still parses). A last
            # line with too few fields is left to the field-count check, which says so.
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            if cut > 0 and tail.count(b"\t") == self.width - 1:
                ctx.reject(
                    table,
                    path,
                    data.count(b"\n") + 1,
                    None,
                    "the last line has no line end: the file looks truncated (cut inside its "
                    "last value); download or copy it again",
                    tail.decode("utf-8", "replace")[:2000],
                )
                data = data[:cut]
                self._data = data
                truncated = True
        self._encodings = tuple(encodings)
        self._positions = positions
        self._header = header
        self._first_line = first_line
        #: Data lines in the file (the rows a clean file gives).
        self._expected = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - (first_line - 1)
        #: Whether DuckDB's CSV reader may read the file (its rows are then the file's lines).
        self._fast_ok = (
            self._encodings[0].lower().replace("_", "-") in ("utf-8", "utf8")
            and b"\r" not in data
            and not data.startswith(b"\xef\xbb\xbf")
            and len(set(found)) == len(found)
            and not truncated
        )
        self._numbered = False
        self._query: str | None = None
        #: Whether :meth:`load` finished on the happy path (None before it runs).
        self.happy_path: bool | None = None
        if read:
            self._read()

    def _read(self) -> None:
        """Make the numbered table of raw text (fast reader when it provably numbers right)."""
        if not (self._fast_ok and self._read_fast()):
            self._read_exact(self._encodings, self._positions, self._header, self._first_line)
        self._numbered = True

    def _source(self) -> str:
        """SQL: the file through DuckDB's CSV reader, one VARCHAR per wanted column, '' for empty.

        ``ignore_errors``: a row DuckDB cannot take (wrong field count, bad UTF-8) is left
        out instead of failing the statement (which would abort the ingest's transaction);
        callers compare the row count with the file's lines. ``nullstr`` is a newline,
        which no field can hold, so an empty field stays ``''``. Parameters: path, header.
        """
        names = [f"c{i}" for i in range(self.width)]
        spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        cols = ", ".join(f"c{self._positions[c]} AS {ident(c)}" for c in self.columns)
        return (
            f"SELECT {cols} FROM read_csv(?, delim = '\t', quote = '', escape = '', header = ?, "
            f"auto_detect = false, columns = {spec}, new_line = '\\n', nullstr = '\n', "
            f"strict_mode = true, ignore_errors = true)"
        )

    def _execute(self, sql: str) -> None:
        """Run a statement over :meth:`_source` (DuckDB errors -> :class:`DataError`)."""
        try:
            self.ctx.con.execute(sql, [str(self.path), self._header])
        except duckdb.Error as exc:
            raise DataError(f"cannot read file: {exc}", file=str(self.path)) from exc

    def _read_fast(self) -> bool:
        """DuckDB's CSV reader; False when its numbering might not be the file's (then replaced)."""
        self._execute(
            f"CREATE OR REPLACE TEMP TABLE {self.name} AS "
            f"SELECT row_number() OVER () + {self._first_line - 1} AS _line, {self.width} AS _nf, * "
            f"FROM ({self._source()})"
        )
        n = self.count()
        if n != self._expected:
            log.debug("%s: %s rows for %s lines; reading exactly", self.path, n, self._expected)
            return False
        return True

    def load(
        self,
        checks: Sequence[Check | Unique],
        output: Mapping[str, str],
        *,
        provenance: bool = False,
    ) -> duckdb.DuckDBPyRelation:
        """Validate the rows and convert them: the loaders' entry point.

        Happy path first (see the module docstring): one statement reads the file, keeps the
        rows that pass every check and computes ``output`` for them into the temp table. When
        that kept every line and no :class:`Unique` key repeats, that table is the result.
        Otherwise (or when the file is not for DuckDB's reader, or the table was already
        read) the exact path runs: numbered lines, :meth:`validate` (errors and ``rejects``
        with file, line and field), then ``output`` over the remaining rows. Both give the
        same frame.

        Parameters
        ----------
        checks:
            The rules, in the order a bad row is judged (its first failing one is reported).
        output:
            Output column name -> SQL expression over the file's columns. Evaluated only on
            rows that pass every check.
        provenance:
            Add ``_file`` and ``_line`` (the row's line in the file) to the output, so that
            a value judged after staging (:func:`encore.data.ingest.enforce_bounds`) is
            reported at its line.

        Returns
        -------
        duckdb.DuckDBPyRelation
            The output columns, one row per good line, in file order. :attr:`query` holds
            its SQL. After the happy path the temp table holds the output columns, not the
            raw text.
        """
        output = dict(output)
        if provenance:
            output["_file"] = sql_str(str(self.path))
        cols = ", ".join(ident(c) for c in output)
        exprs = ", ".join(f"{e} AS {ident(c)}" for c, e in output.items())
        # the happy path keeps every line or nothing, so a row's line is its number
        numbered = f"row_number() OVER () + {self._first_line - 1} AS _line, " if provenance else ""
        self.happy_path = (
            not self._numbered and self._fast_ok and self._load_fast(checks, numbered + exprs)
        )
        if self.happy_path:
            self._query = f"SELECT {cols}{', _line' if provenance else ''} FROM {self.name}"
        else:
            if not self._numbered:
                self._read()
            self.validate(checks)
            self._query = f"SELECT {exprs}{', _line' if provenance else ''} FROM {self.name}"
        return self.ctx.con.sql(self._query)

    @property
    def query(self) -> str:
        """SQL of the frame :meth:`load` returned (e.g. for a union of several files)."""
        if self._query is None:
            raise RuntimeError("TsvTable.query is set by load()")
        return self._query

    def _load_fast(self, checks: Sequence[Check | Unique], exprs: str) -> bool:
        """The happy path; False when the file has a bad or unreadable row (nothing is kept)."""
        body = self._data[self._data.find(b"\n") + 1 :] if self._header else self._data
        # bytes.translate deletes in one C loop (~1 ms/MB): nothing left = digits only;
        # the first 64 KiB settle most files that are not
        keep = b"0123456789\t\n"
        digits = not body[:65536].translate(None, keep) and not body.translate(None, keep)
        conds = [c.happy(digits) for c in checks if isinstance(c, Check)]
        good = " AND ".join(f"NOT COALESCE(({c}), FALSE)" for c in conds) or "TRUE"
        keys = [c.sql() for c in checks if isinstance(c, Unique)]
        key_cols = "".join(f", {k} AS _u{i}" for i, k in enumerate(keys))
        self._execute(
            f"CREATE OR REPLACE TEMP TABLE {self.name} AS "
            f"SELECT {exprs}{key_cols} FROM ({self._source()}) WHERE {good}"
        )
        stats = ", ".join(
            ["count(*)", *(f"count(DISTINCT _u{i}) = count(_u{i})" for i in range(len(keys)))]
        )
        row = self.ctx.con.execute(f"SELECT {stats} FROM {self.name}").fetchall()[0]
        if int(row[0]) != self._expected or not all(row[1:]):
            log.debug("%s: %s of %s rows good; exact path", self.path, row[0], self._expected)
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
                f"COALESCE(_f[{positions[c] + 1}], '') AS {ident(c)}" for c in self.columns
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
        key = key or f"trim({ident(col)})"
        row = self.ctx.con.execute(
            f"SELECT count(DISTINCT {key}) = count({key}) FROM {self.name}"
        ).fetchall()
        return [] if row[0][0] else [Check(duplicate(self.name, key), col, reason)]

    def validate(self, checks: Sequence[Check | Unique]) -> int:
        """Report and remove rows with the wrong number of fields or failing a check.

        One pass: each row gets its first failing rule. Rows are reported in line order;
        in strict mode the first one raises :class:`DataError`. A :class:`Unique` rule
        becomes :meth:`unique`'s check (none when nothing repeats).

        Returns
        -------
        int
            The number of rows removed.
        """
        plain: list[Check] = [
            x
            for c in checks
            for x in (self.unique(c.field, c.reason, c.sql()) if isinstance(c, Unique) else [c])
        ]
        rules = " ".join(
            f"WHEN COALESCE(({c.condition}), FALSE) THEN {i}" for i, c in enumerate(plain, start=1)
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
                chk = plain[b["_rule"] - 1]
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
            f"SELECT _line, CAST({ident(field)} AS VARCHAR) FROM {self.name} "
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
        """A relation over the (validated) rows: ``SELECT columns FROM table WHERE where``.

        For a table of raw text (read with ``read=True``); after :meth:`load` use its result.
        """
        return self.ctx.con.sql(f"SELECT {columns} FROM {self.name} WHERE {where}")

    def count(self) -> int:
        """Rows currently held."""
        row = self.ctx.con.execute(f"SELECT count(*) FROM {self.name}").fetchall()
        return int(row[0][0])
