"""lastfm_csv on the five real exporter layouts, the documented quirks, and bad input."""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from encore.data import sources
from encore.data.ingest import ingest
from encore.data.sources.lastfm_csv import LastfmCsv, sniff
from encore.data.store import Store
from encore.errors import ConfigError, DataError

#: "plays parsed" per user in listening-histories/README.md, and the file of each.
README_PLAYS = {
    "user_04": 17_503,
    "user_05": 60_647,
    "user_06": 11_622,
    "user_07": 8_189,
    "user_08": 6_026,
}
FILES = {
    "user_04": "lastfm_scrobbles.csv",
    "user_05": "lastfm_scrobbles.csv",
    "user_06": "scrobbles.csv",
    "user_07": "scrobbles.csv",
    "user_08": "scrobbles.csv",
}
TIME_COLUMN = {
    "user_04": "timestamp",
    "user_05": "date",
    "user_06": "uts",
    "user_07": "played_at",
    "user_08": "uts",
}


@pytest.fixture(scope="module")
def lh(shared_data: Path) -> Path:
    return shared_data / "listening-histories"


@pytest.fixture(scope="module")
def lastfm_store(lh: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("lastfm") / "s.duckdb")
    for u in README_PLAYS:
        ingest(store, LastfmCsv(), lh / u)
    yield store
    store.close()


