"""HetRec 2011 Last.fm 2K loader: real-data counts and values, bad input, date parsing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encore.data.ingest import IngestContext, ingest
from encore.data.sources import detect, get_loader
from encore.data.sources.hetrec import PLAUSIBLE_TAG_DATES
from encore.data.store import Store
from encore.errors import ConfigError, DataError

FILES = (
    "artists.dat",
    "tags.dat",
    "user_artists.dat",
    "user_friends.dat",
    "user_taggedartists.dat",
)


@pytest.fixture(scope="module")
def hetrec_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("hetrec") / "h.duckdb")
    ingest(store, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k")
    yield store
    store.close()


def small_copy(src: Path, dst: Path, rows: int = 300) -> Path:
    """The folder with tags.dat whole, 1,000 lines of artists.dat, ``rows`` lines of the others."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if name == "tags.dat":
            shutil.copyfile(src / name, dst / name)
        else:
            keep = 1_000 if name == "artists.dat" else rows + 1
            lines = (src / name).read_bytes().split(b"\n")[:keep]
            (dst / name).write_bytes(b"\n".join(lines) + b"\n")
    return dst


def replace_line(file: Path, line: int, text: str) -> None:
    """Replace one line (1-based) of a file, byte-wise (other lines keep their encoding)."""
    lines = file.read_bytes().split(b"\n")
    lines[line - 1] = text.encode("utf-8")
    file.write_bytes(b"\n".join(lines))


# ----------------------------------------------------------------------------- real data
def test_detect(shared_data: Path) -> None:
    assert [ld.name for ld in detect(shared_data / "hetrec2011-lastfm-2k")] == ["hetrec2011"]
    assert not get_loader("hetrec2011").detect(shared_data / "lastfm-1k")


def test_counts_match_readme(hetrec_store: Store) -> None:
    s = hetrec_store
    by_source = "SELECT count(*) FROM {} WHERE source = 'hetrec2011'"
    assert s.scalar(by_source.format("playcounts")) == 92_834
    assert s.scalar(by_source.format("friends")) == 25_434
    assert s.scalar(by_source.format("users")) == 1_892
    # 186,479 assignments: 1,538 name artist ids absent from artists.dat (documented rejects)
    assert s.scalar(by_source.format("artist_tags")) == 186_479 - 1_538
    rejects = s.df(
        "SELECT file, field, count(*) AS n, count(DISTINCT line) AS lines FROM rejects GROUP BY ALL"
    )
    assert rejects.to_dict("records") == [
        {"file": rejects.file[0], "field": "artistID", "n": 1_538, "lines": 1_538}
    ]
    assert rejects.file[0].endswith("user_taggedartists.dat")
    # every one of the 17,632 HetRec artist ids maps to a catalogue artist
    ext = "SELECT count(*) FROM external_ids WHERE source = 'hetrec2011' AND entity = 'artist'"
    assert s.scalar(ext) == 17_632
    # the catalogue merges names that normalise alike ("The X" / "X"), never splits one
    n_artists = s.scalar("SELECT count(*) FROM artists")
    assert 17_000 < n_artists <= 17_632
    assert s.scalar("SELECT count(DISTINCT tag) FROM artist_tags") <= 11_946
    # users: no demographics in HetRec
    assert s.scalar("SELECT count(*) FROM users WHERE age IS NOT NULL OR country IS NOT NULL") == 0


def test_spot_values(hetrec_store: Store) -> None:
    s = hetrec_store
    row = s.execute(
        "SELECT p.plays, a.name FROM playcounts p JOIN artists a USING (artist_id) "
        "JOIN external_ids x ON x.internal_id = a.artist_id AND x.source = 'hetrec2011' "
        "WHERE p.user_id = 'hetrec:2' AND x.external_id = '51'"
    ).fetchone()
    assert row == (13_883, "Duran Duran")
    tags = s.df(
        "SELECT t.tag, t.tagged_at, t.weight FROM artist_tags t "
        "JOIN external_ids x ON x.internal_id = t.artist_id AND x.source = 'hetrec2011' "
        "WHERE t.user_id = 'hetrec:2' AND x.external_id = '52' ORDER BY t.tag"
    )
    assert "chillout" in set(tags.tag)  # tagID 13, first data line: 2 52 13 1 4 2009
    assert set(tags.tagged_at) == {pd.Timestamp("2009-04-01")}
    assert set(tags.weight) == {1.0}
    # tags.dat is ISO-8859-1: tag 2863 is "tropicália"
    assert s.scalar("SELECT count(*) FROM artist_tags WHERE tag = 'tropicália'") > 0
    assert (
        s.scalar(
            "SELECT count(*) FROM friends WHERE user_id = 'hetrec:2' AND friend_id = 'hetrec:275'"
        )
        == 1
    )


