"""Settings read from ``ENCORE_*`` environment variables, with defaults.

The one home of the defaults: the store file (``ENCORE_DB``, else ``./encore.duckdb``),
the shared data folder, the download cache and the seed. Everything that needs the
default store path asks :func:`default_db_path`. DuckDB's own limits for every store
Encore opens come from ``ENCORE_DUCKDB_MEMORY`` (e.g. ``8GB``; DuckDB's default is 80 %
of RAM) and ``ENCORE_DUCKDB_THREADS`` (:func:`duckdb_config`).
"""

from __future__ import annotations

import os
import re
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


_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def duckdb_config() -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB settings for every store connection, from the environment.

    ``ENCORE_DUCKDB_MEMORY`` (``memory_limit``, e.g. ``8GB``: DuckDB spills what does not
    fit to a temporary folder beside the store) and ``ENCORE_DUCKDB_THREADS``
    (``threads``). Unset: DuckDB's defaults (80 % of RAM, every core).

    Raises
    ------
    ConfigError
        A value that is not a size (``8GB``) or a positive whole number of threads.
    """
    from encore.errors import ConfigError

    config: dict[str, str | bool | int | float | list[str]] = {}
    memory = os.environ.get("ENCORE_DUCKDB_MEMORY", "").strip()
    if memory:
        if not _MEMORY.match(memory):
            raise ConfigError(
                f"ENCORE_DUCKDB_MEMORY={memory!r} is not a memory size",
                hint="e.g. ENCORE_DUCKDB_MEMORY=8GB (units B, KB, MB, GB, TB)",
            )
        config["memory_limit"] = memory.replace(" ", "")
    threads = os.environ.get("ENCORE_DUCKDB_THREADS", "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise ConfigError(
                f"ENCORE_DUCKDB_THREADS={threads!r} is not a positive whole number",
                hint="e.g. ENCORE_DUCKDB_THREADS=2",
            )
        config["threads"] = int(threads)
    return config
