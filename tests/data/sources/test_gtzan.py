"""gtzan loader: 1,000 clips, 10 genres x 100, 57 features each."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError


def test_counts_and_values(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("gtzan"), shared_data / "gtzan-features")
    assert res.loaded["tracks"] == 1_000 and res.loaded["track_features"] == 57_000
    per = store.df("SELECT genre_raw, count(*) AS n FROM tracks GROUP BY 1")
    assert len(per) == 10 and set(per["n"]) == {100}
    row = store.df(
        "SELECT title, duration_ms, genre_raw, genre FROM tracks WHERE title = 'blues.00000.wav'"
    ).iloc[0]
    assert row["duration_ms"] == round(661_794 / 22_050 * 1000) and row["genre"] == "blues"
    mfcc = store.scalar("""SELECT value FROM track_features JOIN tracks USING (track_id)
                           WHERE title = 'blues.00000.wav' AND feature = 'mfcc1_mean'""")
    assert mfcc == pytest.approx(-113.57064819335938)
    assert store.scalar("SELECT genre FROM tracks WHERE genre_raw = 'hiphop' LIMIT 1") == "hip hop"


def test_non_numeric_feature(shared_data: Path, tmp_path: Path, store: Store) -> None:
    lines = (shared_data / "gtzan-features" / "features_30_sec.csv").read_text().splitlines()[:3]
    f = lines[2].split(",")
    f[18] = "fast"  # tempo
    lines[2] = ",".join(f)
    bad = tmp_path / "features.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("gtzan"), bad)
    assert (err.value.line, err.value.field) == (3, "tempo")
