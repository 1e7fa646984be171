"""LFM-1b user table loader: real-data counts and values, bad rows, parser round trip."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.data.ingest import IngestContext, ingest
from encore.data.sources import detect, get_loader
from encore.data.store import Store
from encore.errors import DataError

HEADER = "user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"


@pytest.fixture(scope="module")
def lfm1b_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("lfm1b") / "l.duckdb")
    ingest(store, get_loader("lfm1b"), shared_data / "lfm-1b-users")
    yield store
    store.close()


def test_detect(shared_data: Path) -> None:
    folder = shared_data / "lfm-1b-users"
    assert [ld.name for ld in detect(folder)] == ["lfm1b"]
    assert get_loader("lfm1b").detect(folder / "LFM-1b_users.tsv")


def test_counts_match_readme(lfm1b_store: Store) -> None:
    s = lfm1b_store
    assert s.scalar("SELECT count(*) FROM users WHERE source = 'lfm1b'") == 120_322
    assert s.scalar("SELECT count(*) FROM users WHERE country IS NULL") == 65_132
    assert s.scalar("SELECT count(*) FROM users WHERE country = 'NA'") == 4  # Namibia, not missing
    assert s.scalar("SELECT count(*) FROM users WHERE country = 'UK'") == 0
    top = s.execute(
        "SELECT country, count(*) FROM users GROUP BY 1 ORDER BY 2 DESC NULLS LAST LIMIT 7"
    ).fetchall()
    assert top[1:] == [
        ("US", 10_255),
        ("RU", 5_024),
        ("DE", 4_578),
        ("GB", 4_534),
        ("PL", 4_408),
        ("BR", 3_886),
    ]
    lo, hi = s.execute("SELECT min(registered_at), max(registered_at) FROM users").fetchone() or (
        None,
        None,
    )
    assert lo.date().isoformat() == "2002-10-29" and hi.date().isoformat() == "2012-07-25"
    assert (
        s.scalar("SELECT count(*) FROM users WHERE gender IS NOT NULL AND gender NOT IN ('m', 'f')")
        == 0
    )
    assert s.scalar("SELECT count(*) FROM users WHERE age < 0") == 0
    assert s.scalar("SELECT count(*) FROM rejects") == 0


def test_spot_values(lfm1b_store: Store) -> None:
    s = lfm1b_store
    cols = "country, region, age, gender, declared_plays, registered_at"
    row = s.execute(f"SELECT {cols} FROM users WHERE user_id = 'lfm1b:384'").fetchone()
    assert row == ("GB", "Europe", 35, "m", 42_139, datetime(2002, 10, 29))
    # 1206: no country, age -1, gender n -> all unknown
    row = s.execute(f"SELECT {cols} FROM users WHERE user_id = 'lfm1b:1206'").fetchone()
    assert row == (None, None, None, None, 33_103, datetime(2002, 10, 29))
    assert s.scalar("SELECT gender FROM users WHERE user_id = 'lfm1b:2622'") is None  # empty gender
    assert set(s.execute("SELECT region FROM users WHERE country = 'NA'").fetchall()) == {
        ("Africa",)
    }
    assert s.scalar("SELECT count(*) FROM users WHERE declared_plays IS NULL") == 25  # playcount -1


# ----------------------------------------------------------------------------- bad input
def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    p = tmp_path / "LFM-1b_users.tsv"
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


GOOD = [
    "384\tUK\t35\tm\t42139\t1035849600",
    "1206\t\t-1\tn\t33103\t1035849600",
    "7\tNA\t20\tf\t5\t1100000000",
]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("9\tU1\t20\tm\t5\t1100000000", "country", "not a two-letter code"),
        ("9\tDE\tabc\tm\t5\t1100000000", "age", "age is not an integer"),
        ("9\tDE\t20\tx\t5\t1100000000", "gender", "gender is not m, f, n or empty"),
        ("9\tDE\t20\tm\t-7\t1100000000", "playcount", "negative play count"),
        ("9\tDE\t20\tm\t5\t2009-01-01", "registered_unixtime", "not an integer"),
        ("384\tDE\t20\tm\t5\t1100000000", "user_id", "user id listed twice"),
        ("9\tDE\t20\tm\t5", None, "expected 6 tab-separated fields, found 5"),
    ],
)
def test_bad_row(tmp_path: Path, store: Store, row: str, field: str | None, message: str) -> None:
    ingest(store, get_loader("lfm1b"), _write(tmp_path, GOOD))
    before = store.counts()
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("lfm1b"), _write(tmp_path, [*GOOD, row]))
    assert (err.value.line, err.value.field) == (5, field)
    assert message in str(err.value) and "LFM-1b_users.tsv" in str(err.value)
    pd.testing.assert_frame_equal(before, store.counts())
    res = ingest(
        store,
        get_loader("lfm1b"),
        _write(tmp_path, [*GOOD, row, GOOD[0].replace("384", "1")]),
        on_error="skip",
    )
    assert res.loaded["users"] == 4 and res.rejected == {"users": 1}
    assert store.execute("SELECT line, field FROM rejects").fetchall() == [(5, field)]


def test_missing_column(tmp_path: Path, store: Store) -> None:
    p = _write(tmp_path, ["1\tDE\t20\t5\t1100000000"], header=HEADER.replace("\tgender", ""))
    with pytest.raises(DataError, match="missing column 'gender'") as err:
        ingest(store, get_loader("lfm1b"), p)
    assert (err.value.line, err.value.field) == (1, "gender")


def test_empty_file(tmp_path: Path, store: Store) -> None:
    p = tmp_path / "LFM-1b_users.tsv"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        ingest(store, get_loader("lfm1b"), p)


# ----------------------------------------------------------------------------- round trip
_countries = st.sampled_from(["", "US", "UK", "NA", "DE", "BR", "JP", "us"])
_user = st.tuples(
    _countries,
    st.integers(-1, 120),
    st.sampled_from(["m", "f", "n", ""]),
    st.integers(-1, 10**7),
    st.integers(0, 2 * 10**9),
)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.integers(0, 10**9), _user, min_size=1, max_size=40))
def test_round_trip(users: dict[int, tuple[str, int, str, int, int]]) -> None:
    """Generated rows written to a file load back as the documented mapping of each field."""
    lines = [f"{uid}\t{c}\t{a}\t{g}\t{p}\t{r}" for uid, (c, a, g, p, r) in users.items()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "LFM-1b_users.tsv"
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
        con = duckdb.connect()
        ctx = IngestContext(con=con)
        frame = get_loader("lfm1b").load(path, ctx).frames["users"]
        assert isinstance(frame, duckdb.DuckDBPyRelation)
        got = {r[0]: r[1:] for r in frame.fetchall()}
        columns = frame.columns
        con.close()
    assert columns == ["user_id", "country", "age", "gender", "declared_plays", "registered_at"]
    expected = {
        f"lfm1b:{uid}": (
            {"": None, "UK": "GB"}.get(c.upper(), c.upper()),
            None if a == -1 else a,
            g if g in ("m", "f") else None,
            None if p == -1 else p,
            datetime.fromtimestamp(r, UTC).replace(tzinfo=None),
        )
        for uid, (c, a, g, p, r) in users.items()
    }
    assert got == expected
