"""The Spark engine: the same analytics answers as DuckDB on the lake, and ALS on Spark.

One local Spark session for all (``spark`` fixture: ``local[2]``); marked ``spark``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from pandas.testing import assert_frame_equal

from encore.analytics import api
from encore.lake.spark import (
    SparkLakeStore,
    fit_spark_als,
    lake_interactions,
    to_spark_sql,
)
from encore.lake.store import open_lake

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.3 warns about pandas 3 on every conversion; the equality tests are the check
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

WIDE = {"start": "2000-01-01", "end": "2030-12-31"}
FLOAT_RTOL = 1e-12  # see tests/lake/test_lake.py: counts equal, float sums to 1e-12

CASES: list[tuple[str, dict[str, Any]]] = [
    ("genres", {"by": "minutes"}),
    ("top-tracks", {"n": 5, "include_skips": True, "start": "2024-03-01"}),
    ("top-artists", {"n": 5, "by": "listeners"}),
    ("top-artists", {"n": 3, "source": "lastfm_csv"}),  # scrobbles: no minutes
    ("trend", {"every": "week", "start": "2024-03-01", "end": "2024-04-30", "country": "DE"}),
]


def test_dialect_rewrites() -> None:
    sql = to_spark_sql(
        "WITH m AS MATERIALIZED (SELECT * EXCLUDE (_x) FROM t WHERE ts >= $start) "
        "SELECT list(struct_pack(k := k, p := p)) AS c, list_contains($g, genre) "
        "FROM m ORDER BY a DESC, b"
    )
    assert "AS (SELECT * EXCEPT (_x)" in sql and "ts >= :start" in sql
    assert "collect_list(named_struct('k', k, 'p', p))" in sql
    assert "array_contains(:g, genre)" in sql
    assert sql.endswith("ORDER BY a DESC NULLS LAST, b NULLS LAST")
    series = to_spark_sql(
        "SELECT CAST(unnest(generate_series(date_trunc('month', x), y, INTERVAL 1 MONTH)) AS DATE) AS p"
    )
    assert series == (
        "SELECT explode(sequence(CAST(date_trunc('month', x) AS DATE), CAST(y AS DATE), "
        "INTERVAL 1 MONTH)) AS p"
    )


def test_spark_answers_equal_duckdb(lake_dir: Path, spark: Any) -> None:
    with open_lake(lake_dir) as duck, SparkLakeStore(lake_dir, spark, cache=True) as engine:
        for what, opts in CASES:
            expected = api.run(duck, what, **{**WIDE, **opts})
            got = api.run(engine, what, **{**WIDE, **opts})
            assert not expected.empty, (what, opts)
            assert_frame_equal(got, expected, check_exact=False, rtol=FLOAT_RTOL, atol=0)
            assert got.attrs["notes"] == expected.attrs["notes"]


def test_cli_engine_spark(lake_db: Path, lake_dir: Path, spark: Any) -> None:
    import json

    from typer.testing import CliRunner

    from encore.cli.main import app

    args = ["analytics", "genres", "--from", "2024-03-01", "--to", "2024-04-14", "-f", "json"]
    runner = CliRunner()
    duck = runner.invoke(app, [*args, "--db", str(lake_db)])
    spark_args = ["--engine", "spark", "--lake", f"file://{lake_dir}"]
    conf = ["--spark-conf", "spark.sql.shuffle.partitions=3"]  # handed to the session
    try:
        res = runner.invoke(app, [*args, "--db", str(lake_db), *spark_args, *conf])
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "2")
    assert duck.exit_code == res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads(duck.stdout)


def test_als_on_spark_recovers_planted_blocks(spark: Any) -> None:
    """Two groups of users, each playing only its own half of the items: every user's
    best unseen items under Spark's factors are in its own half."""
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for u in range(n_users):
        half = range(0, 15) if u < 20 else range(15, 30)
        chosen = rng.choice(list(half), size=8, replace=False)
        dense[u, chosen] = rng.integers(1, 5, size=8)
    matrix = sp.csr_matrix(dense)
    kw: dict[str, Any] = {"factors": 4, "iterations": 8, "seed": 1, "blocks": 2}
    uf, vf = fit_spark_als(spark, matrix, n_users, n_items, **kw)
    assert uf.shape == (n_users, 4) and vf.shape == (n_items, 4)
    scores = uf @ vf.T
    scores[dense > 0] = -np.inf
    best = scores.argmax(axis=1)
    assert (best[:20] < 15).all() and (best[20:] >= 15).all()
    again = fit_spark_als(spark, matrix, n_users, n_items, **kw)
    np.testing.assert_allclose(again[0], uf, rtol=1e-5, atol=1e-6)  # seeded


def test_lake_interactions_count_plays(lake_db: Path, lake_dir: Path, spark: Any) -> None:
    from encore.data.store import Store

    frame, n_users, n_items = lake_interactions(spark, lake_dir)
    got = frame.toPandas()
    with Store(lake_db, read_only=True) as store:
        want = store.df(
            "SELECT count(DISTINCT user_id) AS u, count(DISTINCT track_id) AS i, count(*) AS n "
            "FROM events WHERE track_id IS NOT NULL AND NOT COALESCE(skipped, FALSE)"
        )
    assert (n_users, n_items) == (int(want.u[0]), int(want.i[0]))
    assert got["rating"].sum() == want.n[0]
    assert got["user_idx"].max() == n_users - 1 and got["item_idx"].max() == n_items - 1
