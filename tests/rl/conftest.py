"""A store of the 20 listening histories (skips from the Spotify exports) with artist genres."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.store import Store


@pytest.fixture(scope="session")
def rl_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    from encore.data.cli import plan_all
    from encore.data.ingest import ingest

    path = tmp_path_factory.mktemp("rl") / "rl.duckdb"
    with Store(path) as s:
        for folder in ("listening-histories", "spotify-artist-genres"):
            for loader, sub in plan_all(shared_data / folder):
                ingest(s, loader, sub)
    return path
