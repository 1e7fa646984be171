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

from encore.errors import ConfigError, MissingDependencyError
from encore.lake.export import EVENTS_DIR
from encore.lake.objectstore import (
    LakeLocation,
    parse_location,
    spark_read_error,
    spark_s3a_conf,
)
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
        More Spark settings (``spark.ui.enabled="false"``, ...). They win over
        ``ENCORE_SPARK_CONF`` (``KEY=VALUE`` pairs separated by spaces, shell-quoted where a
        value has one: ``spark.jars.packages=... spark.hadoop.fs.s3a.endpoint=...``), which
        wins over the S3 endpoint taken from ``AWS_ENDPOINT_URL``
        (:func:`~encore.lake.objectstore.spark_s3a_conf`) and Encore's defaults
        (:data:`SPARK_CONF`).

    Raises
    ------
    MissingDependencyError
        pyspark is not installed (the ``spark`` extra).
    ConfigError
        ``ENCORE_SPARK_CONF`` is not a list of ``KEY=VALUE``.
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
    settings = {
        **SPARK_CONF,
        **spark_s3a_conf(),
        **parse_spark_conf(os.environ.get("ENCORE_SPARK_CONF", ""), "ENCORE_SPARK_CONF"),
        **conf,
    }
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


def parse_spark_conf(text: str | Sequence[str], where: str = "--spark-conf") -> dict[str, str]:
    """Spark settings from ``KEY=VALUE`` pairs (a shell-quoted string, or a list of pairs).

    Raises
    ------
    ConfigError
        A pair without ``=``, or a key that is not a Spark setting (``spark.*``).
    """
    import shlex

    try:
        pairs = shlex.split(text) if isinstance(text, str) else list(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.startswith("spark."):
            raise ConfigError(
                f"{where}: {pair!r} is not KEY=VALUE with a Spark setting as KEY",
                hint="e.g. spark.executor.memory=8g spark.hadoop.fs.s3a.endpoint=http://minio:9000",
            )
        out[key] = value
    return out


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


def _spark_read(loc: LakeLocation, read: Any) -> Any:
    """Run a Spark read of the lake, turning an object-store failure into an Encore error."""
    try:
        return read()
    except Exception as exc:
        mapped = spark_read_error(exc, loc)
        if mapped is None:
            raise
        raise mapped from exc


def read_events(spark: Any, lake: str | Path | LakeLocation, manifest: Mapping[str, Any]) -> Any:
    """The lake's events as a Spark DataFrame (without the partition column).

    A local lake is read by its events folder; one on an object store by exactly the files
    the manifest lists (unlisted objects there are never read).
    """
    loc = parse_location(lake)
    base = loc.spark(EVENTS_DIR)
    if loc.remote:
        paths = [loc.spark(f["path"]) for f in manifest["events"].get("files", [])]
    else:
        paths = [base]
    frame = _spark_read(loc, lambda: spark.read.option("basePath", base).parquet(*paths))
    return frame.drop(manifest["events"]["partition_by"])


class SparkLakeStore:
    """The store surface the analytics use, with queries run by Spark on a lake.

    ``df`` (every aggregation) runs on Spark; ``execute`` and ``scalar`` (the window's
    metadata questions) on DuckDB over the same lake (see the module docstring).

    Parameters
    ----------
    lake:
        The lake: a folder, ``file://``, ``s3://`` or ``gs://`` URI
        (:mod:`encore.lake.objectstore`; Spark reads ``s3://`` as ``s3a://``).
    spark:
        A session (default :func:`spark_session`).
    cache:
        Keep the lake's tables in Spark's memory after the first query that reads them
        (worth it when one session asks several questions of a lake that fits the
        cluster's memory).

    Raises
    ------
    ConfigError
        Spark cannot read the object store (no connector on its classpath, no access).
    """

    def __init__(
        self, lake: str | Path | LakeLocation, spark: Any = None, *, cache: bool = False
    ) -> None:
        self.cache = cache
        self.location = parse_location(lake)
        self.duck = LakeStore(self.location)
        try:
            self.spark = spark if spark is not None else spark_session()
            self.con = _SparkRelations(self.spark)
            self.lake = self.duck.lake
            self.path = self.location.uri
            self.read_only = True
            self._views: list[str] = []
            self._pending = self._tables()
            if self.location.remote:
                self._view("events")  # fail here, not mid-query, when Spark cannot read it
        except BaseException:
            self.duck.close()
            raise

    def _tables(self) -> list[str]:
        """Every table a query may name: the lake's, and the schema's others (empty)."""
        rows = self.duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND (table_type = 'BASE TABLE' OR table_name = 'events' OR table_name IN "
            "(SELECT unnest($names)))",
            {"names": list(self.duck.manifest["tables"])},
        ).fetchall()
        return [name for (name,) in rows]

    def _ensure_views(self, sql: str) -> None:
        """Register the temporary view of every table ``sql`` names and Spark lacks yet.

        Views are made on first use: making one asks Spark for the file's schema (a job
        per table on Spark 4), and a query names a few of the lake's ~30 tables. A word of
        the query that only looks like a table name registers a view no one reads: harmless.
        """
        for name in self._pending:
            if name not in self._views and re.search(rf"\b{re.escape(name)}\b", sql):
                self._view(name)

    def _view(self, name: str) -> None:
        """A temporary view of one table: the lake's Parquet, else DuckDB's empty table."""
        manifest = self.duck.manifest
        loc = self.location
        if name in manifest["tables"]:
            path = loc.spark(manifest["tables"][name]["path"])
            frame = _spark_read(loc, lambda: self.spark.read.parquet(path))
        elif name == "events" and manifest["events"].get("files"):
            frame = read_events(self.spark, loc, manifest)
        else:
            # absent from the lake (or no events): the schema's empty table
            arrow = self.duck.con.sql(f'SELECT * FROM "{name}" LIMIT 0').to_arrow_table()
            frame = self.spark.createDataFrame(arrow.to_pandas(), schema=_schema(arrow.schema))
        if self.cache:
            frame = frame.cache()
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def df(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> pd.DataFrame:
        """Run an analytics query on Spark; the frame has DuckDB's column types."""
        args = {k: _spark_value(v) for k, v in dict(params or {}).items()}
        self._ensure_views(sql)
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
def lake_interactions(spark: Any, lake: str | Path | LakeLocation) -> tuple[Any, int, int]:
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

    from encore.lake.objectstore import read_lake_manifest

    loc = parse_location(lake)
    events = read_events(spark, loc, read_lake_manifest(loc))
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
    blocks: int | None = None,
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
    blocks:
        ``numUserBlocks`` and ``numItemBlocks``: how many pieces each factor matrix is
        split into, i.e. the tasks per step (default Spark's 10; about the number of
        cores suits a small matrix, more spreads a large one over a cluster).

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
    als = SparkALS(
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
    )
    if blocks:
        als = als.setNumUserBlocks(blocks).setNumItemBlocks(blocks)
    model = als.fit(ratings)

    def _collect(frame: Any, n: int) -> np.ndarray:
        rows = frame.toArrow().to_pydict()
        out = np.zeros((n, factors), dtype=np.float32)
        if rows["id"]:
            out[np.asarray(rows["id"], dtype=np.int64)] = np.asarray(
                rows["features"], dtype=np.float32
            )
        return out

    return _collect(model.userFactors, n_users), _collect(model.itemFactors, n_items)
