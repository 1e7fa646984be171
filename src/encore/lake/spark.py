"""The Spark engine (``--engine spark``): Encore's analytics SQL and ALS on Apache Spark.

**Analytics.** The analytics queries (:mod:`encore.analytics`) are SQL over the store's
tables. :class:`SparkLakeStore` offers the :class:`~encore.data.store.Store` surface those
queries use and sends every query that reads the events (``Store.df``, through
:func:`encore.analytics.common.query`) to Spark SQL, over temporary views of the lake's
Parquet files. The SQL is Encore's own, rewritten by :func:`to_spark_sql` for the few
places where DuckDB's dialect differs from Spark's (named parameters ``$x`` -> ``:x``,
``list(struct_pack(..))``, ``* EXCLUDE``, ``generate_series``, NULL ordering). Answers are
therefore the same query run by another engine, and the tests check they are exactly
equal. The window's resolution (the data span, whether a source exists, whether every
event has a ``user_key``) asks small metadata questions of the same lake through DuckDB
(``Store.execute``): a handful of statistics reads, not an aggregation.

Minutes are sums of integer milliseconds as DOUBLE, exact below 2**53 ms whatever order
the partitions are summed in, so they match to the bit; only an estimated duration
(``encore genre resolve``: a median that need not be an integer) can make a sum of
estimates differ in its last bits between engines.

**ALS.** :func:`fit_spark_als` fits ``pyspark.ml.recommendation.ALS`` with implicit
preferences on a user x item matrix and returns its factors as arrays;
:func:`lake_interactions` builds that matrix in Spark from the lake's events.

The session (:func:`spark_session`) runs on ``ENCORE_SPARK_MASTER`` (default
``local[*]``) unless ``spark-submit`` already set a master; its time zone is UTC, as the
store's timestamps are.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import MissingDependencyError
from encore.lake.export import EVENTS_DIR
from encore.lake.store import LakeStore

log = logging.getLogger(__name__)

#: Spark settings every Encore session gets (the store's timestamps are UTC).
SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


def _quiet() -> None:
    # pyspark warns that pandas >= 3 is not yet "fully supported"; the conversions Encore
    # uses (Arrow tables to pandas) are checked by the engine equality tests
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\..*")


def spark_session(
    master: str | None = None, *, shuffle_partitions: int | None = None, **conf: str
) -> Any:
    """The Spark session Encore runs on (created once, then reused).

    Parameters
    ----------
    master:
        ``local[2]``, ``spark://host:7077``, ``yarn``, ...; default ``ENCORE_SPARK_MASTER``,
        else ``local[*]``. Ignored when ``spark-submit`` already chose one.
    shuffle_partitions:
        ``spark.sql.shuffle.partitions`` (default ``ENCORE_SPARK_PARTITIONS``, else Spark's).
        ``ENCORE_SPARK_DRIVER_MEMORY`` (e.g. ``8g``) sets ``spark.driver.memory``: in
        ``local[*]`` mode the driver JVM also runs the executors, and Spark's default is 1g.
    conf:
        More Spark settings (``spark.ui.enabled="false"``, ...).

    Raises
    ------
    MissingDependencyError
        pyspark is not installed (the ``spark`` extra).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise MissingDependencyError("pyspark", "spark") from exc
    _quiet()
    builder = SparkSession.builder.appName("encore")
    from pyspark import SparkConf

    preset = SparkConf().contains("spark.master")  # spark-submit's choice wins
    if not preset:
        builder = builder.master(master or os.environ.get("ENCORE_SPARK_MASTER", "local[*]"))
    parts = shuffle_partitions or os.environ.get("ENCORE_SPARK_PARTITIONS")
    settings = {**SPARK_CONF, **conf}
    if parts:
        settings["spark.sql.shuffle.partitions"] = str(parts)
    memory = os.environ.get("ENCORE_SPARK_DRIVER_MEMORY")
    if memory and "spark.driver.memory" not in conf:
        # read when the JVM starts: a session already running keeps its memory
        settings["spark.driver.memory"] = memory
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# ------------------------------------------------------------------ SQL dialect
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRUCT = re.compile(r"\blist\(\s*struct_pack\(([^()]*)\)\s*\)", re.IGNORECASE)
_ORDER = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_STOP = re.compile(r"\s*(LIMIT|ROWS|RANGE|OFFSET)\b", re.IGNORECASE)


def _struct(match: re.Match[str]) -> str:
    fields = []
    for part in match.group(1).split(","):
        name, _, expr = part.partition(":=")
        fields.append(f"'{name.strip()}', {expr.strip()}")
    return f"collect_list(named_struct({', '.join(fields)}))"


def _nulls_last(sql: str) -> str:
    """Add ``NULLS LAST`` to every ORDER BY key without one (DuckDB's default; Spark puts
    NULLs first in ascending order)."""
    out: list[str] = []
    pos = 0
    for match in _ORDER.finditer(sql):
        if match.start() < pos:
            continue
        out.append(sql[pos : match.end()])
        i = match.end()
        depth = 0
        item_start = i
        items: list[str] = []
        quote = False
        while i < len(sql):
            ch = sql[i]
            if ch == "'":
                quote = not quote
            elif not quote:
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif ch == "," and depth == 0:
                    items.append(sql[item_start:i])
                    item_start = i + 1
                elif depth == 0 and _STOP.match(sql, i) and sql[i - 1].isspace():
                    break
            i += 1
        items.append(sql[item_start:i])
        fixed = []
        for item in items:
            body = item.rstrip()
            tail = item[len(body) :]
            if "NULLS" not in body.upper().split()[-2:] and body.strip():
                body += " NULLS LAST"
            fixed.append(body + tail)
        out.append(",".join(fixed))
        pos = i
    out.append(sql[pos:])
    return "".join(out)


def _close(sql: str, start: int) -> int:
    """Index of the parenthesis closing the one opened just before ``start``."""
    depth = 1
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def _split_args(text: str) -> list[str]:
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    args.append(text[start:].strip())
    return args


_SERIES = re.compile(r"CAST\(\s*unnest\(\s*generate_series\(", re.IGNORECASE)


def _date_series(sql: str) -> str:
    """``CAST(unnest(generate_series(a, b, step)) AS DATE)`` -> a Spark DATE sequence
    (Spark allows no generator inside an expression)."""
    while (m := _SERIES.search(sql)) is not None:
        end = _close(sql, m.end())
        a, b, step = _split_args(sql[m.end() : end])
        rest = re.match(r"\s*\)\s*AS\s+DATE\s*\)", sql[end + 1 :], re.IGNORECASE)
        if rest is None:
            raise ValueError("generate_series outside CAST(... AS DATE) is not translated")
        new = f"explode(sequence(CAST({a} AS DATE), CAST({b} AS DATE), {step}))"
        sql = sql[: m.start()] + new + sql[end + 1 + rest.end() :]
    return sql


def to_spark_sql(sql: str) -> str:
    """Rewrite one of Encore's DuckDB queries in Spark SQL's dialect.

    Only the constructs Encore's analytics use are rewritten: named parameters,
    ``AS MATERIALIZED``, ``list(struct_pack(k := v, ..))``, ``* EXCLUDE (..)``,
    ``list_contains``, ``unnest(generate_series(..))`` and NULL ordering.
    """
    sql = _PARAM.sub(r":\1", sql)
    sql = re.sub(r"\bAS\s+MATERIALIZED\s*\(", "AS (", sql, flags=re.IGNORECASE)
    sql = _STRUCT.sub(_struct, sql)
    sql = re.sub(r"\*\s*EXCLUDE\s*\(", "* EXCEPT (", sql, flags=re.IGNORECASE)
    sql = re.sub(r"\blist_contains\(", "array_contains(", sql, flags=re.IGNORECASE)
    sql = _date_series(sql)
    return _nulls_last(sql)


def _spark_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


# ------------------------------------------------------------------ the store surface
class _SparkRelations:
    """``store.con``'s register/unregister, as Spark temporary views."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def register(self, name: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        # the schema from the frame's dtypes: Spark cannot infer one from no rows
        schema = _schema(pa.Schema.from_pandas(frame, preserve_index=False))
        self.spark.createDataFrame(frame, schema=schema).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)


class SparkLakeStore:
    """The store surface the analytics use, with queries run by Spark on a lake.

    ``df`` (every aggregation) runs on Spark; ``execute`` and ``scalar`` (the window's
    metadata questions) on DuckDB over the same lake (see the module docstring).

    Parameters
    ----------
    lake:
        The lake folder.
    spark:
        A session (default :func:`spark_session`).
    cache:
        Keep the events in Spark's memory after the first query (worth it when one
        session asks several questions of a lake that fits the cluster's memory).
    """

    def __init__(self, lake: str | Path, spark: Any = None, *, cache: bool = False) -> None:
        self.cache = cache
        self.duck = LakeStore(lake)
        try:
            self.spark = spark if spark is not None else spark_session()
            self.con = _SparkRelations(self.spark)
            self.lake = Path(lake)
            self.path = str(lake)
            self.read_only = True
            self._views = self._register_views()
        except BaseException:
            self.duck.close()
            raise

    def _register_views(self) -> list[str]:
        """A temporary view per table: the lake's Parquet, else DuckDB's empty table."""
        manifest = self.duck.manifest
        names = []
        tables = self.duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND (table_type = 'BASE TABLE' OR table_name = 'events' OR table_name IN "
            "(SELECT unnest($names)))",
            {"names": list(manifest["tables"])},
        ).fetchall()
        for (name,) in tables:
            if name in manifest["tables"]:
                frame = self.spark.read.parquet(str(self.lake / manifest["tables"][name]["path"]))
            elif name == "events" and manifest["events"].get("files"):
                root = str(self.lake / EVENTS_DIR)
                frame = (
                    self.spark.read.option("basePath", root)
                    .parquet(root)
                    .drop(manifest["events"]["partition_by"])
                )
                if self.cache:
                    frame = frame.cache()
            else:
                # absent from the lake (or no events): the schema's empty table
                arrow = self.duck.con.sql(f'SELECT * FROM "{name}" LIMIT 0').to_arrow_table()
                frame = self.spark.createDataFrame(arrow.to_pandas(), schema=_schema(arrow.schema))
            frame.createOrReplaceTempView(name)
            names.append(name)
        return names

    def df(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> pd.DataFrame:
        """Run an analytics query on Spark; the frame has DuckDB's column types."""
        args = {k: _spark_value(v) for k, v in dict(params or {}).items()}
        result = self.spark.sql(to_spark_sql(sql), args=args or None)
        return _as_duckdb_frame(result.toArrow())

    def execute(self, sql: str, params: Any = None) -> Any:
        """A metadata question, answered by DuckDB over the same lake."""
        return self.duck.execute(sql, params)

    def scalar(self, sql: str, params: Any = None) -> Any:
        """See :meth:`execute`."""
        return self.duck.scalar(sql, params)

    def schema_version(self) -> int:
        """The lake's store schema version."""
        return self.duck.schema_version()

    def close(self) -> None:
        """Drop the temporary views (the session stays for the next use) and close DuckDB."""
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self.duck.close()

    def __enter__(self) -> SparkLakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _schema(schema: Any) -> Any:
    """The Spark schema of an Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _as_duckdb_frame(table: Any) -> pd.DataFrame:
    """Arrow from Spark to pandas as DuckDB's ``.df()`` would give it.

    Spark's DATE and TIMESTAMP arrive as Arrow date32 / timestamp[us]; DuckDB hands both
    to pandas as ``datetime64``. Integer columns with NULLs become float, as in DuckDB.
    """
    import pyarrow as pa

    cols = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_date(col.type) or (
            pa.types.is_timestamp(col.type) and col.type.tz is not None
        ):
            col = col.cast(pa.timestamp("us"))
        cols[name] = col
    frame = pa.table(cols).to_pandas()
    return frame


# ------------------------------------------------------------------ ALS
def lake_interactions(spark: Any, lake: str | Path) -> tuple[Any, int, int]:
    """One row per (user, track) with its number of counted plays, read by Spark from a lake.

    Users and tracks get dense 0-based indices (``user_idx``, ``item_idx``, ordered by
    id), the layout ``pyspark.ml``'s ALS needs. Skips are left out (as in
    :func:`encore.data.dataset.build_interactions`, where a skip adds nothing).

    Returns
    -------
    (DataFrame, n_users, n_items)
        Columns ``user_idx``, ``item_idx``, ``rating`` (float).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    root = str(Path(lake) / EVENTS_DIR)
    events = spark.read.option("basePath", root).parquet(root)
    plays = events.where(
        F.col("track_id").isNotNull() & ~F.coalesce(F.col("skipped"), F.lit(False))
    )
    pairs = plays.groupBy("user_id", "track_id").agg(F.count("*").cast("float").alias("rating"))
    users = pairs.select("user_id").distinct()
    users = users.withColumn("user_idx", F.row_number().over(Window.orderBy("user_id")) - 1)
    items = pairs.select("track_id").distinct()
    items = items.withColumn("item_idx", F.row_number().over(Window.orderBy("track_id")) - 1)
    out = (
        pairs.join(users, "user_id")
        .join(items, "track_id")
        .select(F.col("user_idx").cast("int"), F.col("item_idx").cast("int"), "rating")
    )
    return out, users.count(), items.count()