def test_implausible_dates_are_null(hetrec_store: Store) -> None:
    s = hetrec_store
    # line 4146: 43 1395 39 1 6 1956 -> kept, date unknown
    row = s.execute(
        "SELECT count(*), count(tagged_at) FROM artist_tags t "
        "JOIN external_ids x ON x.internal_id = t.artist_id AND x.source = 'hetrec2011' "
        "WHERE t.user_id = 'hetrec:43' AND x.external_id = '1395' AND t.tag = 'dance'"
    ).fetchone()
    assert row == (1, 0)
    assert s.scalar("SELECT count(*) FROM artist_tags WHERE tagged_at IS NULL") == 5
    lo, hi = s.execute("SELECT min(tagged_at), max(tagged_at) FROM artist_tags").fetchone() or (
        None,
        None,
    )
    assert lo.year == 2005 and hi.year == 2011


def test_file_instead_of_folder(shared_data: Path, store: Store) -> None:
    with pytest.raises(ConfigError, match="pass the folder"):
        ingest(
            store, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k" / "artists.dat"
        )


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def small(shared_data: Path, tmp_path: Path) -> Path:
    return small_copy(shared_data / "hetrec2011-lastfm-2k", tmp_path / "hetrec")


@pytest.mark.parametrize(
    ("file", "line", "text", "field", "message"),
    [
        ("user_artists.dat", 50, "2\t51", None, "expected 3 tab-separated fields, found 2"),
        ("user_artists.dat", 7, "2\t51\t12x", "weight", "play count is not an integer"),
        ("user_artists.dat", 9, "2\t51\t-4", "weight", "negative play count"),
        ("user_friends.dat", 3, "two\t275", "userID", "user id is not an integer"),
        ("user_taggedartists.dat", 120, "2\t52\t13\t31\t4\t2009", "day", "no such day"),
        ("user_taggedartists.dat", 121, "2\t52\t13\t1\t13\t2009", "month", "month is not a number"),
        ("user_taggedartists.dat", 122, "2\t52\t13\t1\t4\t20O9", "year", "year is not an integer"),
        ("artists.dat", 400, "51\tDuplicate\tu\tp", "id", "artist id listed twice"),
        ("tags.dat", 10, "10\t  ", "tagValue", "empty tag"),
    ],
)
def test_bad_row_strict_names_file_line_field(
    small: Path, store: Store, file: str, line: int, text: str, field: str | None, message: str
) -> None:
    ingest(store, get_loader("hetrec2011"), small)
    before = store.counts()
    replace_line(small / file, line, text)
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("hetrec2011"), small)
    e = err.value
    assert e.file is not None and e.file.endswith(file)
    assert e.line == line and e.field == field
    assert message in str(e) and f"line {line}" in str(e)
    pd.testing.assert_frame_equal(before, store.counts())


def test_skip_mode_keeps_good_rows(small: Path, store: Store) -> None:
    replace_line(small / "user_artists.dat", 5, "2\t55")
    replace_line(small / "user_artists.dat", 8, "2\t58\tmany")
    replace_line(small / "user_taggedartists.dat", 30, "2\t52\t13\t30\t2\t2009")
    res = ingest(store, get_loader("hetrec2011"), small, on_error="skip")
    assert res.loaded["playcounts"] == 300 - 2
    rej = store.execute(
        "SELECT tbl, line, field, reason, raw FROM rejects "
        "WHERE field IS DISTINCT FROM 'artistID' ORDER BY line"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rej] == [
        ("playcounts", 5, None),
        ("playcounts", 8, "weight"),
        ("artist_tags", 30, "day"),
    ]
    assert rej[0][3] == "expected 3 tab-separated fields, found 2"
    assert rej[1][4] == "2\t58\tmany" and "'many'" in rej[1][3]


