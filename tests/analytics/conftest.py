"""Fixtures of the analytics tests.

- ``tiny``: a hand-made store whose answers are known exactly (written below).
- ``real``: a store built once per session from real data in ``../shared/data`` (three
  listening-history folders of three formats, the Spotify artist genres that give them
  genres, and HetRec 2011 for dated tag assignments), plus the same rows read back
  into pandas frames, from which the tests compute every answer independently.
- ``syn``: a small synthetic store (structure only; used for properties, never for
  claims about music).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from analytics_helpers import REAL_SOURCES, RealData, TinyPlaysLoader, pandas_plays

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.data.synthetic import generate


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Store]:
    """The exact hand-made store (see :class:`TinyPlaysLoader`)."""
    folder = tmp_path / "tinyplays"
    folder.mkdir()
    store = Store(tmp_path / "tiny.duckdb")
    ingest(store, TinyPlaysLoader(), folder)
    yield store
    store.close()


@pytest.fixture(scope="session")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealData]:
    """Real data, ingested once per session, and read back into pandas."""
    path = tmp_path_factory.mktemp("analytics_real") / "real.duckdb"
    store = Store(path)
    for loader, folder in REAL_SOURCES:
        ingest(store, get_loader(loader), shared_data / folder, on_error="skip")
    events = store.df(
        "SELECT user_id, track_id, artist_id, ts, ms_played, skipped, source FROM events"
    )
    tracks = store.df("SELECT track_id, title, artist_id, genre FROM tracks")
    artists = store.df("SELECT artist_id, name, genre FROM artists")
    genre_map = store.df("SELECT tag, genre FROM genre_map")
    raw_tags = store.df(
        "SELECT user_id, artist_id, tag, tagged_at AS ts, source FROM artist_tags WHERE tagged_at IS NOT NULL"
    )
    tags = raw_tags.merge(genre_map, on="tag", how="left")
    tags["genre"] = tags["genre"].fillna("(not a genre tag)")
    store.close()
    store = Store(path, read_only=True)  # as the CLI opens it, so both can be open at once
    yield RealData(store, path, pandas_plays(events, tracks, artists), tags, tracks, artists)
    store.close()


@pytest.fixture(scope="session")
def syn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A synthetic store of 30,000 events (seed 7)."""
    store = Store(tmp_path_factory.mktemp("analytics_syn") / "syn.duckdb")
    generate(store, 30_000, seed=7)
    yield store
    store.close()
