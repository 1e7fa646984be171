"""The shared TSV reader of the research loaders: round trip, line numbers, both readers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.data.ingest import IngestContext
from encore.data.sources._toolkit import Check, not_int
from encore.data.sources._tsv import TsvTable
from encore.errors import DataError

# any text but the field and line separators
_field = st.text(
    st.characters(exclude_characters="\t\n\r", exclude_categories=("Cs",)), max_size=12
)
_row = st.tuples(_field, _field, _field)


def _read(path: Path, on_error: str = "raise", **kw: object) -> tuple[TsvTable, IngestContext]:
    ctx = IngestContext(con=duckdb.connect(), on_error=on_error)  # type: ignore[arg-type]
    return TsvTable(ctx, path, "events", ["a", "b", "c"], **kw), ctx  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=30), st.booleans(), st.booleans())
def test_round_trip(rows: list[tuple[str, str, str]], header: bool, crlf: bool) -> None:
    """Generated rows written to a file come back unchanged, each with its own line number."""
    rows = [r for r in rows if "".join(r).strip()]  # all-whitespace lines are skipped by design
    if not rows:
        return
    nl = "\r\n" if crlf else "\n"
    body = [f"{a}\t{b}\t{c}" for a, b, c in rows]
    lines = (["a\tb\tc"] if header else []) + body
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.tsv"
        path.write_bytes((nl.join(lines) + nl).encode("utf-8"))
        t, ctx = _read(path, header=header)
        got = ctx.con.execute(f"SELECT _line, a, b, c FROM {t.name} ORDER BY _line").fetchall()
        ctx.con.close()
    first = 2 if header else 1
    assert got == [(first + i, *r) for i, r in enumerate(rows)]


def test_blank_lines_keep_numbering(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_text("a\tb\tc\n1\t2\t3\n\n4\t5\tx\n", encoding="utf-8")
    t, _ctx = _read(p)
    with pytest.raises(DataError) as err:
        t.validate([Check(not_int("c"), "c", "not an integer")])
    assert (err.value.line, err.value.field) == (4, "c")


def test_skip_mode_reports_every_bad_row_once(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_text("a\tb\tc\n1\t2\t3\nx\t2\ty\n1\t2\n7\t8\t9\n", encoding="utf-8")
    t, ctx = _read(p, on_error="skip")
    removed = t.validate([Check(not_int("a"), "a", "bad a"), Check(not_int("c"), "c", "bad c")])
    assert removed == 2
    assert [(r.line, r.field, r.raw) for r in ctx.rejects] == [
        (3, "a", "x\t2\ty"),
        (4, None, "1\t2"),
    ]
    assert t.count() == 2


def test_header_order_and_extra_columns(tmp_path: Path) -> None:
    p = tmp_path / "x.tsv"
    p.write_text("c\textra\ta\tb\n3\tz\t1\t2\n", encoding="utf-8")
    t, ctx = _read(p)
    assert ctx.con.execute(f"SELECT a, b, c FROM {t.name}").fetchall() == [("1", "2", "3")]
