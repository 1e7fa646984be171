"""Last.fm 1K loader: profiles and scrobbles from the folder or either file, bad rows."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from encore.data.ingest import IngestContext, ingest
from encore.data.sources import detect, get_loader
from encore.data.store import Store
from encore.errors import DataError

PROFILES = "userid-profile.tsv"
EVENTS = "userid-timestamp-artid-artname-traid-traname.sample.tsv"


@pytest.fixture(scope="module")
def lfm1k_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("lastfm1k") / "l.duckdb")
    ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k")
    yield store
    store.close()


@pytest.fixture
def folder(shared_data: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "lastfm-1k"
    dst.mkdir()
    for name in (PROFILES, EVENTS):
        shutil.copyfile(shared_data / "lastfm-1k" / name, dst / name)
    return dst


def replace_line(file: Path, line: int, text: bytes) -> None:
    lines = file.read_bytes().split(b"\n")
    lines[line - 1] = text
    file.write_bytes(b"\n".join(lines))


def test_detect(shared_data: Path) -> None:
    folder = shared_data / "lastfm-1k"
    assert [ld.name for ld in detect(folder)] == ["lastfm1k"]
    loader = get_loader("lastfm1k")
    assert loader.detect(folder / PROFILES) and loader.detect(folder / EVENTS)
    assert not loader.detect(shared_data / "hetrec2011-lastfm-2k")


def test_profile_counts_match_readme(lfm1k_store: Store) -> None:
    s = lfm1k_store
    assert s.scalar("SELECT count(*) FROM users WHERE source = 'lastfm1k'") == 992
    genders = dict(s.execute("SELECT gender, count(*) FROM users GROUP BY 1").fetchall())
    assert genders == {"m": 502, "f": 382, None: 108}
    missing = s.execute(
        "SELECT count(*) - count(age), count(*) - count(country), count(*) - count(registered_at) FROM users"
    ).fetchone()
    assert missing == (706, 85, 8)
    lo, hi = s.execute("SELECT min(registered_at), max(registered_at) FROM users").fetchone() or (
        None,
        None,
    )
    assert (lo, hi) == (datetime(2002, 10, 29), datetime(2009, 11, 5))
    # country names mapped to ISO alpha-2 by the writer; all 66 map
    assert s.scalar("SELECT count(DISTINCT country) FROM users") == 66
    assert s.scalar("SELECT count(*) FROM users WHERE country IS NOT NULL AND region IS NULL") == 0
    assert s.scalar("SELECT count(*) FROM users WHERE country = 'TR'") == 28


def test_profile_spot_values(lfm1k_store: Store) -> None:
    row = lfm1k_store.execute(
        "SELECT gender, age, country, region, registered_at FROM users WHERE user_id = 'lastfm1k:user_000003'"
    ).fetchone()
    assert row == ("m", 22, "US", "North America", datetime(2005, 10, 30))
    row = lfm1k_store.execute(
        "SELECT gender, age, country FROM users WHERE user_id = 'lastfm1k:user_000001'"
    ).fetchone()
    assert row == ("m", None, "JP")


def test_events_match_readme(lfm1k_store: Store) -> None:
    s = lfm1k_store
    assert s.scalar("SELECT count(*) FROM events") == 5_000
    per_user = dict(s.execute("SELECT user_id, count(*) FROM events GROUP BY 1").fetchall())
    assert per_user == {"lastfm1k:user_000001": 4_997, "lastfm1k:user_000002": 3}
    span = s.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    assert span == (datetime(2008, 12, 8, 6, 4), datetime(2009, 5, 4, 23, 8, 57))
    assert s.scalar("SELECT count(*) FROM events WHERE ms_played IS NOT NULL OR skipped") == 0
    first = s.execute(
        "SELECT a.name, a.mbid, t.title, t.mbid FROM events e JOIN tracks t USING (track_id) "
        "JOIN artists a ON a.artist_id = e.artist_id WHERE e.ts = TIMESTAMP '2009-05-04 23:08:57'"
    ).fetchone()
    assert first == (
        "Deep Dish",
        "f1b1cf71-bd35-4e99-8624-24a6e15f133a",
        "Fuck Me Im Famous (Pacha Ibiza)-09-28-2007",
        None,
    )


def test_events_staged_mbids(shared_data: Path) -> None:
    con = duckdb.connect()
    ctx = IngestContext(con=con)
    staged = get_loader("lastfm1k").load(shared_data / "lastfm-1k" / EVENTS, ctx)
    assert set(staged.frames) == {"events"}
    frame = staged.frames["events"]
    assert isinstance(frame, duckdb.DuckDBPyRelation)
    ev = frame.df()
    assert len(ev) == 5_000
    assert ev.track_mbid.isna().sum() == 1_396  # README: 1,396 rows lack a track MBID
    assert ev.artist.nunique() == 235
    con.close()


def test_either_file_alone(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k" / EVENTS)
    assert res.loaded["events"] == 5_000 and res.loaded["users"] == 2  # bare user rows
    res = ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k" / PROFILES)
    assert "events" not in res.loaded
    assert store.scalar("SELECT count(*) FROM users WHERE source = 'lastfm1k'") == 992
    assert store.scalar("SELECT count(*) FROM events") == 5_000


@pytest.mark.parametrize(
    ("file", "line", "text", "field", "message"),
    [
        (
            EVENTS,
            17,
            b"user_000001\t2009-05-04 23h08\t\tDeep Dish\t\tX",
            "timestamp",
            "not ISO-8601",
        ),
        (
            EVENTS,
            4_321,
            b"user_000001\t2009-05-04T23:08:57Z\tnot-an-mbid\tDeep Dish\t\tX",
            "artist_mbid",
            "not a UUID",
        ),
        (EVENTS, 18, b"user_000001\t2009-05-04T23:08:57Z\t\t\t\tX", "artist", "no artist"),
        (EVENTS, 19, b"user_000001\t2009-05-04T23:08:57Z\t\tDeep Dish", None, "expected 6"),
        (PROFILES, 40, b"user_000039\tx\t\tJapan\tAug 13, 2006", "gender", "gender is not m, f"),
        (PROFILES, 41, b"user_000040\tm\tten\tJapan\tAug 13, 2006", "age", "age is not an integer"),
        (
            PROFILES,
            42,
            b"user_000041\tm\t\tJapan\t13/08/2006",
            "registered",
            "not like 'Aug 13, 2006'",
        ),
        (PROFILES, 43, b"user_000001\tm\t\tJapan\tAug 13, 2006", "id", "listed twice"),
    ],
)
def test_bad_row(
    folder: Path, store: Store, file: str, line: int, text: bytes, field: str | None, message: str
) -> None:
    ingest(store, get_loader("lastfm1k"), folder)
    before = store.counts()
    replace_line(folder / file, line, text)
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("lastfm1k"), folder)
    assert err.value.file is not None and err.value.file.endswith(file)
    assert (err.value.line, err.value.field) == (line, field)
    assert message in str(err.value)
    pd.testing.assert_frame_equal(before, store.counts())
    res = ingest(store, get_loader("lastfm1k"), folder, on_error="skip")
    table = "events" if file == EVENTS else "users"
    assert res.rejected == {table: 1}
    assert res.loaded[table] == (5_000 if file == EVENTS else 992) - 1
    assert store.execute("SELECT line, field FROM rejects").fetchall() == [(line, field)]


def test_missing_profile_column(folder: Path, store: Store) -> None:
    replace_line(folder / PROFILES, 1, b"#id\tgender\tage\tregistered")
    with pytest.raises(DataError, match="missing column 'country'") as err:
        ingest(store, get_loader("lastfm1k"), folder)
    assert (err.value.line, err.value.field) == (1, "country")
