"""The loaders' one data toolkit: SQL quoting, value rules and the :class:`Check` they are judged by.

Every loader validates and converts whole columns in DuckDB, over a table of raw text read
from its files (by :class:`~encore.data.sources._tsv.TsvTable` for the research TSV
files, by :func:`~encore.data.sources._csv.read_raw` for CSV and Parquet). What a valid
value is, is written here once and used by both readers:

- **text** (:func:`txt`): surrounding whitespace (space, tab, line feed, carriage return)
  is removed; an empty value is missing (:func:`blank`);
- **whole number** (:func:`int_expr`, :func:`not_int`): after that trimming, an optional
  sign and ASCII digits, within the range of a 64-bit integer: ``12``, ``-3``, ``+7``,
  ``007``. Nothing else, even when it names a whole number: not ``12.0``, ``1e3``,
  ``0x10``, ``1_000`` or ``1,200``. A strict ingest does not reinterpret a value: DuckDB's
  casts alone accept all of those (and round ``12.5`` to 13), and a detour through DOUBLE
  accepts ``12.0000000000000001`` as 12 and changes integers above 2**53;
- **number** (:func:`num_expr`): what DuckDB reads as a DOUBLE;
- **timestamp** (:func:`ts_expr`): ISO 8601, an offset converted to UTC, none taken as UTC;
- **boolean** (:func:`bool_expr`): true/false, t/f, 1/0, yes/no, y/n (any case).

A :class:`Check` is one validation rule over the raw columns: rows where its condition is
true are bad, and the reader reports them with file, line and field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


# ------------------------------------------------------------------ quoting
def ident(name: str) -> str:
    """A quoted SQL identifier for the column ``name``."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(text: str) -> str:
    """A SQL string literal for ``text``."""
    return "'" + text.replace("'", "''") + "'"


# ------------------------------------------------------------------ value rules
#: SQL: the whitespace characters :func:`txt` strips (space, tab, line feed, carriage return).
WHITESPACE = "' ' || chr(9) || chr(10) || chr(13)"

#: The whole-number rule, as a regular expression over the trimmed text.
WHOLE_NUMBER = "[+-]?[0-9]+"


def txt(col: str, alias: str | None = None) -> str:
    """SQL: the text of raw column ``col`` (of table ``alias``) without surrounding whitespace, NULL when empty."""
    ref = f"{alias}.{ident(col)}" if alias else ident(col)
    return f"NULLIF(trim({ref}, {WHITESPACE}), '')"


def blank(col: str) -> str:
    """SQL condition: the column is missing, empty or only whitespace (:func:`txt` is NULL).

    Written so that most values are settled by one comparison: only a value that is
    empty or starts with a character below ``!`` (whitespace among them) is trimmed.
    """
    v = ident(col)
    return f"(CASE WHEN {v} < '!' THEN trim({v}, {WHITESPACE}) = '' ELSE {v} IS NULL END)"


def num_expr(col: str) -> str:
    """SQL: raw column ``col`` as DOUBLE (NULL when empty or not a number)."""
    return f"TRY_CAST({txt(col)} AS DOUBLE)"


def int_expr(col: str) -> str:
    """SQL: raw column ``col`` as BIGINT when it is a whole number (see the module docstring), else NULL."""
    x = txt(col)
    return f"(CASE WHEN regexp_full_match({x}, '{WHOLE_NUMBER}') THEN TRY_CAST({x} AS BIGINT) END)"


def int_sql(col: str) -> str:
    """SQL: raw column ``col`` as BIGINT, for values that passed :func:`not_int` (cheaper than :func:`int_expr`).

    DuckDB's cast ignores surrounding whitespace and reads a sign and leading zeros, so on
    a valid whole number it gives :func:`int_expr`'s value; on other text it may give
    something (``12.5`` -> 13), so never use it on unchecked values.
    """
    return f"TRY_CAST({ident(col)} AS BIGINT)"


