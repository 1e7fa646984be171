"""The CF user x item matrix built at scale: grouped by integer user keys in DuckDB.

:func:`build_dataset` returns the same :class:`~encore.data.dataset.InteractionDataset`
as :func:`~encore.data.dataset.build_interactions` followed by
:meth:`~encore.data.dataset.InteractionDataset.from_interactions` (same rows in the same
order, same columns, same weights and times; tested on the real data), without ever
holding a string user id per (user, item) pair:

1. DuckDB aggregates the events, play counts and likes per (user key, item), the same
   SQL as ``build_interactions`` (:func:`~encore.data.dataset.interactions_sql`) grouped by
   the dense INTEGER ``events.user_key`` of schema v2 instead of the VARCHAR id. Play
   counts and likes look their key up in ``user_keys`` (users with no events get keys
   after the largest one, for this query only). A store whose events do not all have a
   key (an older store opened read-only, see :func:`encore.analytics.common.user_column`)
   numbers its user ids in the same query instead and joins each event to its number: the
   same matrix, at the cost of a join on the id.
2. The result comes back through Arrow as compact arrays: the key (int32), the item
   (int64), the value to weight (float64), liked (bool) and the last time (int64
   microseconds), about 30 bytes per pair.
3. Weighting and the k-core run on these arrays (:func:`~encore.data.dataset.weight_values`,
   :func:`k_core_mask`); the rows are the users' ids in sorted order, as
   :class:`~encore.data.dataset.IdMap` sorts them, mapped back from the keys through one
   array of ids (one per user, not per pair); the columns are the sorted item ids.
4. One sparse conversion orders the pairs by row and column; the float32 matrix, the
   timestamps and the dataset's ``interactions`` frame take that order. The frame's
   ``user_id`` is categorical (a code per pair over the users' ids), not a string per
   pair; it compares and converts like the ids themselves.

On synthetic events it peaks at 0.67x the frame path's memory at 10 M events (1.4 against
2.0 GB), 0.35x at 30 M (2.1 against 6.1 GB) and 6.0 GB at 100 M, where the frame path ran
out at 18.8 GB (``docs/scaling.md``; ``benchmarks/bench_scaling.py``, steps ``matrix``
and ``matrix_frame``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.data.dataset import (
    INTERACTION_COLUMNS,
    ITEM_LEVELS,
    WEIGHTINGS,
    IdMap,
    InteractionDataset,
    interactions_sql,
    weight_values,
)
from encore.errors import ConfigError, DataError

if TYPE_CHECKING:
    from encore.data.store import Store

log = logging.getLogger(__name__)

#: How each part's user is keyed: ``events`` (``events.user_key``) or ``joined``.
KEY_MODES: tuple[str, ...] = ("events", "joined")
#: DuckDB's memory for the grouping when ``ENCORE_DUCKDB_MEMORY`` is not set (at most 80 %
#: of RAM): DuckDB's default (80 % of RAM) lets its hash tables take the room the arrays
#: need next; bounded, it spills to ``<store>.tmp`` (at 10 M events DuckDB then held 0.8 GB
#: less once the grouping was done, and a 250 MB bound was no slower).
GROUPING_MEMORY_BYTES = 2 * 2**30


@contextmanager
def _snapshot(store: Store) -> Iterator[Any]:
    """A connection for the build's queries (the pairs, then the users' ids) that reads
    one snapshot: a cursor of the store's database in a read transaction of its own,
    rolled back after (it writes nothing).

    The keys of users with only play counts or likes, and every key of a store whose
    events lack them, are numbered per query: a write between the two queries must not
    shift them. The caller's connection, and a transaction open on it, are left alone.
    """
    con = store.con.cursor()
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        finally:
            con.execute("ROLLBACK")
    finally:
        con.close()


def _fetch(con: Any, sql: str, params: dict[str, Any]) -> Any:
    """The query's result as an Arrow table, DuckDB's memory bounded while it runs.

    Unless ``ENCORE_DUCKDB_MEMORY`` sets the store's limit, the limit is lowered to
    :data:`GROUPING_MEMORY_BYTES` for this query and reset after; if DuckDB cannot spill
    there (a store on read-only media has no writable ``<store>.tmp``), the query runs
    again at the store's own limit, in a new snapshot (the failed query ends the
    transaction of ``con``, the build's own, :func:`_snapshot`).
    """
    import duckdb

    if os.environ.get("ENCORE_DUCKDB_MEMORY", "").strip():
        return con.sql(sql, params=params).to_arrow_table()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = min(GROUPING_MEMORY_BYTES, int(0.8 * ram)) // 2**20
    con.execute(f"SET memory_limit = '{limit}MB'")
    try:
        return con.sql(sql, params=params).to_arrow_table()
    except (duckdb.OutOfMemoryException, duckdb.IOException) as exc:
        log.warning("the matrix's grouping could not spill at %d MB (%s); retrying", limit, exc)
        con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")
    finally:
        con.execute("RESET memory_limit")
    return con.sql(sql, params=params).to_arrow_table()


def key_mode(store: Store) -> str:
    """``events`` when every event carries its ``user_key`` (schema v2), else ``joined``."""
    from encore.analytics.common import user_column

    return "events" if user_column(store) == "user_key" else "joined"


def keys_sql(mode: str) -> str:
    """SQL of the relation ``_uk(user_id, user_key)``: one INTEGER key per user id.

    ``events``: the store's ``user_keys``, then the users who only have play counts or
    likes, numbered after the largest key in id order. ``joined``: every user id of the
    events, play counts and likes numbered 1, 2, ... in id order (computed per query;
    nothing is written, so a read-only store works).
    """
    if mode == "events":
        return """
            SELECT user_id, user_key FROM user_keys
            UNION ALL
            SELECT user_id, CAST((SELECT COALESCE(max(user_key), 0) FROM user_keys)
                                 + row_number() OVER (ORDER BY user_id) AS INTEGER)
            FROM (SELECT user_id FROM playcounts UNION SELECT user_id FROM likes)
            WHERE user_id IS NOT NULL
              AND user_id NOT IN (SELECT user_id FROM user_keys)
        """
    if mode == "joined":
        return """
            SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) AS INTEGER) AS user_key
            FROM (SELECT user_id FROM events UNION SELECT user_id FROM playcounts
                  UNION SELECT user_id FROM likes)
            WHERE user_id IS NOT NULL
        """
    raise ValueError(f"unknown key mode {mode!r}; choose one of {', '.join(KEY_MODES)}")


def k_core_mask(
    users: np.ndarray,
    items: np.ndarray,
    min_user: int = 1,
    min_item: int = 1,
    *,
    max_rounds: int = 50,
) -> np.ndarray:
    """:func:`~encore.data.dataset.k_core` on integer codes: which pairs are kept.

    ``users`` and ``items`` are non-negative integer codes, one per pair; the rounds are
    those of ``k_core`` (items first, then users, until nothing changes).
    """
    keep = np.ones(len(users), dtype=bool)
    if min_user <= 1 and min_item <= 1:
        return keep
    for _ in range(max_rounds):
        n = int(keep.sum())
        if min_item > 1:
            counts = np.bincount(items[keep])
            keep[keep] = counts[items[keep]] >= min_item
        if min_user > 1:
            counts = np.bincount(users[keep])
            keep[keep] = counts[users[keep]] >= min_user
        if int(keep.sum()) == n:
            break
    return keep


@contextmanager
def _stages(show: bool) -> Iterator[Any]:
    """A transient Rich progress over the build's stages when ``show``, else a no-op."""
    if not show:
        yield lambda _what: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("matrix", total=None)
        yield lambda what: bar.update(task, description=f"matrix: {what}")


