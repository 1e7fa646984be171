"""Fixtures of the lake tests: a small store of real and synthetic plays, and its lake.

- ``lake_db``: two real listening histories of different formats (a Spotify extended
  history with durations and skip flags; a Last.fm CSV of scrobbles without durations)
  and 20,000 synthetic events over 45 days (seed 3; they bring genres, countries and
  skips: structure only, never a claim about music). About 300 day partitions.
- ``lake_dir``: that store exported once per session.
- ``spark``: one local Spark session for every Spark test (``local[2]``, 2 shuffle
  partitions, :data:`TEST_SPARK_CONF`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.data.synthetic import generate

#: Settings of the test session, for a small lake where Spark's fixed cost is nearly all
#: the time (measured by the JVM's CPU seconds: 45 -> 23 for the five equality questions):
#: the JIT's first tier only and the serial collector (a short-lived JVM on 2 cores spends
#: more compiling and collecting in parallel than it gains), no whole-stage code generation
#: (compiling Java for each query costs more than it saves on thousands of rows), no
#: adaptive re-planning, the ~300 day folders listed by the driver instead of by a job of
#: 300 tasks, the small day files packed into two read tasks instead of ten, and no UI.
TEST_SPARK_CONF = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    "spark.sql.files.openCostInBytes": "8192",
    "spark.ui.enabled": "false",
}

#: The real histories in the test store: (loader, folder under listening-histories).
REAL = (("spotify_extended", "user_03"), ("lastfm_csv", "user_07"))


@pytest.fixture(scope="session")
def lake_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("lake") / "small.duckdb"
    with Store(path) as store:
        for loader, folder in REAL:
            ingest(store, get_loader(loader), shared_data / "listening-histories" / folder)
        generate(store, 20_000, seed=3, start=datetime(2024, 3, 1), days=45)
    return path


@pytest.fixture(scope="session")
def lake_dir(lake_db: Path) -> Path:
    from encore.lake.export import export_lake

    out = lake_db.parent / "small.lake"
    with Store(lake_db, read_only=True) as store:
        export_lake(store, out)
    return out


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    from encore.lake.spark import spark_session

    session = spark_session("local[2]", shuffle_partitions=2, **TEST_SPARK_CONF)
    yield session
    session.stop()
