"""JODIE LastFM loader: counts, anchored times, bad rows, parser round trip."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.data.ingest import IngestContext, ingest
from encore.data.sources import detect, get_loader
from encore.data.sources.jodie import JODIE_EPOCH
from encore.data.store import Store
from encore.errors import DataError

FILE = "lastfm_jodie_first10pct.tsv"


@pytest.fixture(scope="module")
def jodie_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("jodie") / "j.duckdb")
    ingest(store, get_loader("jodie"), shared_data / "lastfm-1k-jodie-sample")
    yield store
    store.close()


def test_detect(shared_data: Path) -> None:
    folder = shared_data / "lastfm-1k-jodie-sample"
    assert [ld.name for ld in detect(folder)] == ["jodie"]
    assert get_loader("jodie").detect(folder / FILE)
    assert not get_loader("jodie").detect(shared_data / "lastfm-1k")


def test_counts_match_readme(jodie_store: Store) -> None:
    s = jodie_store
    assert s.scalar("SELECT count(*) FROM events WHERE source = 'jodie'") == 129_310
    assert s.scalar("SELECT count(*) FROM users WHERE source = 'jodie'") == 304
    assert s.scalar("SELECT count(*) FROM tracks WHERE source = 'jodie'") == 789
    assert (
        s.scalar("SELECT count(*) FROM external_ids WHERE source = 'jodie' AND entity = 'track'")
        == 789
    )
    span = s.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    assert span == (JODIE_EPOCH, JODIE_EPOCH + timedelta(seconds=34_062_945))
    assert s.scalar("SELECT count(*) FROM events WHERE artist_id IS NOT NULL OR skipped") == 0


def test_spot_values(jodie_store: Store) -> None:
    query = (
        "SELECT e.user_id, t.title, x.external_id FROM events e JOIN tracks t USING (track_id) "
        "JOIN external_ids x ON x.internal_id = t.track_id AND x.source = 'jodie' AND x.entity = 'track' "
        "WHERE e.ts = ? ORDER BY e.user_id"
    )
    # line 3: "1 2 306"; line 1000: "7 251 848680"
    at_306 = jodie_store.execute(query, [JODIE_EPOCH + timedelta(seconds=306)]).fetchall()
    assert at_306 == [("jodie:1", "jodie song 2", "2")]
    at_848680 = jodie_store.execute(query, [JODIE_EPOCH + timedelta(seconds=848_680)]).fetchall()
    assert ("jodie:7", "jodie song 251", "251") in at_848680


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / FILE
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


GOOD = ["0\t0\t0", "1\t1\t54", "1\t2\t306", "2\t3\t479"]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("3\t4", None, "expected 3 tab-separated fields, found 2"),
        ("3\tfour\t500", "item_idx", "item index is not an integer"),
        ("-3\t4\t500", "user_idx", "negative user index"),
        ("3\t4\t500.5", "t", "whole number of seconds"),
        ("3\t4\t99999999999", "t", "between 0 and 10^10"),
    ],
)
def test_bad_row(tmp_path: Path, store: Store, row: str, field: str | None, message: str) -> None:
    ingest(store, get_loader("jodie"), _write(tmp_path, GOOD))
    before = store.counts()
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("jodie"), _write(tmp_path, [*GOOD[:2], row, *GOOD[2:]]))
    assert (err.value.line, err.value.field) == (3, field)
    assert message in str(err.value) and FILE in str(err.value)
    pd.testing.assert_frame_equal(before, store.counts())
    res = ingest(
        store, get_loader("jodie"), _write(tmp_path, [*GOOD[:2], row, *GOOD[2:]]), on_error="skip"
    )
    assert res.loaded["events"] == 4 and res.rejected == {"events": 1}
    assert store.execute("SELECT line, field FROM rejects").fetchall() == [(3, field)]


def test_empty_file(tmp_path: Path, store: Store) -> None:
    with pytest.raises(DataError, match="empty file"):
        ingest(store, get_loader("jodie"), _write(tmp_path, ["", ""]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**10)),
        min_size=1,
        max_size=60,
    ),
    st.booleans(),
)
def test_round_trip(rows: list[tuple[int, int, int]], crlf: bool) -> None:
    """Generated rows written to a file come back as the same (user, item, time) frame, in order."""
    newline = "\r\n" if crlf else "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILE
        path.write_bytes(
            newline.join(f"{u}\t{i}\t{t}" for u, i, t in rows).encode() + newline.encode()
        )
        con = duckdb.connect()
        frame = get_loader("jodie").load(path, IngestContext(con=con)).frames["events"]
        assert isinstance(frame, duckdb.DuckDBPyRelation)
        got = frame.fetchall()
        columns = frame.columns
        con.close()
    # the canonical columns, then where each row came from (file and line, for messages)
    assert columns == ["user_id", "ts", "ms_played", "track_ext", "track", "_file", "_line"]
    expected = [
        (f"jodie:{u}", JODIE_EPOCH + timedelta(seconds=t), None, str(i), f"jodie song {i}")
        for u, i, t in rows
    ]
    assert sorted(r[:5] for r in got) == sorted(expected)
    assert {r[5] for r in got} == {str(path)}
    by_line = {r[6]: r[:5] for r in got}
    assert [by_line[n] for n in range(1, len(rows) + 1)] == expected
