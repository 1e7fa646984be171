"""The Parquet event lake: a store's events (partitioned by date) and catalogue as Parquet.

- :mod:`encore.lake.export`: ``encore export events`` writes the lake and its manifest;
  :func:`~encore.lake.export.read_manifest` reads and checks a manifest.
- :mod:`encore.lake.store`: :func:`~encore.lake.store.open_lake`, a read-only store whose
  tables are views over the lake's Parquet files (DuckDB queries the lake in place), so
  every analytics query runs unchanged on it.
- :mod:`encore.lake.spark`: the Spark engine (``--engine spark``): the same analytics
  SQL run by Spark SQL on the lake, and ALS from ``pyspark.ml``.

Reading a lake back into a store is the ``parquet`` loader
(:mod:`encore.data.sources.parquet_lake`, ``encore ingest parquet DIR``).
"""

from __future__ import annotations

from pathlib import Path

#: Engines the analytics commands accept (``--engine``).
ENGINES: tuple[str, ...] = ("duckdb", "spark")


def default_lake(db: str | Path) -> Path:
    """The lake of a store when no ``--to`` / ``--lake`` is given: ``<store>.lake/``."""
    return Path(f"{db}.lake")