def build_dataset(
    store: Store,
    *,
    level: str = "track",
    weighting: str = "log1p",
    source: str | Sequence[str] | None = None,
    date_from: str | pd.Timestamp | None = None,
    date_to: str | pd.Timestamp | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    like_weight: float = 1.0,
    skip_weight: float = 1.0,
    users: Sequence[str] | None = None,
    keys: str | None = None,
    show_progress: bool = False,
) -> InteractionDataset:
    """The store's interactions as a dataset, grouped by integer user keys (module docstring).

    Parameters are those of :func:`~encore.data.dataset.build_interactions`, plus:

    keys:
        ``events`` or ``joined`` (:data:`KEY_MODES`); default: ``events`` when every event
        has its key, else ``joined``.
    show_progress:
        Show the stage being run (Rich, on the terminal).

    Returns
    -------
    InteractionDataset
        Equal to ``InteractionDataset.from_interactions(build_interactions(...))``: the
        same user and item maps, matrix and timestamps; ``interactions`` has the same
        rows in the same order, with ``user_id`` categorical.

    Raises
    ------
    ConfigError
        Bad level, weighting, thresholds or key mode.
    DataError
        Nothing is left after filtering.
    """
    if level not in ITEM_LEVELS:
        raise ConfigError(f"unknown item level {level!r}; choose one of {', '.join(ITEM_LEVELS)}")
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if min_user_interactions < 1 or min_item_interactions < 1:
        raise ConfigError("minimum interactions must be at least 1")
    mode = keys or key_mode(store)
    if mode not in KEY_MODES:
        raise ConfigError(f"unknown key mode {mode!r}; choose one of {', '.join(KEY_MODES)}")
    uk = keys_sql(mode)
    body, params = interactions_sql(
        level,
        source=source,
        users=users,
        date_from=date_from,
        date_to=date_to,
        user_keys=mode,
        value="minutes" if weighting == "minutes" else "count",
    )
    # the pairs, compact: the arithmetic on DOUBLEs is the frame path's, done in DuckDB
    sql = f"""
        SELECT CAST(user_id AS INTEGER) AS uk, item_id, value,
               liked > 0 AS liked, epoch_us(ts) AS ts_us
        FROM (WITH _uk AS ({uk}) {body})
    """
    params["skip_weight"] = float(skip_weight)
    with _snapshot(store) as con, _stages(show_progress) as stage:
        stage("grouping by user key and item (DuckDB)")
        table = _fetch(con, sql, params)
        n = table.num_rows
        if n == 0:
            raise DataError(
                "no interactions match the filters",
                hint="check --source, the date range and that the store holds plays or likes",
            )
        stage(f"weighting {n:,} pairs")
        uk_col = _column(table, "uk", np.int32)
        item = _column(table, "item_id", np.int64)
        vals = _column(table, "value", np.float64)
        liked = _column(table, "liked", np.bool_) if like_weight != 0 else None
        ts_arr = table.column("ts_us")
        has_ts = ts_arr.null_count < n
        ts_us = _column(table, "ts_us", np.int64, fill=0) if has_ts else None
        ts_null = ts_arr.is_null().to_numpy(zero_copy_only=False) if has_ts else None
        del table, ts_arr
        w = weight_values(
            vals, weighting, users=uk_col, items=item, liked=liked, like_weight=like_weight
        )
        del vals, liked
        keep = w > 0
        if min_user_interactions > 1 or min_item_interactions > 1:
            kept_items, item_codes = np.unique(item[keep], return_inverse=True)
            core = k_core_mask(
                uk_col[keep], item_codes, min_user_interactions, min_item_interactions
            )
            del kept_items, item_codes
            keep[keep] = core
        if not keep.all():
            uk_col, item, w = uk_col[keep], item[keep], w[keep]
            if ts_us is not None and ts_null is not None:
                ts_us, ts_null = ts_us[keep], ts_null[keep]
        del keep
        if ts_null is not None and ts_null.all():  # times only on pairs dropped above
            ts_us = ts_null = None
        if len(w) == 0:
            raise DataError(
                "no interactions are left after the minimum-interaction filters",
                hint="lower --min-user / --min-item",
            )

        stage(f"mapping {len(w):,} pairs to rows and columns")
        user_map, rows = _user_rows(con, uk, uk_col)
        del uk_col
        item_ids = np.sort(pd.unique(item))
        cols = np.searchsorted(item_ids, item).astype(np.int32)
        del item
        item_map = IdMap(item_ids, kind="item")
        shape = (len(user_map), len(item_map))

        stage(f"ordering {len(w):,} pairs into the sparse matrix")
        # one conversion orders the pairs by (row, column): its data is each pair's position
        order = sp.csr_matrix(
            (np.arange(len(w), dtype=np.int64), (rows, cols)), shape=shape, dtype=np.int64
        )
        del rows, cols
        order.sort_indices()
        perm = order.data
        indptr, indices = order.indptr, order.indices
        del order
        weights = w[perm]
        del w
        matrix = sp.csr_matrix(
            (weights.astype(np.float32), indices.copy(), indptr.copy()), shape=shape
        )
        timestamps = None
        ts_col: Any
        if ts_us is not None and ts_null is not None:
            ts_us, ts_null = ts_us[perm], ts_null[perm]
            # the frame path's seconds: nanoseconds as int64, then / 1e9
            secs = np.where(ts_null, np.nan, (ts_us * 1000) / 1e9)
            timestamps = sp.csr_matrix((secs, indices.copy(), indptr.copy()), shape=shape)
            del secs
            ts_col = pd.to_datetime(np.where(ts_null, np.iinfo(np.int64).min, ts_us).view("M8[us]"))
            del ts_us, ts_null
        else:
            ts_col = pd.Series(pd.NaT, index=pd.RangeIndex(len(weights)), dtype="M8[us]")
        del perm

        stage("the interactions frame")
        codes = np.repeat(np.arange(shape[0], dtype=np.int32), np.diff(indptr))
        frame = pd.DataFrame(
            {
                "user_id": pd.Categorical.from_codes(
                    codes, categories=pd.Index(user_map.external_ids), validate=False
                ),
                "item_id": item_ids[indices],
                "weight": weights,
                "ts": ts_col,
            },
            copy=False,
        )[list(INTERACTION_COLUMNS)]
        del codes, indices, indptr
    log.info(
        "built %d interactions (%d users, %d %ss, weighting %s, user keys %s)",
        matrix.nnz,
        shape[0],
        shape[1],
        level,
        weighting,
        mode,
    )
    return InteractionDataset(
        user_map=user_map,
        item_map=item_map,
        matrix=matrix,
        item_level=level,
        interactions=frame,
        timestamps=timestamps,
    )


