"""Stores with real data, built once per test session (ingest takes a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store

# the shared helpers' asserts report like the tests' own (imported by the test modules)
pytest.register_assert_rewrite("evaluation_helpers")


def _build(path: Path, loader: str, folder: Path) -> Path:
    with Store(path) as store:
        ingest(store, get_loader(loader), folder)
    return path


@pytest.fixture(scope="session")
def jodie_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store holding the JODIE Last.fm sample (304 users, 789 tracks, timestamps)."""
    return _build(
        tmp_path_factory.mktemp("jodie") / "jodie.duckdb",
        "jodie",
        shared_data / "lastfm-1k-jodie-sample",
    )


@pytest.fixture(scope="session")
def hetrec_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store holding HetRec Last.fm 2K (user-artist play counts, no timestamps)."""
    return _build(
        tmp_path_factory.mktemp("hetrec") / "hetrec.duckdb",
        "hetrec2011",
        shared_data / "hetrec2011-lastfm-2k",
    )


@pytest.fixture(scope="session")
def lh_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store holding the 20 personal listening histories (users ``lh:user_NN``), every
    format found under the folder, as ``encore ingest --all`` loads it."""
    from encore.data.cli import plan_all

    path = tmp_path_factory.mktemp("lh") / "lh.duckdb"
    with Store(path) as store:
        for loader, folder in plan_all(shared_data / "listening-histories"):
            ingest(store, loader, folder)
    return path