def _raw_plays(path: Path, user: str) -> list[tuple[str, str, float]]:
    """(artist, track, Unix seconds) of every dated row, parsed independently of the loader."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if user == "user_05":  # no header: artist, album, track, date
        return [
            (
                r[0].strip(),
                r[2].strip(),
                datetime.strptime(r[3], "%d %b %Y %H:%M").replace(tzinfo=UTC).timestamp(),
            )
            for r in rows
            if r[3]
        ]
    head, body = rows[0], rows[1:]
    a, t = head.index("artist"), head.index("track")
    if user == "user_07":
        p = head.index("played_at")
        return [
            (
                r[a].strip(),
                r[t].strip(),
                datetime.strptime(r[p], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp(),
            )
            for r in body
        ]
    u = head.index("timestamp" if user == "user_04" else "uts")
    return [(r[a].strip(), r[t].strip(), float(r[u])) for r in body]


def _duplicates(plays: list[tuple[str, str, float]]) -> int:
    """Scrobbles of the same artist and track less than 30 s after the previous one."""
    s = sorted(plays)
    return sum(1 for x, y in itertools.pairwise(s) if x[:2] == y[:2] and y[2] - x[2] < 30)


@pytest.mark.parametrize("user", list(README_PLAYS))
def test_play_counts_match_readme(lastfm_store: Store, lh: Path, user: str) -> None:
    got = lastfm_store.scalar("SELECT count(*) FROM plays WHERE user_id = ?", [f"lh:{user}"])
    plays = _raw_plays(lh / user / FILES[user], user)
    assert len(plays) == README_PLAYS[user]  # the README's parse: rows with a date and a track
    # documented rules: scrobbles at Unix time 0 (unknown date, user_04 only) are dropped, and a
    # scrobble of the same track < 30 s after the previous one is a duplicate
    dated = [p for p in plays if p[2] != 0]
    assert len(plays) - len(dated) == (643 if user == "user_04" else 0)
    assert got == len(dated) - _duplicates(dated)
    assert (
        got
        == {
            "user_04": 15_665,
            "user_05": 58_264,
            "user_06": 11_622,
            "user_07": 8_174,
            "user_08": 5_992,
        }[user]
    )


def test_layouts_are_recognised(lh: Path) -> None:
    for user, name in FILES.items():
        lay = sniff(lh / user / name)
        assert lay is not None and lay.time_name == TIME_COLUMN[user]
    assert not sniff(lh / "user_02" / "Streaming_History_Audio_2024.csv")


def test_detect(lh: Path, shared_data: Path) -> None:
    assert all(LastfmCsv.detect(lh / u) for u in README_PLAYS)
    assert not LastfmCsv.detect(lh / "user_02")  # extended-history CSV copies
    assert not LastfmCsv.detect(lh)
    for other in (
        "genre-audio",
        "spotify-moods",
        "tcc-ceds-music-sample",
        "msd-subset-songs",
        "lyrics-billboard-hot100-sample",
        "spotify-artist-genres",
    ):
        assert not LastfmCsv.detect(shared_data / other), other
    assert "lastfm_csv" in {x.name for x in sources.detect(lh / "user_07")}


def test_rows_quirks_and_tags(lastfm_store: Store) -> None:
    def first(user: str) -> tuple[object, ...]:
        row = lastfm_store.execute(
            """
            SELECT e.ts, a.name, a.mbid, t.title, t.mbid, e.ms_played, e.skipped FROM events e
            JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = e.artist_id
            WHERE e.user_id = ? ORDER BY e.ts DESC LIMIT 1
            """,
            [f"lh:{user}"],
        ).fetchone()
        assert row is not None
        return tuple(row)

    assert first("user_06") == (
        datetime(2024, 7, 11, 9, 7, 32),
        "The Cure",
        "69ee3720-a7cb-4402-b48d-a02c366f2bcf",
        "Primary",
        "58900088-3e21-41d5-a2f6-44f3c34e056b",
        None,
        False,
    )
    assert first("user_05")[:4] == (datetime(2020, 11, 20, 9, 35), "Biome", None, "Let Me")
    # Unix seconds of the export's newest row
    assert first("user_08")[:4] == (
        datetime.fromtimestamp(1771758438, UTC).replace(tzinfo=None),
        "Roy Harper",
        None,
        "Hors D'Oeuvres",
    )
    # no Unix-0 or undated rows left
    assert lastfm_store.scalar(
        "SELECT min(ts) FROM events WHERE user_id = 'lh:user_04'"
    ) == datetime(2007, 9, 10, 18, 22, 16)
    # owner genre labels: kept as 'user_genre' track tags, weights = scrobbles, not mapped to genres
    tags = lastfm_store.df("SELECT kind, count(*) n, sum(weight) w FROM track_tags GROUP BY kind")
    assert tags["kind"].tolist() == ["user_genre"]
    # every kept play but the 253 rows with an empty label (none of which is a duplicate)
    assert (
        int(tags["w"].iloc[0])
        == lastfm_store.scalar("SELECT count(*) FROM events WHERE user_id = 'lh:user_07'") - 253
        == 7921
    )
    assert lastfm_store.scalar("SELECT count(*) FROM genre_map WHERE tag = 'govno'") == 0


def test_dropped_rows_are_logged(
    tmp_path: Path, lh: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(tmp_path / "s.duckdb") as store, caplog.at_level(logging.INFO, logger="encore"):
        res = ingest(store, LastfmCsv(), lh / "user_05")
    assert res.rejected == {}
    assert "now playing (no date) 303" in caplog.text
    assert "duplicate scrobbles (< 30 s after the same track) 2,383" in caplog.text


# ---------------------------------------------------------------------------- bad input
HEAD = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
ROW = '"1720688852","11 Jul 2024, 09:07","The Cure","","Faith","","Primary",""\n'


def _write(tmp_path: Path, text: str, name: str = "scrobbles.csv") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (HEAD + ROW + ROW.replace("1720688852", "17206x8852"), 3, "uts", "bad date"),
        (HEAD + ROW + ROW.replace('"The Cure"', '""'), 3, "artist", "empty"),
        (HEAD + ROW + ROW + '"1","x","y"\n', 4, None, "expected 8 fields"),
        ("artist,album,track,uts\nA,B,C,1700000000\nA,B,,1700000001\n", 3, "track", "empty"),
        (
            "Biome,Kora,Let Me,20 Nov 2020 09:35\nBiome,Kora,Kitemare,31 Feb 2020 09:28\n",
            2,
            "date",
            "bad date",
        ),
        (
            "artist,track,album,played_at\nA,B,C,2025-08-16 11:45:00\nA,B,C,2025-08-16 25:45:00\n",
            3,
            "played_at",
            "bad date",
        ),
    ],
)
def test_bad_rows(
    tmp_path: Path, store: Store, text: str, line: int, field: str | None, reason: str
) -> None:
    f = _write(tmp_path, text)
    before = store.counts()
    with pytest.raises(DataError) as err:
        ingest(store, LastfmCsv(), f)
    e = err.value
    assert (e.file, e.line, e.field) == (str(f), line, field)
    assert reason in e.reason
    pd.testing.assert_frame_equal(before, store.counts())
    res = ingest(store, LastfmCsv(), f, on_error="skip")
    assert res.rejected == {"events": 1}
    assert store.scalar("SELECT line FROM rejects") == line


@pytest.mark.parametrize("text", ["", "artist,album,uts\nA,B,1700000000\n", "a;b;c\n"])
def test_unrecognised_or_empty_file(tmp_path: Path, store: Store, text: str) -> None:
    f = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        ingest(store, LastfmCsv(), f)
    assert err.value.file == str(f) and err.value.line == 1


def test_quoted_newlines_keep_line_numbers(tmp_path: Path, store: Store) -> None:
    text = 'artist,album,track,uts\nA,"two\nlines",C,1700000000\nA,B,C,oops\n'
    f = _write(tmp_path, text)
    with pytest.raises(DataError) as err:
        ingest(store, LastfmCsv(), f)
    assert (err.value.line, err.value.field) == (4, "uts")


def test_several_exports_below_a_folder_are_refused(lh: Path, store: Store) -> None:
    with pytest.raises(ConfigError, match="5 folders"):
        ingest(store, LastfmCsv(), lh)
