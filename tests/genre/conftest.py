"""A store with HetRec Last.fm 2K (artist-level genres) and tcc_ceds (track-level), built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.genre.features import GenreData, load_genre_data


@pytest.fixture(scope="session")
def genre_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Path of a store holding hetrec2011 and tcc_ceds (closed; open it read-only)."""
    path = tmp_path_factory.mktemp("genre") / "genre.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k")
        ingest(store, get_loader("tcc_ceds"), shared_data / "tcc-ceds-music-sample")
    return path


@pytest.fixture(scope="session")
def hetrec(genre_db: Path) -> GenreData:
    with Store(genre_db, read_only=True) as store:
        return load_genre_data(store, "hetrec")


@pytest.fixture(scope="session")
def tcc(genre_db: Path) -> GenreData:
    with Store(genre_db, read_only=True) as store:
        return load_genre_data(store, "tcc_ceds")


@pytest.fixture
def writable_db(genre_db: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the session store that a test may change."""
    import shutil

    dst = tmp_path / "copy.duckdb"
    shutil.copy(genre_db, dst)
    yield dst
