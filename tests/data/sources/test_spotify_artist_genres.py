"""spotify_artist_genres loader: genre lists from both copies, feature means, bad lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import IngestContext, _to_pandas, ingest
from encore.data.sources import get_loader
from encore.data.sources.spotify_artist_genres import parse_genre_list
from encore.data.store import Store
from encore.errors import DataError

FOLDER = "spotify-artist-genres"


def test_per_file_counts_match_readme(shared_data: Path, store: Store) -> None:
    loader = get_loader("spotify_artist_genres")
    for name, artists, genres in (
        ("artist_genres_veronicasoden.csv", 18_976, 3_232),
        ("data_w_genres_swarupa29.csv", 16_403, 2_604),
    ):
        tags = _to_pandas(
            loader.load(shared_data / FOLDER / name, IngestContext(con=store.con)).frames[
                "artist_tags"
            ]
        )
        # README counts exact names; spellings the catalogue's normalisation merges are staged once
        assert artists - 100 < tags["artist"].nunique() <= artists
        assert tags["tag"].nunique() == genres


def test_store(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("spotify_artist_genres"), shared_data / FOLDER)
    assert res.loaded["artist_tags"] > 70_000
    # README: union of lower-cased names with genres = 22,437; the writer's normalised names merge a few more
    with_tags = store.scalar("SELECT count(DISTINCT artist_id) FROM artist_tags")
    assert 22_000 < with_tags <= 22_437
    assert (
        store.scalar(
            "SELECT count(*) FROM (SELECT artist_id, tag FROM artist_tags GROUP BY ALL HAVING count(*) > 1)"
        )
        < 50
    )
    tags = {
        r[0]
        for r in store.execute(
            "SELECT tag FROM artist_tags JOIN artists USING (artist_id) WHERE name = '112'"
        ).fetchall()
    }
    assert {"atl hip hop", "boy band", "r&b"} <= tags  # an artist called "112" stays a string
    assert store.scalar("SELECT genre FROM artists WHERE name = '$uicideBoy$'") == "hip hop"
    assert store.scalar("SELECT count(*) FROM artist_tags WHERE user_id IS NOT NULL") == 0
    pop = store.scalar("""SELECT value FROM artist_features JOIN artists USING (artist_id)
                          WHERE name = '$pyda' AND feature = 'tempo'""")
    assert pop == pytest.approx(174.028)
    assert store.scalar("SELECT count(DISTINCT feature) FROM artist_features") == 14


def test_parse_genre_list() -> None:
    assert parse_genre_list("['dance pop', \"children's music\"]") == [
        "dance pop",
        "children's music",
    ]
    assert parse_genre_list("[]") == []
    assert parse_genre_list("['a', 3]") is None and parse_genre_list("pop, rock") is None


def test_bad_genre_list(tmp_path: Path, store: Store) -> None:
    f = tmp_path / "g.csv"
    f.write_text("artists,genres\nA,\"['pop']\"\nB,\"['it\\'s', 'rock']\"\nC,pop; rock\n")
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("spotify_artist_genres"), f)
    assert (err.value.line, err.value.field) == (4, "genres")
    res = ingest(store, get_loader("spotify_artist_genres"), f, on_error="skip")
    assert res.rejected == {"artist_tags": 1}
    got = set(
        store.execute("SELECT name, tag FROM artist_tags JOIN artists USING (artist_id)").fetchall()
    )
    assert got == {("A", "pop"), ("B", "it's"), ("B", "rock")}
