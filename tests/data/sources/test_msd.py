"""Million Song Subset loader: README counts, spot checks, bad rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from encore.data.ingest import IngestContext, _to_pandas, ingest
from encore.data.sources import detect, get_loader
from encore.data.store import Store
from encore.errors import DataError


@pytest.fixture(scope="module")
def msd(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("msd") / "m.duckdb")
    ingest(store, get_loader("msd"), shared_data / "msd-subset-songs")
    yield store
    store.close()


def test_staged_counts_match_readme(shared_data: Path, store: Store) -> None:
    staged = get_loader("msd").load(shared_data / "msd-subset-songs", IngestContext(con=store.con))
    tracks = _to_pandas(staged.frames["tracks"])
    assert len(tracks) == 10_000 and tracks["track_ext"].is_unique
    assert tracks["release_year"].notna().sum() == 4_680
    assert tracks["release_year"].min() == 1926 and tracks["release_year"].max() == 2010
    assert (
        round(tracks["duration_ms"].min() / 1000, 1) == 1.0
        and round(tracks["duration_ms"].max() / 1000, 1) == 1819.8
    )
    feats = _to_pandas(staged.frames["track_features"])
    assert "danceability" not in set(feats["feature"])  # always 0 in MSD: skipped
    assert (feats["feature"] == "tempo").sum() == 10_000


def test_store_contents(msd: Store) -> None:
    assert (
        msd.scalar("SELECT count(*) FROM external_ids WHERE source = 'msd' AND entity = 'track'")
        == 10_000
    )
    # same artist + normalised title -> one catalogue track
    assert 9_800 < msd.scalar("SELECT count(*) FROM tracks") <= 10_000
    row = msd.df("""SELECT t.title, a.name, al.title AS album, t.duration_ms, t.release_year, a.country
                    FROM external_ids x JOIN tracks t ON t.track_id = x.internal_id
                    JOIN artists a USING (artist_id) LEFT JOIN albums al USING (album_id)
                    WHERE x.external_id = 'SOGSMXL12A81C23D88'""").iloc[0]
    # the catalogue merges "Raphaël" with an unaccented spelling; either may be the display name
    assert row["title"] == "Je Sais Que La Terre Est Plate" and row["name"] in (
        "Raphaël",
        "Raphael",
    )
    assert row["album"] == "Je Sais Que La Terre Est Plate (Deluxe)"
    assert row["duration_ms"] == 148_741 and row["release_year"] == 2008 and row["country"] == "FR"
    tempo = msd.scalar("""SELECT value FROM track_features f JOIN external_ids x ON x.internal_id = f.track_id
                          WHERE x.external_id = 'SOGSMXL12A81C23D88' AND f.feature = 'tempo'""")
    assert tempo == pytest.approx(124.059)
    # "Sikeston MO" is a US state code, not Macao
    assert msd.scalar("SELECT country FROM artists WHERE name = 'Brand X'") == "US"
    assert msd.scalar("SELECT count(*) FROM artist_features WHERE feature = 'latitude'") > 1_000


def test_detect(shared_data: Path) -> None:
    assert "msd" in [loader.name for loader in detect(shared_data / "msd-subset-songs")]
    assert not get_loader("msd").detect(shared_data / "spotify-moods")


def test_bad_duration_strict_and_skip(shared_data: Path, tmp_path: Path, store: Store) -> None:
    lines = (shared_data / "msd-subset-songs" / "msd_subset_songs.csv").read_text().splitlines()[:6]
    fields = lines[3].split(",")
    fields[7] = "long"  # Duration
    lines[3] = ",".join(fields)
    bad = tmp_path / "songs.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("msd"), bad)
    assert err.value.line == 4 and err.value.field == "Duration" and "songs.csv" in str(err.value)
    res = ingest(store, get_loader("msd"), bad, on_error="skip")
    assert res.rejected == {"tracks": 1} and res.loaded["tracks"] == 4
    rej = store.df("SELECT * FROM rejects").iloc[0]
    assert rej["line"] == 4 and rej["field"] == "Duration"


def test_missing_column(tmp_path: Path, store: Store) -> None:
    f = tmp_path / "songs.csv"
    f.write_text("SongID,Title,ArtistName\nS1,T,A\n")
    with pytest.raises(DataError, match="missing column 'Duration'"):
        get_loader("msd").load(f, IngestContext(con=store.con))


def test_reingest_adds_nothing(msd: Store, shared_data: Path) -> None:
    before = msd.counts()
    res = ingest(msd, get_loader("msd"), shared_data / "msd-subset-songs")
    assert res.replaced_previous
    pd.testing.assert_frame_equal(before, msd.counts())
