"""Shared fixtures: seeded randomness, the shared real data, temporary stores."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from encore.data.store import Store

# CI runs the property tests on a fixed sequence of examples (``CI`` set by .ci/run), so a red
# build is reproducible; local runs keep exploring new random examples.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

SHARED_DATA = Path(
    os.environ.get("ENCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets beside the checkout (read-only)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; set ENCORE_DATA")
    return SHARED_DATA


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store in a temporary file."""
    s = Store(tmp_path / "test.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="session")
def listeners_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store as a listener's machine has it: the 20 personal listening histories (and the
    7 libraries) plus HetRec's community of 1,892 Last.fm listeners (artist level)."""
    from encore.data.cli import plan_all
    from encore.data.ingest import ingest
    from encore.data.sources import get_loader

    path = tmp_path_factory.mktemp("listeners") / "listeners.duckdb"
    with Store(path) as s:
        for loader, folder in plan_all(shared_data / "listening-histories"):
            ingest(s, loader, folder)
        ingest(s, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k")
    return path


@pytest.fixture(scope="session")
def listeners_for_you(listeners_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """for_you fitted once per session on :func:`listeners_db` with small settings (one
    training cut at 75 %, 60 trees) and saved; tests copy the file beside their store."""
    pytest.importorskip("lightgbm")
    from encore.recommenders.for_you import ForYou
    from encore.recommenders.listeners import load_catalogue, load_community, load_history

    with Store(listeners_db, read_only=True) as store:
        data = load_history(store), load_catalogue(store), load_community(store)
    model = ForYou(train_cuts=(0.75,), n_estimators=60).fit(*data)
    return model.save(tmp_path_factory.mktemp("for_you") / "for_you-track-all.npz")


@pytest.fixture
def v2_store() -> Callable[[Path], None]:
    """Write a store at ``path`` as Encore wrote it at schema v2 (before user_segments and
    track_moods), for the tests of upgrades in place."""
    import duckdb

    from encore.data.schema import MIGRATIONS

    def make(path: Path) -> None:
        con = duckdb.connect(str(path))
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
        con.close()

    return make
