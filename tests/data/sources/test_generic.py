"""The generic CSV/Parquet format: happy path, every error kind, skip mode, round trip."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encore.data.ingest import ingest
from encore.data.sources import detect, get_loader
from encore.data.store import Store
from encore.errors import DataError

USERS = "user_id,registered_at,country,age,gender\nalice,2020-01-01,Germany,30,female\nbob,,US,,m\n"
TRACKS = (
    "track_id,title,artist,album,duration_ms,genre,language,release_year,artist_country\n"
    "t1,Creep,Radiohead,Pablo Honey,238000,alternative rock,en,1992,GB\n"
    "t2,Get Lucky,Daft Punk,Random Access Memories,369000,electronic,en,2013,FR\n"
    't3,"Song, with comma",Daft Punk,,,,,,\n'
)
EVENTS = (
    "user_id,track_id,ts,ms_played,skipped\n"
    "alice,t1,2024-01-01T10:00:00Z,200000,\n"
    "alice,t1,2024-01-01T10:05:00Z,10000,\n"
    "bob,t2,2024-01-01 11:00:00+01:00,5000,true\n"
    "bob,t3,2024-01-02,,no\n"
)
LIKES = (
    "user_id,entity_type,entity_id,liked_at\n"
    "alice,track,t1,2024-01-02T00:00:00Z\nalice,artist,Daft Punk,\nbob,album,Random Access Memories,\n"
)


def make(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


@pytest.fixture
def svc(tmp_path: Path) -> Path:
    return make(tmp_path / "svc", users=USERS, tracks=TRACKS, events=EVENTS, likes=LIKES)


def check_loaded(store: Store) -> None:
    plays = store.df("""SELECT e.user_id, x.external_id AS tid, e.ts, e.ms_played, e.skipped FROM events e
                        JOIN external_ids x ON x.internal_id = e.track_id AND x.entity = 'track'
                        ORDER BY e.ts, e.user_id""")
    assert list(plays["user_id"]) == ["alice", "bob", "alice", "bob"]  # ids as given, no namespace
    assert plays["ts"][1] == pd.Timestamp("2024-01-01 10:00:00")  # 11:00+01:00 -> UTC
    assert plays["ts"][3] == pd.Timestamp("2024-01-02 00:00:00")  # a bare date is midnight
    # alice: 200 s of 238 s is a listen, 10 s a skip (derived); bob's flags kept
    assert list(plays["skipped"]) == [False, True, True, False]
    t = store.df("""SELECT x.external_id AS tid, t.title, a.name AS artist, al.title AS album, t.duration_ms,
                           t.genre_raw, t.genre, t.language, t.release_year, a.country
                    FROM tracks t JOIN external_ids x ON x.internal_id = t.track_id AND x.entity = 'track'
                    LEFT JOIN artists a USING (artist_id) LEFT JOIN albums al USING (album_id) ORDER BY tid""")
    assert tuple(t.iloc[0]) == (
        "t1",
        "Creep",
        "Radiohead",
        "Pablo Honey",
        238_000,
        "alternative rock",
        "rock",
        "en",
        1992,
        "GB",
    )
    assert t["title"][2] == "Song, with comma" and pd.isna(t["duration_ms"][2])
    likes = store.df(
        "SELECT user_id, entity_type, entity_id, liked_at FROM likes ORDER BY user_id, entity_type"
    )
    assert list(likes["entity_type"]) == ["artist", "track", "album"]
    assert likes["entity_id"][0] == store.scalar(
        "SELECT artist_id FROM artists WHERE name = 'Daft Punk'"
    )
    assert likes["entity_id"][2] == store.scalar(
        "SELECT album_id FROM albums WHERE title = 'Random Access Memories'"
    )
    users = store.df(
        "SELECT user_id, registered_at, country, age, gender FROM users ORDER BY user_id"
    )
    assert tuple(users.iloc[0])[2:] == ("DE", 30, "f") and users["gender"][1] == "m"


def test_csv_folder(svc: Path, store: Store) -> None:
    assert [loader.name for loader in detect(svc)] == ["generic"]
    res = ingest(store, get_loader("generic"), svc)
    assert res.loaded["events"] == 4 and res.loaded["likes"] == 3 and res.rejected == {}
    check_loaded(store)


def test_parquet_folder(svc: Path, tmp_path: Path, store: Store) -> None:
    pq = tmp_path / "pq"
    pq.mkdir()
    for name in ("users", "tracks", "events", "likes"):
        frame = pd.read_csv(svc / f"{name}.csv", dtype=str, keep_default_na=False)
        if name == "events":  # typed columns, as a service would export them
            frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="mixed")
            frame["ms_played"] = pd.to_numeric(frame["ms_played"]).astype("Int64")
        frame.to_parquet(pq / f"{name}.parquet")
    ingest(store, get_loader("generic"), pq)
    check_loaded(store)


def test_events_file_alone(tmp_path: Path, store: Store) -> None:
    f = make(tmp_path / "x", events=EVENTS) / "events.csv"
    assert get_loader("generic").detect(f)
    res = ingest(store, get_loader("generic"), f)
    assert res.loaded["events"] == 4
    # without a tracks file the service's id is all we know of a track
    assert set(store.df("SELECT title FROM tracks")["title"]) == {"t1", "t2", "t3"}


def test_detect_needs_events_or_tracks(tmp_path: Path) -> None:
    assert not get_loader("generic").detect(make(tmp_path / "u", users=USERS))
    assert not get_loader("generic").detect(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("files", "line", "field", "message"),
    [
        ({"events": EVENTS.replace(",ts,", ",time,")}, 1, "ts", "missing column 'ts'"),
        (
            {"events": EVENTS.replace("ms_played", "msplayed")},
            1,
            "msplayed",
            "unknown column 'msplayed'",
        ),
        (
            {"events": EVENTS.replace(",skipped\n", ",skipped,extra\n", 1)},
            1,
            "extra",
            "unknown column 'extra'",
        ),
        (
            {"events": EVENTS.replace("2024-01-01T10:05:00Z", "yesterday")},
            3,
            "ts",
            "not an ISO 8601 timestamp",
        ),
        ({"events": EVENTS.replace("10000", "10s")}, 3, "ms_played", "not a whole number"),
        (
            {"events": EVENTS.replace("10000", "-5")},
            3,
            "ms_played",
            "not a whole number in [0, 86399999]",
        ),
        # one whole-number rule for every loader: sign and digits only
        ({"events": EVENTS.replace("10000", "10000.0")}, 3, "ms_played", "not a whole number"),
        ({"events": EVENTS.replace("10000", "1e4")}, 3, "ms_played", "not a whole number"),
        ({"events": EVENTS.replace("10000", "10_000")}, 3, "ms_played", "not a whole number"),
        # beyond BIGINT: a bad value, not a failed statement
        ({"events": EVENTS.replace("10000", "9" * 20)}, 3, "ms_played", "not a whole number"),
        ({"events": EVENTS.replace(",true", ",maybe")}, 4, "skipped", "not a boolean"),
        ({"events": EVENTS.replace("bob,t3", ",t3")}, 5, "user_id", "missing value"),
        (
            {"events": EVENTS, "tracks": TRACKS + "t1,Again,Someone,,,,,,\n"},
            5,
            "track_id",
            "duplicate track_id",
        ),
        (
            {"events": EVENTS.replace("bob,t3", "bob,t9"), "tracks": TRACKS},
            5,
            "track_id",
            "unknown track_id",
        ),
        (
            {"events": EVENTS + "carol,t1,2024-01-03,1,false,oops\n"},
            6,
            None,
            "malformed CSV record",
        ),
        (
            {"events": EVENTS, "users": USERS.replace(",30,", ",thirty,")},
            2,
            "age",
            "not a whole number",
        ),
        (
            {"events": EVENTS, "users": USERS.replace("female", "robot")},
            2,
            "gender",
            "unknown gender",
        ),
        (
            {"events": EVENTS, "likes": LIKES.replace("alice,artist", "alice,playlist")},
            3,
            "entity_type",
            "entity_type must be",
        ),
        (
            {"events": EVENTS, "tracks": TRACKS, "likes": LIKES.replace("Daft Punk", "Nobody")},
            3,
            "entity_id",
            "unknown entity_id",
        ),
    ],
)
def test_errors_name_file_line_field(
    tmp_path: Path, store: Store, files: dict[str, str], line: int, field: str | None, message: str
) -> None:
    folder = make(tmp_path / "bad", **files)
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("generic"), folder)
    e = err.value
    assert message in e.reason and e.line == line and (field is None or e.field == field)
    assert e.file is not None and e.file.endswith(".csv")
    if "column" in message and "missing value" not in message:
        assert "expected columns: " in e.reason
    assert store.scalar("SELECT count(*) FROM events") == 0  # nothing half-written


def test_whole_numbers_are_read_exactly(tmp_path: Path, store: Store) -> None:
    # sign, leading zeros and spaces are fine; the largest play under 24 h is kept exactly
    events = EVENTS.replace("200000", "86399999").replace("10000", " +007 ")
    ingest(store, get_loader("generic"), make(tmp_path / "big", events=events))
    got = store.df("SELECT ms_played FROM events WHERE ms_played IS NOT NULL")["ms_played"]
    assert sorted(got.tolist()) == [7, 5000, 86_399_999]


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("200000", str(2**53 + 1), "ms_played"),  # through DOUBLE it became 2**53: now refused
        ("200000", "86400000", "ms_played"),
        ("2024-01-01T10:05:00Z", "infinity", "ts"),
        ("2024-01-01T10:05:00Z", "1989-12-31T23:59:59Z", "ts"),
        ("2024-01-01T10:05:00Z", "2999-01-01", "ts"),
    ],
)
def test_values_outside_the_bounds_name_line_and_field(
    tmp_path: Path, store: Store, old: str, new: str, field: str
) -> None:
    before = store.counts()
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("generic"), make(tmp_path / "b", events=EVENTS.replace(old, new)))
    assert err.value.field == field and err.value.line is not None
    pd.testing.assert_frame_equal(before, store.counts())


def test_skip_mode_keeps_good_rows(tmp_path: Path, store: Store) -> None:
    events = (
        EVENTS.replace("2024-01-01T10:05:00Z", "yesterday").replace("bob,t3", "bob,t9")
        + "carol,t1,2024-01-03,1,false,oops\n"
    )
    folder = make(tmp_path / "bad", events=events, tracks=TRACKS + "t1,Again,Someone,,,,,,\n")
    res = ingest(store, get_loader("generic"), folder, on_error="skip")
    assert res.loaded["events"] == 2 and res.rejected == {"events": 3, "tracks": 1}
    rej = store.df("SELECT tbl, line, field, reason FROM rejects ORDER BY tbl, line")
    fields = [None if pd.isna(f) else f for f in rej["field"]]
    assert list(zip(rej["tbl"], rej["line"], fields, strict=True)) == [
        ("events", 3, "ts"),
        ("events", 5, "track_id"),
        ("events", 6, None),
        ("tracks", 5, "track_id"),
    ]
    # the first t1 is kept, the duplicate dropped
    assert store.scalar("SELECT count(*) FROM tracks WHERE title = 'Again'") == 0


def test_empty_and_ambiguous_files(tmp_path: Path, store: Store) -> None:
    folder = make(tmp_path / "e", events="")
    with pytest.raises(DataError, match="empty file"):
        ingest(store, get_loader("generic"), folder)
    folder = make(tmp_path / "a", events=EVENTS)
    pd.read_csv(folder / "events.csv").to_parquet(folder / "events.parquet")
    with pytest.raises(DataError, match="keep one"):
        ingest(store, get_loader("generic"), folder)


# ------------------------------------------------------------------ round trip
_text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=15)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def services(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = draw(st.integers(1, 8))
    artists = ["Radiohead", "Björk", "AC/DC", "Sigur Rós", None]
    tracks = pd.DataFrame(
        {
            "track_id": [f"{draw(_text)}#{i}" for i in range(n)],
            # the index keeps titles distinct per artist: the catalogue merges same artist + title
            "title": [f"{i} {draw(_text)}" for i in range(n)],
            "artist": [draw(st.sampled_from(artists)) for _ in range(n)],
            "duration_ms": [draw(st.one_of(st.none(), st.integers(0, 10**7))) for _ in range(n)],
            "release_year": [draw(st.one_of(st.none(), st.integers(1900, 2030))) for _ in range(n)],
            "genre": [draw(st.one_of(st.none(), _text)) for _ in range(n)],
        }
    )
    m = draw(st.integers(0, 20))
    events = pd.DataFrame(
        {
            "user_id": [draw(st.sampled_from(["u1", "user 2", "ü", "42"])) for _ in range(m)],
            "track_id": [tracks["track_id"][draw(st.integers(0, n - 1))] for _ in range(m)],
            "ts": [
                draw(st.datetimes(datetime(2000, 1, 1), datetime(2025, 12, 31))).replace(
                    microsecond=0
                )
                for _ in range(m)
            ],
            "ms_played": [draw(st.one_of(st.none(), st.integers(0, 10**7))) for _ in range(m)],
            "skipped": [draw(st.booleans()) for _ in range(m)],
        }
    )
    return tracks, events


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(services())
def test_round_trip(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    tracks, events = data
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "svc"
        folder.mkdir()
        tracks.astype({"duration_ms": "Int64", "release_year": "Int64"}).to_csv(
            folder / "tracks.csv", index=False
        )
        out = events.copy()
        out["ts"] = (
            out["ts"].map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")) if len(out) else out["ts"]
        )
        out.astype({"ms_played": "Int64"}).to_csv(folder / "events.csv", index=False)
        with Store(Path(tmp) / "s.duckdb") as store:
            ingest(store, get_loader("generic"), folder)
            got_t = store.df("""
                SELECT x.external_id AS track_id, t.title, a.name AS artist, t.duration_ms, t.release_year,
                       t.genre_raw AS genre
                FROM tracks t JOIN external_ids x ON x.internal_id = t.track_id AND x.entity = 'track'
                LEFT JOIN artists a USING (artist_id) ORDER BY track_id""")
            got_e = store.df("""
                SELECT e.user_id, x.external_id AS track_id, e.ts, e.ms_played, e.skipped FROM events e
                JOIN external_ids x ON x.internal_id = e.track_id AND x.entity = 'track'""")
    want_t = tracks.sort_values("track_id").reset_index(drop=True)
    assert list(got_t["track_id"]) == list(want_t["track_id"])
    for col in want_t.columns:
        for g, w in zip(got_t[col], want_t[col], strict=True):
            assert (pd.isna(g) and pd.isna(w)) or g == w, (col, g, w)
    key = ["user_id", "track_id", "ts", "skipped"]
    norm = lambda f: sorted(  # noqa: E731
        (
            r.user_id,
            r.track_id,
            pd.Timestamp(r.ts),
            -1 if pd.isna(r.ms_played) else int(r.ms_played),
            bool(r.skipped),
        )
        for r in f[[*key, "ms_played"]].itertuples()
    )
    assert norm(got_e) == norm(events)
