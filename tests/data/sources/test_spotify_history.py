"""spotify_basic and spotify_extended on the real listening histories, bad input, round trip."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encore.data import sources
from encore.data.ingest import IngestContext, ingest
from encore.data.sources.spotify_history import SKIP_REASONS, SpotifyBasic, SpotifyExtended
from encore.data.store import Store
from encore.errors import DataError

#: "plays parsed" per user in listening-histories/README.md.
README_PLAYS = {
    "user_01": 6_929,
    "user_02": 31_763,
    "user_03": 3_013,
    "user_09": 8_611,
    "user_10": 17_876,
    "user_11": 7_827,
    "user_12": 24_269,
    "user_13": 17_137,
    "user_14": 24_893,
    "user_15": 15_009,
    "user_16": 24_618,
    "user_17": 13_181,
    "user_18": 18_083,
    "user_19": 32_106,
    "user_20": 34_427,
}
EXTENDED = ("user_01", "user_02", "user_03")
BASIC = tuple(u for u in README_PLAYS if u not in EXTENDED)


def _placeholders(folder: Path) -> int:
    """Basic-history rows by 'Unknown Artist' titled 'Unknown Track', counted from the raw files."""
    n = 0
    for f in folder.glob("StreamingHistory*.json"):
        n += sum(
            (r["artistName"], r["trackName"]) == ("Unknown Artist", "Unknown Track")
            for r in json.loads(f.read_text())
        )
    return n


@pytest.fixture(scope="module")
def lh(shared_data: Path) -> Path:
    return shared_data / "listening-histories"


@pytest.fixture(scope="module")
def spotify_store(lh: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """All 15 Spotify histories ingested once (read by several tests)."""
    store = Store(tmp_path_factory.mktemp("spotify") / "s.duckdb")
    for u in EXTENDED:
        ingest(store, SpotifyExtended(), lh / u)
    for u in BASIC:
        ingest(store, SpotifyBasic(), lh / u)
    yield store
    store.close()


@pytest.mark.parametrize("user", list(README_PLAYS))
def test_play_counts_match_readme(spotify_store: Store, lh: Path, user: str) -> None:
    got = spotify_store.scalar("SELECT count(*) FROM plays WHERE user_id = ?", [f"lh:{user}"])
    # Documented rule: Spotify's 'Unknown Artist - Unknown Track' placeholder names no track
    # and is skipped (the README's simple parser counted it); nothing else differs.
    expected = README_PLAYS[user] - (_placeholders(lh / user) if user in BASIC else 0)
    assert got == expected
    if user in ("user_09", "user_10", "user_16", "user_20"):
        assert got < README_PLAYS[user]


def test_total_and_spans(spotify_store: Store) -> None:
    assert spotify_store.scalar("SELECT count(*) FROM events") == sum(README_PLAYS.values()) - 58
    span = spotify_store.execute(
        "SELECT min(ts)::DATE, max(ts)::DATE FROM events WHERE user_id = 'lh:user_02'"
    ).fetchone()
    assert span is not None and (str(span[0]), str(span[1])) == ("2023-07-03", "2026-06-02")
    # every play has an artist and a track
    assert (
        spotify_store.scalar(
            "SELECT count(*) FROM plays WHERE track_id IS NULL OR artist_id IS NULL"
        )
        == 0
    )


def test_extended_row_and_flags(spotify_store: Store, lh: Path) -> None:
    row = spotify_store.execute(
        """
        SELECT t.title, a.name, al.title, t.uri, e.ms_played, e.skipped
        FROM events e JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = e.artist_id
        LEFT JOIN albums al ON al.album_id = t.album_id
        WHERE e.user_id = 'lh:user_01' AND e.ts = TIMESTAMP '2022-11-12 13:59:51'
        """
    ).fetchall()
    assert row == [
        (
            "Fight Song",
            "Rachel Platten",
            "Wildfire",
            "spotify:track:37f4ITSlgPX81ad2EvmVQr",
            66871,
            True,
        )
    ]
    raw = json.loads((lh / "user_03" / "Streaming_History_Audio_2024_4.json").read_text())
    music = [r for r in raw if r["master_metadata_track_name"]]
    flagged = sum(r["skipped"] for r in music)
    got = spotify_store.scalar(
        "SELECT count(*) FILTER (skipped) FROM events WHERE user_id = 'lh:user_03'"
    )
    assert got == flagged == 865
    # the fallback for a null flag (older exports) agrees with the flag wherever both exist
    for u in EXTENDED:
        for f in (lh / u).glob("*.json"):
            rows = [r for r in json.loads(f.read_text()) if r["master_metadata_track_name"]]
            assert all(r["skipped"] == (r["reason_end"] in SKIP_REASONS) for r in rows), f


def test_basic_rows_and_derived_skips(spotify_store: Store) -> None:
    rows = spotify_store.execute(
        """
        SELECT e.ts, a.name, t.title, e.ms_played, e.skipped FROM events e
        JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = e.artist_id
        WHERE e.user_id = 'lh:user_09' ORDER BY e.ts LIMIT 2
        """
    ).fetchall()
    assert rows == [
        (datetime(2024, 4, 16, 18, 57), "Rigoberta Bandini", "Too Many Drugs", 272360, False),
        (datetime(2024, 4, 17, 9, 32), "Rigoberta Bandini", "Too Many Drugs", 966, True),
    ]


def test_non_music_rows_are_counted_in_the_log(
    tmp_path: Path, lh: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = json.loads((lh / "user_03" / "Streaming_History_Audio_2024_4.json").read_text())
    episodes = sum(
        1 for r in raw if not r["master_metadata_track_name"] and r["spotify_episode_uri"]
    )
    with Store(tmp_path / "s.duckdb") as store, caplog.at_level(logging.INFO, logger="encore"):
        res = ingest(store, SpotifyExtended(), lh / "user_03")
    assert res.rejected == {}
    assert f"skipped {episodes} non-music rows (podcast episodes {episodes})" in caplog.text
    assert episodes == 315


def test_detect_and_user_ids(lh: Path, tmp_path: Path) -> None:
    names = lambda p: {x.name for x in sources.detect(p)}  # noqa: E731
    assert {"spotify_extended"} <= names(lh / "user_01")
    assert "spotify_basic" not in names(lh / "user_01")
    assert {"spotify_basic", "spotify_library"} <= names(lh / "user_13")
    assert not {"spotify_basic", "spotify_extended"} & names(lh)
    assert SpotifyBasic.detect(lh / "user_09" / "StreamingHistory_music_0.json")
    assert not SpotifyBasic.detect(lh / "user_01" / "Streaming_History_Audio_2022.json")
    assert SpotifyExtended.detect(lh / "user_02" / "Streaming_History_Audio_2024.csv")
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, SpotifyBasic(), lh / "user_11" / "StreamingHistory0.json")
        ingest(store, SpotifyBasic(), lh / "user_09", user="me")
        users = dict(store.execute("SELECT user_id, count(*) FROM events GROUP BY 1").fetchall())
    assert users == {"lh:user_11": 7827, "me": 8585}


def test_export_one_level_down(tmp_path: Path, lh: Path) -> None:
    """`encore ingest spotify_basic ~/Downloads/my_spotify_data` with the files in MyData/."""
    inner = tmp_path / "my_spotify_data" / "MyData"
    inner.mkdir(parents=True)
    (inner / "StreamingHistory0.json").write_bytes(
        (lh / "user_11" / "StreamingHistory0.json").read_bytes()
    )
    with Store(tmp_path / "s.duckdb") as store:
        res = ingest(store, SpotifyBasic(), tmp_path / "my_spotify_data")
        assert res.loaded["events"] == 7827
        assert store.scalar("SELECT DISTINCT user_id FROM events") == "lh:my_spotify_data"


def test_csv_copy_of_a_json_file_is_not_read_twice(tmp_path: Path, lh: Path) -> None:
    src = lh / "user_03" / "Streaming_History_Audio_2024_4.json"
    records = json.loads(src.read_text())
    both, only_csv = tmp_path / "both", tmp_path / "only_csv"
    for folder in (both, only_csv):
        folder.mkdir()
        with (folder / "Streaming_History_Audio_2024_4.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(records[0]))
            w.writeheader()
            w.writerows(records)
    (both / src.name).write_bytes(src.read_bytes())
    with Store(tmp_path / "s.duckdb") as store:
        n_both = ingest(store, SpotifyExtended(), both).loaded["events"]
        n_csv = ingest(store, SpotifyExtended(), only_csv).loaded["events"]
        stats = store.df(
            "SELECT user_id, count(*) n, count(*) FILTER (skipped) s, sum(ms_played) ms FROM events "
            "GROUP BY 1 ORDER BY 1"
        )
    assert n_both == n_csv == 3013
    assert stats["user_id"].tolist() == ["lh:both", "lh:only_csv"]
    assert stats["s"].tolist() == [865, 865]
    assert stats["ms"].nunique() == 1


# ---------------------------------------------------------------------------- bad input
def _basic(
    tmp_path: Path, records: list[dict[str, object]], name: str = "StreamingHistory0.json"
) -> Path:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(records, indent=2, ensure_ascii=False))
    return folder


GOOD = [
    {
        "endTime": "2021-01-01 10:00",
        "artistName": "Radiohead",
        "trackName": "Creep",
        "msPlayed": 200000,
    },
    {"endTime": "2021-01-01 10:04", "artistName": "Björk", "trackName": "Jóga", "msPlayed": 305000},
    {
        "endTime": "2021-01-01 10:09",
        "artistName": "Daft Punk",
        "trackName": "One More Time",
        "msPlayed": 5000,
    },
]


def _line_of_record(path: Path, k: int) -> int:
    """1-based line where the k-th top-level record of an indent=2 JSON array starts."""
    lines = path.read_text().splitlines()
    starts = [i + 1 for i, s in enumerate(lines) if s == "  {"]
    return starts[k]


def test_truncated_json_names_line_and_column(tmp_path: Path, lh: Path, store: Store) -> None:
    text = (lh / "user_11" / "StreamingHistory0.json").read_text()
    cut = text[: len(text) // 2]
    f = tmp_path / "StreamingHistory0.json"
    f.write_text(cut)
    before = store.counts()
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyBasic(), f)
    e = err.value
    assert e.file == str(f) and e.line is not None
    assert e.line in (cut.count("\n"), cut.count("\n") + 1)
    assert "column" in str(e) and "truncated" in str(e)
    pd.testing.assert_frame_equal(before, store.counts())


@pytest.mark.parametrize(
    "text", ["", "   \n", '[\n  {"endTime": "2021-01-01 10:00",', "[1, 2,]", "{}"]
)
def test_empty_or_broken_file(tmp_path: Path, store: Store, text: str) -> None:
    f = tmp_path / "StreamingHistory0.json"
    f.write_text(text)
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyBasic(), f)
    assert err.value.file == str(f) and err.value.line is not None


@pytest.mark.parametrize(
    ("k", "change", "field", "reason"),
    [
        (1, {"endTime": "2021-13-45 10:00"}, "endTime", "bad date"),
        (2, {"endTime": "01/01/2021"}, "endTime", "bad date"),
        (1, {"msPlayed": -5}, "msPlayed", "non-negative"),
        (2, {"msPlayed": "12s"}, "msPlayed", "non-negative"),
        (1, {"trackName": " "}, "trackName", "empty"),
        (2, {"artistName": None}, "artistName", "null"),
        (1, {"endTime": None}, "endTime", "empty"),
    ],
)
def test_bad_row_strict_and_skip(
    tmp_path: Path, store: Store, k: int, change: dict[str, object], field: str, reason: str
) -> None:
    recs = [dict(r) for r in GOOD]
    recs[k].update(change)
    folder = _basic(tmp_path, recs)
    f = folder / "StreamingHistory0.json"
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyBasic(), folder)
    e = err.value
    assert (e.file, e.line, e.field) == (str(f), _line_of_record(f, k), field)
    assert reason in e.reason
    res = ingest(store, SpotifyBasic(), folder, on_error="skip")
    assert res.loaded["events"] == 2 and res.rejected == {"events": 1}
    rej = store.execute("SELECT file, line, field, raw FROM rejects").fetchall()
    assert rej[0][:3] == (str(f), _line_of_record(f, k), field)
    assert json.loads(rej[0][3]) == recs[k]


def test_missing_key_and_wrong_type(tmp_path: Path, store: Store) -> None:
    recs: list[object] = [dict(r) for r in GOOD]
    del recs[2]["msPlayed"]  # type: ignore[attr-defined]
    folder = _basic(tmp_path, recs)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="missing field 'msPlayed'") as err:
        ingest(store, SpotifyBasic(), folder)
    assert err.value.field == "msPlayed"
    (folder / "StreamingHistory0.json").write_text(json.dumps([GOOD[0], "oops", GOOD[1]]))
    with pytest.raises(DataError, match="expected a JSON object") as err:
        ingest(store, SpotifyBasic(), folder)
    assert err.value.line == 1


def test_extended_bad_rows(tmp_path: Path, store: Store) -> None:
    rec = {
        "ts": "2024-01-01T10:00:00Z",
        "ms_played": 1000,
        "master_metadata_track_name": "A",
        "master_metadata_album_artist_name": "B",
        "master_metadata_album_album_name": "C",
        "spotify_track_uri": "spotify:track:x",
        "skipped": None,
        "reason_end": "fwdbtn",
    }
    f = tmp_path / "endsong_0.json"
    rows = [
        rec,
        {**rec, "ts": "yesterday"},
        {**rec, "reason_end": "trackdone"},
        {
            **rec,
            "master_metadata_track_name": None,
            "episode_name": "E",
            "spotify_episode_uri": "spotify:episode:e",
        },
    ]
    f.write_text(json.dumps(rows, indent=2))
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyExtended(), f)
    assert (err.value.field, err.value.line) == ("ts", _line_of_record(f, 1))
    res = ingest(store, SpotifyExtended(), f, on_error="skip")
    assert res.loaded["events"] == 2 and res.rejected == {"events": 1}
    # null 'skipped' -> reason_end decides: fwdbtn skipped, trackdone not
    assert [
        r[0] for r in store.execute("SELECT skipped FROM events ORDER BY skipped DESC").fetchall()
    ] == [True, False]
    del rec["master_metadata_album_artist_name"]
    f.write_text(json.dumps([rec]))
    with pytest.raises(DataError, match="missing field") as err:
        ingest(store, SpotifyExtended(), f)
    assert err.value.field == "master_metadata_album_artist_name"


def test_extended_csv_missing_column(tmp_path: Path, store: Store) -> None:
    f = tmp_path / "Streaming_History_Audio_2024.csv"
    f.write_text("ts,ms_played,master_metadata_track_name\n2024-01-01T10:00:00Z,1000,A\n")
    with pytest.raises(DataError) as err:
        ingest(store, SpotifyExtended(), f)
    assert (err.value.line, err.value.field) == (1, "master_metadata_album_artist_name")


def test_no_history_in_folder(tmp_path: Path, store: Store) -> None:
    with pytest.raises(DataError, match="no StreamingHistory"):
        ingest(store, SpotifyBasic(), tmp_path)


# ---------------------------------------------------------------------------- round trip
_name = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: s.strip() != ""
)
_record = st.fixed_dictionaries(
    {
        "endTime": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2025, 12, 31)
        ).map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
        "artistName": _name,
        "trackName": _name,
        "msPlayed": st.integers(min_value=0, max_value=86_399_999),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(_record, min_size=1, max_size=40))
def test_round_trip_loader(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]]
) -> None:
    records = [
        r
        for r in records
        if (r["artistName"], r["trackName"]) != ("Unknown Artist", "Unknown Track")
    ]
    folder = tmp_path_factory.mktemp("rt")
    f = folder / "StreamingHistory0.json"
    f.write_text(json.dumps(records, indent=2, ensure_ascii=False))
    staged = SpotifyBasic().load(folder, IngestContext(con=duckdb.connect(), user="u"))
    ev = staged.frames["events"]
    assert isinstance(ev, pd.DataFrame)
    assert ev["ts"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [r["endTime"] for r in records]
    assert ev["artist"].tolist() == [r["artistName"] for r in records]
    assert ev["track"].tolist() == [r["trackName"] for r in records]
    assert ev["ms_played"].tolist() == [r["msPlayed"] for r in records]
    assert set(ev["user_id"]) <= {"u"}


_POOL = [
    f"{w} {i}"
    for i, w in enumerate(["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf"])
]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {
                "endTime": _record.map(lambda r: r["endTime"]),
                "artistName": st.sampled_from(_POOL),
                "trackName": st.sampled_from(_POOL),
                "msPlayed": st.integers(min_value=0, max_value=10**7),
            }
        ),
        min_size=1,
        max_size=30,
    )
)
def test_round_trip_store(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]]
) -> None:
    folder = tmp_path_factory.mktemp("rts")
    _basic(folder, records)
    with Store(folder / "s.duckdb") as store:
        ingest(store, SpotifyBasic(), folder / "export")
        got = store.df(
            """
            SELECT strftime(p.ts, '%Y-%m-%d %H:%M') AS "endTime", a.name AS "artistName",
                   t.title AS "trackName", p.ms_played AS "msPlayed", p.user_id
            FROM plays p JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = p.artist_id
            """
        )
    assert set(got["user_id"]) == {"lh:export"}
    key = ["endTime", "artistName", "trackName", "msPlayed"]
    want = pd.DataFrame(records)[key].sort_values(key).reset_index(drop=True)
    have = got[key].astype({"msPlayed": "int64"}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(have, want, check_dtype=False)
