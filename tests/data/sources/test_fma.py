"""fma loader: small/medium labels, splits, taxonomy genre names, bad genre lists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError


def test_counts_and_values(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("fma"), shared_data / "fma-genres")
    assert res.loaded["tracks"] == 7_997 + 16_986
    splits = dict(
        store.execute(
            "SELECT tag, count(*) FROM track_tags WHERE kind = 'split' GROUP BY 1"
        ).fetchall()
    )
    assert (splits["small:training"], splits["small:validation"], splits["small:test"]) == (
        6_397,
        800,
        800,
    )
    assert sum(v for k, v in splits.items() if k.startswith("medium:")) == 16_986
    assert store.scalar("SELECT count(DISTINCT genre_raw) FROM tracks") == 16
    # track 136: Rock, genres [45, 58] = Loud-Rock, Psych-Rock
    tid = store.scalar(
        "SELECT internal_id FROM external_ids WHERE source = 'fma' AND external_id = '136'"
    )
    tags = {
        r[0]
        for r in store.execute(
            "SELECT tag FROM track_tags WHERE track_id = ? AND kind = 'genre'", [tid]
        ).fetchall()
    }
    assert tags == {"Loud-Rock", "Psych-Rock"}
    row = store.df("SELECT title, genre_raw, genre FROM tracks WHERE track_id = ?", [tid]).iloc[0]
    assert tuple(row) == ("FMA track 136", "Rock", "rock")


def test_unknown_genre_id_and_bad_list(shared_data: Path, tmp_path: Path, store: Store) -> None:
    shutil.copyfile(shared_data / "fma-genres" / "genres.csv", tmp_path / "genres.csv")
    (tmp_path / "labels.csv").write_text(
        "subset,split,track_id,genre_top,genres\n"
        "small,training,2,Hip-Hop,[21]\n"
        "small,training,5,Hip-Hop,[99999]\n"
        "small,test,7,Rock,21 and 12\n"
    )
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("fma"), tmp_path)
    assert (err.value.line, err.value.field) == (3, "genres") and "genres.csv" in str(err.value)
    res = ingest(store, get_loader("fma"), tmp_path, on_error="skip")
    assert res.loaded["tracks"] == 1 and res.rejected == {"tracks": 2}
    reasons = store.df("SELECT line, reason FROM rejects ORDER BY line")
    assert list(reasons["line"]) == [3, 4] and "list of genre ids" in reasons["reason"][1]
