"""The happy path of ``TsvTable.load`` gives exactly what the exact (line-numbered) path gives.

Each test loads the same file twice: as the loaders do (happy path first), and with the
happy path switched off (always numbered lines + ``validate``), then compares frames,
rejects and errors.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.data.ingest import IngestContext, Reject
from encore.data.sources import get_loader
from encore.data.sources._toolkit import ident
from encore.data.sources._tsv import TsvTable, int_check
from encore.errors import DataError

REAL = {
    "lfm1b": "lfm-1b-users/LFM-1b_users.tsv",
    "jodie": "lastfm-1k-jodie-sample/lastfm_jodie_first10pct.tsv",
    "lastfm1k": "lastfm-1k",  # the profile and the sample of scrobbles
}


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool | None]]:
    """Records, for every ``TsvTable.load`` call, whether it ended on the happy path."""
    seen: list[bool | None] = []
    original = TsvTable.load

    def spy(self: TsvTable, *args: Any, **kwargs: Any) -> duckdb.DuckDBPyRelation:
        rel = original(self, *args, **kwargs)
        seen.append(self.happy_path)
        return rel

    monkeypatch.setattr(TsvTable, "load", spy)
    yield seen


def _load(
    name: str, path: Path, *, happy: bool, on_error: str = "skip"
) -> tuple[dict[str, pd.DataFrame], list[Reject]]:
    """The loader's staged frames (as pandas) and rejects, with or without the happy path."""
    con = duckdb.connect()
    ctx = IngestContext(con=con, on_error=on_error)  # type: ignore[arg-type]
    with pytest.MonkeyPatch.context() as mp:
        if not happy:
            mp.setattr(TsvTable, "_load_fast", lambda *a, **k: False)
        staged = get_loader(name).load(path, ctx)
        frames = {
            t: f.df() if isinstance(f, duckdb.DuckDBPyRelation) else pd.DataFrame(f)
            for t, f in staged.frames.items()
        }
    con.close()
    return frames, [*staged.rejects, *ctx.rejects]


def _outcome(name: str, path: Path, *, happy: bool, on_error: str) -> tuple[object, ...]:
    """Frames and rejects, or the error: what a caller of the loader sees."""
    try:
        frames, rejects = _load(name, path, happy=happy, on_error=on_error)
    except DataError as exc:
        return ("error", str(exc), exc.line, exc.field)
    return ("ok", frames, rejects)


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    """Same tables, rows and types; row order too, except for DISTINCT frames (users)."""
    assert a.keys() == b.keys()
    for table in a:
        if table == "users" and "country" not in a[table]:  # jodie: SELECT DISTINCT user_id
            x, y = (
                f.sort_values(list(f.columns)).reset_index(drop=True) for f in (a[table], b[table])
            )
        else:
            x, y = a[table], b[table]
        pd.testing.assert_frame_equal(x, y, check_dtype=True)


def _same_outcome(name: str, path: Path) -> list[Reject]:
    """Skip and strict mode give the same result on both paths; returns the skip-mode rejects."""
    rejects: list[Reject] = []
    for on_error in ("skip", "raise"):
        fast = _outcome(name, path, happy=True, on_error=on_error)
        exact = _outcome(name, path, happy=False, on_error=on_error)
        if "error" in (fast[0], exact[0]):
            assert fast == exact
            continue
        _same(fast[1], exact[1])  # type: ignore[arg-type]
        assert fast[2] == exact[2]
        if on_error == "skip":
            rejects = fast[2]  # type: ignore[assignment]
    return rejects


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_same_frame(shared_data: Path, name: str, paths: list[bool | None]) -> None:
    """On the real files the happy path is taken and gives the exact path's frames, row for row."""
    fast, fast_rejects = _load(name, shared_data / REAL[name], happy=True)
    files = len(paths)
    assert files >= 1 and all(paths)
    exact, exact_rejects = _load(name, shared_data / REAL[name], happy=False)
    assert paths[files:] == [False] * files
    _same(fast, exact)
    assert fast_rejects == exact_rejects == []
    assert max(len(f) for f in fast.values()) > 900


# values the strict integer check must judge like the regex does
_INT_TOKENS = [
    "0", "7", "-1", "42", "007", "+7", " 7", "7 ", "-0", "", " ", "1.5", "1e3", "1E3", "0x10",
    "0b11", "1_000", "abc", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "99999999999999999999", "--5", "+", "-", "\u0663",
]  # fmt: skip


def test_int_check_variants() -> None:
    """``fast`` flags every value ``condition`` flags; ``digits`` equals it on digit-only text."""
    con = duckdb.connect()
    for optional in (False, True):
        chk = int_check("v", "bad", optional=optional)
        assert chk.fast and chk.digits
        rows = con.execute(
            f"SELECT v, COALESCE({chk.condition}, FALSE), COALESCE({chk.fast}, FALSE), "
            f"COALESCE({chk.digits}, FALSE) FROM (SELECT unnest(?) AS v)",
            [_INT_TOKENS],
        ).fetchall()
        for v, exact, fast, digits in rows:
            assert fast or not exact, (v, optional)
            if v.isascii() and (v == "" or v.isdigit()):
                assert digits == exact, (v, optional)
        judged = {v: exact for v, exact, _f, _d in rows}
        # strictness kept: lenient casts are still bad, sign/spaces/leading zeros still fine
        assert all(judged[v] for v in ("1.5", "1e3", "0x10", "1_000", "9223372036854775808"))
        assert not any(judged[v] for v in ("7", "-1", "007", "+7", " 7", "7 "))
        assert judged[""] is not optional
    con.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(" +-0123456789.eExXbB_", max_size=22), min_size=1, max_size=40))