def not_int(col: str, *, optional: bool = False) -> str:
    """SQL condition: the column is not a whole number (``optional``: a blank value is fine).

    The same rule as :func:`int_expr`, as a ``CASE`` chain (DuckDB evaluates a later
    branch only for rows that reach it): the cast rejects most bad values without the
    regular expression, which then rejects what the cast is lenient about.
    """
    x = txt(col)
    bad = (
        f"CASE WHEN TRY_CAST({x} AS BIGINT) IS NULL THEN TRUE "
        f"ELSE NOT regexp_full_match({x}, '{WHOLE_NUMBER}') END"
    )
    return f"(CASE WHEN {blank(col)} THEN FALSE ELSE {bad} END)" if optional else f"({bad})"


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


def one_of(col: str, values: Sequence[str]) -> str:
    """SQL condition: the column, trimmed and lower-cased, is one of ``values`` (exact match first)."""
    v = ident(col)
    lits = ", ".join(sql_str(x) for x in values)
    return f"(CASE WHEN {v} IN ({lits}) THEN TRUE ELSE lower(trim({v})) IN ({lits}) END)"


def duplicate(table: str, key: str, row: str = "_line") -> str:
    """SQL condition: this row of ``table`` repeats an earlier row's ``key`` (an SQL expression).

    ``row`` is the table's column of row numbers (``_line`` for TSV, ``_rec`` for CSV); rows
    whose key is NULL repeat nothing.
    """
    return (
        f"{row} IN (SELECT {row} FROM (SELECT {row}, row_number() OVER "
        f"(PARTITION BY {key} ORDER BY {row}) AS _k FROM {table} WHERE {key} IS NOT NULL) "
        "WHERE _k > 1)"
    )


# ------------------------------------------------------------------ checks
@dataclass(frozen=True)
class Check:
    """One validation rule: rows where ``condition`` (SQL over the raw column names) is true are bad.

    Attributes
    ----------
    condition:
        SQL boolean expression; NULL counts as false.
    field:
        The column named in the error (its value is shown in the message).
    reason:
        What is wrong, in words (the offending value is appended).
    fast:
        Optional cheaper condition for the happy path of
        :meth:`~encore.data.sources._tsv.TsvTable.load`: true at least wherever
        ``condition`` is (it may also flag good rows, which only sends the file to the
        exact path). Other readers ignore it.
    digits:
        Optional condition equivalent to ``condition`` in files that hold only ASCII digits,
        tabs and newlines (see :func:`~encore.data.sources._tsv.int_check`); TSV happy
        path only.
    """

    condition: str
    field: str
    reason: str
    fast: str | None = None
    digits: str | None = None

    def happy(self, digits_only: bool) -> str:
        """The condition the happy path uses (``digits_only``: the file is digits, tabs, newlines)."""
        if digits_only and self.digits:
            return self.digits
        return self.fast or self.condition


def required(col: str) -> Check:
    """The value must not be blank."""
    return Check(blank(col), col, "missing value")


def is_number(col: str) -> Check:
    """When given, the value must be a number."""
    return Check(f"{txt(col)} IS NOT NULL AND {num_expr(col)} IS NULL", col, "not a number")


def is_int(col: str, lo: int | None = None, hi: int | None = None) -> Check:
    """When given, the value must be a whole number, optionally within ``[lo, hi]``."""
    bad = not_int(col, optional=True)
    reason = "not a whole number"
    if lo is not None:
        bad += f" OR {int_expr(col)} < {lo}"
    if hi is not None:
        bad += f" OR {int_expr(col)} > {hi}"
    if lo is not None or hi is not None:
        reason += f" in [{'' if lo is None else lo}, {'' if hi is None else hi}]"
    return Check(bad, col, reason)


def is_ts(col: str) -> Check:
    """When given, the value must be an ISO 8601 date or timestamp."""
    return Check(
        f"{txt(col)} IS NOT NULL AND {ts_expr(col)} IS NULL",
        col,
        "not an ISO 8601 timestamp (e.g. 2024-05-01T13:45:00Z or 2024-05-01 13:45:00)",
    )


def is_bool(col: str) -> Check:
    """When given, the value must be a boolean word."""
    return Check(
        f"{txt(col)} IS NOT NULL AND {bool_expr(col)} IS NULL",
        col,
        "not a boolean (true/false, 1/0, yes/no)",
    )