def test_missing_column(small: Path, store: Store) -> None:
    replace_line(small / "user_friends.dat", 1, "userID\tfriend")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("hetrec2011"), small)
    assert err.value.field == "friendID" and err.value.line == 1
    assert "missing column 'friendID'" in str(err.value)
    assert store.scalar("SELECT count(*) FROM users") == 0


@pytest.mark.parametrize("content", [b"", b"userID\tfriendID\n"])
def test_empty_file(small: Path, store: Store, content: bytes) -> None:
    (small / "user_friends.dat").write_bytes(content)
    with pytest.raises(DataError, match="empty file") as err:
        ingest(store, get_loader("hetrec2011"), small)
    assert err.value.file is not None and err.value.file.endswith("user_friends.dat")


def test_latin1_in_utf8_file(small: Path, store: Store) -> None:
    data = (small / "artists.dat").read_bytes().split(b"\n")
    data[10] = b"10\tCaf\xe9 Tacuba\thttp://x\thttp://y"  # line 11, ISO-8859-1 "é"
    (small / "artists.dat").write_bytes(b"\n".join(data))
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("hetrec2011"), small)
    assert err.value.line == 11 and err.value.field == "name"
    assert "not valid utf-8" in str(err.value) and "artists.dat" in str(err.value)


def test_missing_tags_file(small: Path, store: Store) -> None:
    (small / "tags.dat").unlink()
    with pytest.raises(DataError, match=r"tags\.dat is missing"):
        ingest(store, get_loader("hetrec2011"), small)


def test_line_numbers_deep_in_a_large_file(shared_data: Path, tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "full"
    shutil.copytree(shared_data / "hetrec2011-lastfm-2k", folder)
    for p in folder.iterdir():
        p.chmod(0o644)
    replace_line(folder / "user_taggedartists.dat", 150_000, "2100\t16437\t3335\t1\t7\t2O1O")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("hetrec2011"), folder)
    assert (err.value.line, err.value.field) == (150_000, "year")


# ----------------------------------------------------------------------------- properties
def _tag_folder(root: Path, day: str, month: str, year: str) -> Path:
    (root / "artists.dat").write_text(
        "id\tname\turl\tpictureURL\n52\tMorcheeba\tu\tp\n", encoding="utf-8"
    )
    (root / "tags.dat").write_text("tagID\ttagValue\n13\tchillout\n", encoding="utf-8")
    (root / "user_artists.dat").write_text(
        "userID\tartistID\tweight\n2\t52\t10\n", encoding="utf-8"
    )
    (root / "user_taggedartists.dat").write_text(
        f"userID\tartistID\ttagID\tday\tmonth\tyear\n2\t52\t13\t{day}\t{month}\t{year}\n",
        encoding="utf-8",
    )
    return root


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    day=st.integers(min_value=-2, max_value=33),
    month=st.integers(min_value=-1, max_value=14),
    year=st.integers(min_value=0, max_value=10_050),
    pad=st.booleans(),
)
def test_tag_date_parser(day: int, month: int, year: int, pad: bool) -> None:
    """Any day/month/year: a real date loads (NULL outside the plausible range), else a reject."""
    fmt = "{:02d}" if pad else "{}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = _tag_folder(Path(tmp), fmt.format(day), fmt.format(month), str(year))
        con = duckdb.connect()
        ctx = IngestContext(con=con, on_error="skip")
        staged = get_loader("hetrec2011").load(folder, ctx)
        frame = staged.frames["artist_tags"]
        assert isinstance(frame, duckdb.DuckDBPyRelation)
        tags = frame.df()
        try:
            expected: date | None = date(year, month, day)
        except ValueError:
            expected = None
        if expected is None:
            assert len(tags) == 0
            assert [(r.line, r.field) for r in ctx.rejects] == [(2, r.field) for r in ctx.rejects]
            assert len(ctx.rejects) == 1 and ctx.rejects[0].field in ("day", "month", "year")
        else:
            assert ctx.rejects == []
            lo, hi = PLAUSIBLE_TAG_DATES
            at = tags.tagged_at[0]
            if lo <= datetime(expected.year, expected.month, expected.day) < hi:
                assert at == pd.Timestamp(expected)
            else:
                assert pd.isna(at)
        con.close()
