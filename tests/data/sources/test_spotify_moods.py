"""spotify_moods loader: 686 tracks, mood tags, URIs, release-date precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError


def test_counts_and_values(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("spotify_moods"), shared_data / "spotify-moods")
    assert res.loaded["tracks"] == 686 and res.loaded["track_tags"] == 686
    moods = dict(
        store.execute(
            "SELECT tag, count(*) FROM track_tags WHERE kind = 'mood' GROUP BY 1"
        ).fetchall()
    )
    assert moods == {"Sad": 197, "Calm": 195, "Energetic": 154, "Happy": 140}
    assert store.scalar("SELECT count(*) FROM tracks WHERE uri LIKE 'spotify:track:%'") == 686
    row = store.df("""SELECT t.title, a.name, al.title AS album, t.duration_ms, t.release_year FROM tracks t
                      JOIN artists a USING (artist_id) JOIN albums al USING (album_id)
                      WHERE t.uri = 'spotify:track:2H7PHVdQ3mXqEHXcvclTB0'""").iloc[0]
    assert tuple(row) == ("1999", "Prince", "1999", 379_266, 1982)
    years = store.df("SELECT release_year FROM tracks")["release_year"]
    assert years.notna().all() and years.min() == 1963 and years.max() == 2020
    assert store.scalar("SELECT count(DISTINCT feature) FROM track_features") == 12
    tempo = store.scalar("""SELECT value FROM track_features f JOIN tracks t USING (track_id)
                            WHERE t.uri = 'spotify:track:2H7PHVdQ3mXqEHXcvclTB0' AND feature = 'tempo'""")
    assert tempo == pytest.approx(118.523)


def test_bad_release_date(shared_data: Path, tmp_path: Path, store: Store) -> None:
    lines = (shared_data / "spotify-moods" / "data_moods.csv").read_text().splitlines()[:4]
    lines[2] = lines[2].replace("2007-04-16", "16/04/2007")
    bad = tmp_path / "moods.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("spotify_moods"), bad)
    assert (err.value.line, err.value.field) == (3, "release_date")
    res = ingest(store, get_loader("spotify_moods"), bad, on_error="skip")
    assert res.loaded["tracks"] == 2 and res.rejected == {"tracks": 1}