def fit_spark_als(
    spark: Any,
    ratings: Any,
    n_users: int,
    n_items: int,
    *,
    factors: int = 64,
    regularization: float = 0.1,
    alpha: float = 1.0,
    iterations: int = 15,
    seed: int = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``pyspark.ml.recommendation.ALS`` (implicit preferences) and return its factors.

    Parameters
    ----------
    spark:
        The session.
    ratings:
        A Spark DataFrame ``user_idx, item_idx, rating`` or a SciPy sparse matrix (users x
        items, turned into one).
    n_users, n_items:
        The matrix shape (rows of the returned factors; an index with no rating keeps
        zero factors).
    factors, regularization, alpha, iterations, seed:
        ALS's ``rank``, ``regParam``, ``alpha``, ``maxIter`` and ``seed``. Spark scales
        the regularization by each row's number of ratings (ALS-WR), ``implicit`` does not:
        the same number is not the same penalty (see ``docs/scaling.md``).

    Returns
    -------
    (user_factors, item_factors)
        ``float32`` arrays of shape ``(n_users, factors)`` and ``(n_items, factors)``.
    """
    from pyspark.ml.recommendation import ALS as SparkALS

    if not hasattr(ratings, "select"):
        coo = ratings.tocoo()
        frame = pd.DataFrame(
            {
                "user_idx": coo.row.astype("int32"),
                "item_idx": coo.col.astype("int32"),
                "rating": coo.data.astype("float32"),
            }
        )
        ratings = spark.createDataFrame(frame)
    model = SparkALS(
        rank=factors,
        regParam=regularization,
        alpha=alpha,
        maxIter=iterations,
        implicitPrefs=True,
        userCol="user_idx",
        itemCol="item_idx",
        ratingCol="rating",
        seed=seed,
        coldStartStrategy="drop",
    ).fit(ratings)

    def _collect(frame: Any, n: int) -> np.ndarray:
        rows = frame.toArrow().to_pydict()
        out = np.zeros((n, factors), dtype=np.float32)
        if rows["id"]:
            out[np.asarray(rows["id"], dtype=np.int64)] = np.asarray(
                rows["features"], dtype=np.float32
            )
        return out

    return _collect(model.userFactors, n_users), _collect(model.itemFactors, n_items)