def test_int_check_variants_property(values: list[str]) -> None:
    """Random number-like text: ``fast`` never passes what ``condition`` rejects."""
    con = duckdb.connect()
    for optional in (False, True):
        chk = int_check("v", "bad", optional=optional)
        rows = con.execute(
            f"SELECT v, COALESCE({chk.condition}, FALSE), COALESCE({chk.fast}, FALSE), "
            f"COALESCE({chk.digits}, FALSE) FROM (SELECT unnest(?) AS v)",
            [values],
        ).fetchall()
        for v, exact, fast, digits in rows:
            assert fast or not exact, (v, optional)
            if v == "" or v.isdigit():
                assert digits == exact, (v, optional)
    con.close()


def test_query_before_load(tmp_path: Path) -> None:
    t = TsvTable(
        IngestContext(con=duckdb.connect()),
        _jodie_file(tmp_path, [("0", "1", "2")]),
        "events",
        ["a", "b", "c"],
        header=False,
    )
    with pytest.raises(RuntimeError, match="load"):
        _ = t.query


def _jodie_file(tmp: Path, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp / "lastfm_jodie_first10pct.tsv"
    path.write_text("".join(f"{u}\t{i}\t{t}\n" for u, i, t in rows), encoding="utf-8")
    return path


_token = st.sampled_from([*_INT_TOKENS[:12], "3", "15", "10000000001"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_token, _token, _token), min_size=1, max_size=25))
def test_jodie_bad_rows_same_as_exact(rows: list[tuple[str, str, str]]) -> None:
    """Any mix of good and bad values: same frames and rejects (skip), same first error (strict)."""
    with tempfile.TemporaryDirectory() as tmp:
        _same_outcome("jodie", _jodie_file(Path(tmp), rows))


_LFM_HEADER = "user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"
_LFM_ROWS = [
    "384\tUK\t35\tm\t42139\t1035849600",
    "1206\t\t-1\tn\t33103\t1035849600",
    "7\tNA\t20\tf\t5\t1100000000",
    "8\t us\t 21\tF \t+5\t1100000000",  # good but not canonical: only the exact path takes it
    "9\tU1\t20\tm\t5\t1100000000",
    "10\tDE\tabc\tm\t5\t1100000000",
    "11\tDE\t20\tx\t5\t1100000000",
    "12\tDE\t20\tm\t-7\t1100000000",
    "13\tDE\t20\tm\t5\t2009-01-01",
    "384\tDE\t20\tm\t5\t1100000000",
    "14\tDE\t20\tm\t5",
    "15\tDE\t1e2\tm\t5\t1100000000",
    "16\tDE\t20\tm\t5\t99999999999999",
    "\t\t\t\t\t",
]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(_LFM_ROWS), min_size=1, max_size=12))
def test_lfm1b_bad_rows_same_as_exact(rows: list[str]) -> None:
    """LFM-1b rows with every kind of fault (and good odd spellings): fast == exact."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "LFM-1b_users.tsv"
        path.write_text("\n".join([_LFM_HEADER, *rows]) + "\n", encoding="utf-8")
        _same_outcome("lfm1b", path)


def test_lfm1b_every_fault_once(tmp_path: Path) -> None:
    """All fault kinds in one file: both paths reject the same 10 lines, in order."""
    path = tmp_path / "LFM-1b_users.tsv"
    path.write_text("\n".join([_LFM_HEADER, *_LFM_ROWS]) + "\n", encoding="utf-8")
    rejects = _same_outcome("lfm1b", path)
    assert [r.line for r in rejects] == list(range(6, 16))
    assert [r.field for r in rejects][:3] == ["country", "age", "gender"]


@pytest.mark.parametrize(
    ("rows", "happy"),
    [
        (["0\t1\t2", "3\t4\t5"], True),  # clean, digits only
        (["0\t1\t2", "3\t+4\t5"], False),  # good but not canonical
        (["0\t1\t2", "3\t4"], False),  # wrong field count
        (["0\t1\t2", "", "3\t4\t5"], False),  # blank line: numbering needs the exact reader
        (["0\t1\t2", "3\t4\t1.5"], False),  # bad value
    ],
)
def test_which_path(tmp_path: Path, paths: list[bool | None], rows: list[str], happy: bool) -> None:
    path = tmp_path / "lastfm_jodie_first10pct.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _load("jodie", path, happy=True)
    assert paths == [happy]


def test_happy_path_table_holds_output(tmp_path: Path) -> None:
    """After the happy path the temp table holds converted columns; ``query`` selects them."""
    path = _jodie_file(tmp_path, [("0", "1", "2"), ("3", "4", "5")])
    con = duckdb.connect()
    t = TsvTable(IngestContext(con=con), path, "events", ["a", "b", "c"], header=False, read=False)
    rel = t.load(
        [int_check("a", "bad a")], {"x": f"CAST({ident('a')} AS BIGINT) + 1", "y": ident("c")}
    )
    assert t.happy_path
    assert rel.fetchall() == [(1, "2"), (4, "5")]
    assert con.execute(t.query).fetchall() == [(1, "2"), (4, "5")]
    con.close()
