"""Track titles that normalise to nothing ("???", "♥", "(Radio Edit)"): the same track
from a second export, another path or another source (a Parquet lake of the store) is the
track already in the catalogue, so its plays are not counted twice.

Found by the product check: `encore export events` then `encore ingest parquet` of that
lake into the same store added 39 plays of the shared listeners' store a second time.
"""

from __future__ import annotations

from pathlib import Path

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

HEADER = "artist,album,track,uts\n"
ROWS = [
    "Band X,First,???,1600000000",
    "Band X,First,(Radio Edit),1600000300",
    "Band Y,,\u2665,1600000600",
    "Band Y,Second,Normal Song,1600000900",
]


def _write(folder: Path, rows: list[str]) -> Path:
    folder.mkdir()
    path = folder / "scrobbles.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _counts(store: Store) -> tuple[int, int, int]:
    plays = store.scalar("SELECT count(*) FROM events")
    tracks = store.scalar("SELECT count(*) FROM tracks")
    unnamed = store.scalar("SELECT count(*) FROM events WHERE track_id IS NULL")
    return int(plays), int(tracks), int(unnamed)


def test_each_empty_titled_track_is_its_own_track(tmp_path: Path) -> None:
    """Two titles of one artist that both normalise to nothing are two tracks, each named."""
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, get_loader("lastfm_csv"), _write(tmp_path / "a", ROWS), user="me")
        assert _counts(store) == (4, 4, 0)
        titles = store.con.execute(
            "SELECT t.title FROM events e JOIN tracks t USING (track_id) ORDER BY e.ts"
        ).fetchall()
    assert [t[0] for t in titles] == ["???", "(Radio Edit)", "\u2665", "Normal Song"]


def test_second_export_with_empty_titles_adds_no_play_twice(tmp_path: Path) -> None:
    """An edited copy at another path (one play more) adds that play only, and no track."""
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, get_loader("lastfm_csv"), _write(tmp_path / "a", ROWS), user="me")
        more = [*ROWS, "Band Z,Third,Another,1600001200"]
        result = ingest(store, get_loader("lastfm_csv"), _write(tmp_path / "b", more), user="me")
        assert result.duplicates.get("events") == 4
        assert _counts(store) == (5, 5, 0)


def test_lake_of_the_store_read_back_adds_nothing(tmp_path: Path) -> None:
    """`encore export events` then `encore ingest parquet` of that lake: no play added."""
    from encore.lake.export import export_lake

    lake = tmp_path / "lake"
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, get_loader("lastfm_csv"), _write(tmp_path / "a", ROWS), user="me")
        before = _counts(store)
        export_lake(store, lake)
        result = ingest(store, get_loader("parquet"), lake)
        assert result.loaded.get("events", 0) == 0
        assert result.duplicates.get("events") == 4
        assert _counts(store) == before
