"""Settings read from ``ENCORE_*`` environment variables, with defaults.

The one home of the defaults: the store file (``ENCORE_DB``, else ``./encore.duckdb``),
the shared data folder, the download cache and the seed. Everything that needs the
default store path asks :func:`default_db_path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = "encore.duckdb"
DEFAULT_SEED = 42


@dataclass(frozen=True)
class Settings:
    """Where the store lives, where the shared data is, and the default seed."""

    db_path: Path
    data_dir: Path
    cache_dir: Path
    seed: int

    @classmethod
    def from_env(cls) -> Settings:
        """Read settings from the environment (``ENCORE_DB``, ``ENCORE_DATA``, ...).

        An empty ``ENCORE_DB`` counts as unset, as it does for the ``--db`` option.
        """
        return cls(
            db_path=Path(os.environ.get("ENCORE_DB") or DEFAULT_DB),
            data_dir=Path(os.environ.get("ENCORE_DATA", "../shared/data")),
            cache_dir=Path(os.environ.get("ENCORE_CACHE", Path.home() / ".cache" / "encore")),
            seed=int(os.environ.get("ENCORE_SEED", DEFAULT_SEED)),
        )


def default_db_path() -> Path:
    """The store file used when no ``--db`` is given: ``ENCORE_DB``, else ``encore.duckdb``."""
    return Settings.from_env().db_path
