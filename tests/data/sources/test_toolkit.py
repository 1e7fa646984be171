"""The loaders' one toolkit: one whole-number rule, judged the same by the TSV and the CSV reader."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from encore.data.ingest import IngestContext
from encore.data.sources._csv import read_raw, validate
from encore.data.sources._toolkit import int_expr, int_sql, is_int, not_int, required
from encore.data.sources._tsv import TsvTable, int_check

GOOD = {
    "0": 0,
    "7": 7,
    "-1": -1,
    "+7": 7,
    "007": 7,
    " 7": 7,
    "7 ": 7,
    "-0": 0,
    "9223372036854775807": 2**63 - 1,
    "-9223372036854775808": -(2**63),
    str(2**53 + 1): 2**53 + 1,
}
BAD = [
    "12.0",
    "12.5",
    "1e3",
    "1E3",
    "0x10",
    "0b11",
    "1_000",
    "1,200",
    "12s",
    "abc",
    "--5",
    "+",
    "-",
    "inf",
    "nan",
    "12.0000000000000001",
    "9223372036854775808",
    "99999999999999999999",
    "\u0663",
]


def test_whole_number_rule() -> None:
    """``int_expr`` parses exactly the good values; ``not_int`` flags exactly the others."""
    con = duckdb.connect()
    values = [*GOOD, *BAD, "", " "]
    rows = con.execute(
        f"SELECT v, {int_expr('v')}, {not_int('v')}, {not_int('v', optional=True)}, {int_sql('v')} "
        "FROM (SELECT unnest(?) AS v)",
        [values],
    ).fetchall()
    for v, parsed, bad, bad_optional, cast in rows:
        if v in GOOD:
            assert (parsed, bad, bad_optional, cast) == (GOOD[v], False, False, GOOD[v]), v
        elif v.strip() == "":
            assert (parsed, bad, bad_optional) == (None, True, False), repr(v)
        else:
            assert parsed is None and bad and bad_optional, v
    con.close()


@pytest.mark.parametrize("optional", [False, True])
def test_both_readers_judge_alike(tmp_path: Path, optional: bool) -> None:
    """A TSV file and a CSV file holding the same values keep the same rows."""
    values = [*GOOD, *BAD, ""]
    tsv = tmp_path / "x.tsv"
    tsv.write_text("n\tv\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values)))
    csv = tmp_path / "x.csv"
    csv.write_text("n,v\n" + "".join(f'{i},"{v}"\n' for i, v in enumerate(values)))

    ctx = IngestContext(con=duckdb.connect(), on_error="skip")
    t = TsvTable(ctx, tsv, "events", ["n", "v"])
    t.validate([int_check("v", "not a whole number", optional=optional)])
    kept_tsv = {int(n) for (n,) in ctx.con.execute(f"SELECT n FROM {t.name}").fetchall()}

    raw = read_raw(ctx, csv, "events")
    validate(ctx, raw, "events", [is_int("v")] if optional else [required("v"), is_int("v")])
    kept_csv = {int(n) for (n,) in ctx.con.execute(f"SELECT n FROM {raw.name}").fetchall()}

    expected = {i for i, v in enumerate(values) if v in GOOD or (optional and v == "")}
    assert kept_tsv == kept_csv == expected
    ctx.con.close()