def _column(table: Any, name: str, dtype: Any, *, fill: Any = None) -> np.ndarray:
    """One column of an Arrow table as a contiguous numpy array of ``dtype``."""
    col = table.column(name)
    if fill is not None:
        col = col.fill_null(fill)
    arr = col.to_numpy() if col.null_count == 0 else col.to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(arr, dtype=dtype)


def _user_rows(con: Any, uk_sql: str, keys: np.ndarray) -> tuple[IdMap, np.ndarray]:
    """The user map (ids in sorted order, as :class:`IdMap` sorts them) and each pair's row.

    Only the users' ids are fetched (one per key used), never one per pair.
    """
    used = np.flatnonzero(np.bincount(keys))
    got = con.sql(f"SELECT user_key, user_id FROM ({uk_sql})").to_arrow_table()
    all_keys = _column(got, "user_key", np.int64)
    ids = np.asarray(got.column("user_id").to_pylist(), dtype=str)
    del got
    pick = np.isin(all_keys, used)
    all_keys, ids = all_keys[pick], ids[pick]
    if len(all_keys) != len(used):  # pragma: no cover - user_keys is one to one
        raise DataError("the store's user_keys do not cover every event's user_key")
    order = np.argsort(ids, kind="stable")
    row_of_key = np.full(int(keys.max()) + 1, -1, dtype=np.int32)
    row_of_key[all_keys[order]] = np.arange(len(order), dtype=np.int32)
    return IdMap(ids[order], kind="user"), row_of_key[keys]
