"""billboard_lyrics loader: 100 songs of 1965 with full lyrics and chart rank."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError


def test_counts_and_values(shared_data: Path, store: Store) -> None:
    res = ingest(
        store, get_loader("billboard_lyrics"), shared_data / "lyrics-billboard-hot100-sample"
    )
    assert (
        res.loaded["tracks"] == 100
        and res.loaded["lyrics"] == 100
        and res.loaded["track_tags"] == 100
    )
    assert store.scalar("SELECT count(*) FROM artists WHERE name LIKE '%' || chr(10)") == 0
    top = store.df("""SELECT t.title, a.name, t.release_year, tt.tag, tt.weight, l.text, l.processed
                      FROM tracks t JOIN artists a USING (artist_id) JOIN track_tags tt USING (track_id)
                      JOIN lyrics l USING (track_id) WHERE tt.kind = 'chart' ORDER BY tt.weight""")
    first = top.iloc[0]
    assert (first["title"], first["name"], first["release_year"]) == (
        "wooly bully",
        "sam the sham and the pharaohs",
        1965,
    )
    assert (
        first["tag"] == "billboard-hot100-1965" and first["weight"] == 1 and not first["processed"]
    )
    assert "matty told hatty" in first["text"] and "\n" in first["text"]
    assert sorted(top["weight"]) == list(range(1, 101))


def test_bad_rank_line_counts_records(tmp_path: Path, store: Store) -> None:
    f = tmp_path / "billboard.csv"
    f.write_text(
        'Rank,Song,Artist,Year,Lyrics,Source\n1,a,"x\n",1965,"la\nla",0\ntop,b,y,1965,"la",0\n'
    )
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("billboard_lyrics"), f)
    assert (err.value.line, err.value.field) == (3, "Rank")  # record 2 (header = 1)
