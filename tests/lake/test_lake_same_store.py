"""A lake ingested back into the store it came from adds nothing: no play and no tag twice.

Found by the product check: `encore export events` then `encore ingest parquet` of that
lake into the same store added the store's 263,375 artist tags and 77,079 track tags a
second time under the source "parquet" (the lake keeps tags without their source, so the
per-source natural key never matched).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

COUNTED = ("events", "artist_tags", "track_tags", "tracks", "artists", "albums", "users")


def _counts(store: Store) -> dict[str, int]:
    return {t: int(store.scalar(f"SELECT count(*) FROM {t}")) for t in COUNTED}


def test_lake_back_into_its_own_store_adds_nothing(
    lake_db: Path, shared_data: Path, tmp_path: Path
) -> None:
    from encore.data.cli import plan_all
    from encore.lake.export import export_lake

    db = tmp_path / "same.duckdb"
    shutil.copyfile(lake_db, db)
    with Store(db) as store:
        for loader, sub in plan_all(shared_data / "spotify-artist-genres"):  # artist tags
            ingest(store, loader, sub)
        for loader, sub in plan_all(shared_data / "tcc-ceds-music-sample"):  # track tags
            ingest(store, loader, sub)
        export_lake(store, tmp_path / "same.lake")
        before = _counts(store)
        assert before["artist_tags"] > 0 and before["track_tags"] > 0
        # artists whose coarse genre was set directly (the synthetic generator does) and
        # have no tag: the lake writes that genre as a catalogue genre entry, which the
        # store then holds once; nothing else is new
        genre_only = int(
            store.scalar(
                "SELECT count(*) FROM artists a WHERE a.genre IS NOT NULL "
                "AND a.artist_id NOT IN (SELECT artist_id FROM artist_tags)"
            )
        )
        ingest(store, get_loader("parquet"), tmp_path / "same.lake")
        after = _counts(store)
        assert after == {**before, "artist_tags": before["artist_tags"] + genre_only}
        ingest(store, get_loader("parquet"), tmp_path / "same.lake")
        assert _counts(store) == after  # and a second time, nothing at all
