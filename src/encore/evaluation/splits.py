"""Train/test splits of interaction frames that do not leak the future.

Every splitter takes a frame with the columns ``user_id``, ``item_id``, ``weight`` and
(optionally) ``ts`` and returns a :class:`Split`. Rows may be single events or
aggregated (user, item) pairs; the splitters never look at anything but these columns.

* :func:`global_time_split` (the default): one cut-off time for everybody; train is
  strictly before it and test at or after it, so ``max(train.ts) < min(test.ts)``.
* :func:`last_n_split`: each user's last ``n`` interactions are the test set.
* :func:`user_time_split`: each user's own last ``test_fraction`` of rows by time are the
  test set, new items only; for personal histories that cover different years, where one
  global cut-off leaves almost no user on both sides. Users with too few rows to hold a
  share out stay in train and are counted.
* :func:`random_split`: a seeded per-user random holdout, only for data without time
  (HetRec Last.fm 2K play counts); the split's ``description`` says so, and the reports
  print it.

Test users must appear in train (a recommender cannot rank for a stranger without
fold-in), and by default test items must appear in train too (a model cannot rank an
item it never saw); both filters are counted in :attr:`Split.stats`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SplitMethod = Literal["global-time", "last-n", "user-time", "random"]
SPLIT_METHODS: tuple[str, ...] = ("global-time", "last-n", "user-time", "random")

USER, ITEM, WEIGHT, TS = "user_id", "item_id", "weight", "ts"


@dataclass(frozen=True)
class Split:
    """A train/test pair and how it was made.

    Attributes
    ----------
    train, test:
        Frames with ``user_id``, ``item_id``, ``weight`` and ``ts`` (``ts`` may be NaT).
    method:
        ``global-time``, ``last-n``, ``user-time``, ``random`` or ``given`` (files made
        elsewhere).
    description:
        One sentence for reports, e.g. "random per-user 20% holdout (data has no timestamps)".
    cutoff:
        The cut-off time of a global temporal split, else ``None``.
    stats:
        Counts of rows and users kept and dropped (cold users, cold items; for
        ``user-time`` also users with too few rows and test rows of items already seen).
    events:
        The train side's events before aggregation (``user_id, item_id, ts, kind``) for
        sequence models (:mod:`encore.recommenders.sequence`); None where the split has
        none (random splits, pairs without times).
    test_events:
        The test side's events in time order (same columns; users and items of train
        only), for protocols that need the order of what came after the cut-off
        (:mod:`encore.evaluation.next_new`); None where the split has none.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    method: str
    description: str
    cutoff: Any = None
    stats: dict[str, int] = field(default_factory=dict)
    events: pd.DataFrame | None = None
    test_events: pd.DataFrame | None = None


def has_time(df: pd.DataFrame) -> bool:
    """Whether every row of ``df`` has a timestamp."""
    return TS in df.columns and len(df) > 0 and bool(df[TS].notna().all())


def _check(df: pd.DataFrame, *, need_time: bool, what: str) -> pd.DataFrame:
    missing = [c for c in (USER, ITEM) if c not in df.columns]
    if missing:
        raise DataError(f"interaction frame lacks column(s) {missing}", field=missing[0])
    if len(df) == 0:
        raise DataError("no interactions to split", hint="check the --data source and filters")
    out = df.copy()
    if WEIGHT not in out.columns:
        out[WEIGHT] = 1.0
    if TS not in out.columns:
        out[TS] = pd.NaT
    if need_time and not has_time(out):
        n_missing = int(out[TS].isna().sum())
        raise DataError(
            f"the {what} split needs a timestamp on every interaction; {n_missing:,} of {len(out):,} have none",
            field=TS,
            hint="use --split random for data without timestamps (e.g. HetRec play counts)",
        )
    return out.reset_index(drop=True)


def _finish(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    method: str,
    description: str,
    cutoff: Any = None,
    drop_cold_items: bool = True,
    extra_stats: dict[str, int] | None = None,
) -> Split:
    """Drop test rows of users (and items) unseen in train, count what was dropped.

    ``extra_stats`` (counts a splitter made before, e.g. users kept out of test) are
    added to :attr:`Split.stats`.
    """
    stats: dict[str, int] = {"train_rows": len(train), "test_rows_raw": len(test)}
    stats.update(extra_stats or {})
    known_users = set(train[USER].unique())
    cold_user = ~test[USER].isin(known_users)
    stats["test_users_cold_dropped"] = int(test.loc[cold_user, USER].nunique())
    stats["test_rows_cold_user_dropped"] = int(cold_user.sum())
    test = test[~cold_user]
    if drop_cold_items:
        cold_item = ~test[ITEM].isin(set(train[ITEM].unique()))
        stats["test_rows_cold_item_dropped"] = int(cold_item.sum())
        test = test[~cold_item]
    stats["test_rows"] = len(test)
    stats["train_users"] = int(train[USER].nunique())
    stats["train_items"] = int(train[ITEM].nunique())
    stats["test_users"] = int(test[USER].nunique())
    if len(train) == 0 or len(test) == 0:
        raise DataError(
            f"the {method} split left {len(train):,} train and {len(test):,} test rows",
            hint="use more data or another split (fraction, n or cut-off)",
        )
    logger.info("%s split: %s", method, stats)
    return Split(
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        method=method,
        description=description,
        cutoff=cutoff,
        stats=stats,
    )


def global_time_split(
    df: pd.DataFrame,
    *,
    test_fraction: float = 0.2,
    cutoff: Any = None,
    drop_cold_items: bool = True,
) -> Split:
    """Split at one time for all users: train before ``cutoff``, test from it on.

    Parameters
    ----------
    df:
        Interactions with a timestamp on every row.
    test_fraction:
        Used when ``cutoff`` is not given: the cut-off is the ``1 - test_fraction``
        quantile of the timestamps, so about that share of rows is in test.
    cutoff:
        An explicit cut-off (same type as ``ts``).
    drop_cold_items:
        Drop test rows whose item never occurs in train.

    Returns
    -------
    Split
        ``max(train.ts) < cutoff <= min(test.ts)``; test users all occur in train.

    Raises
    ------
    DataError
        If a row lacks a timestamp or a side of the split would be empty.
    ConfigError
        If ``test_fraction`` is not in (0, 1).
    """
    if cutoff is None and not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = _check(df, need_time=True, what="global-time")
    share = (
        "the given cut-off" if cutoff is not None else f"about {test_fraction:.0%} of interactions"
    )
    if cutoff is None:
        ts_sorted = data[TS].sort_values(kind="stable").reset_index(drop=True)
        pos = min(len(ts_sorted) - 1, int(np.floor(len(ts_sorted) * (1.0 - test_fraction))))
        cutoff = ts_sorted.iloc[pos]
    in_test = (data[TS] >= cutoff).to_numpy()
    train, test = data[~in_test], data[in_test]
    return _finish(
        train,
        test,
        method="global-time",
        description=f"global temporal split at {cutoff} (test: {share}, from the cut-off on; test users must be in train)",
        cutoff=cutoff,
        drop_cold_items=drop_cold_items,
    )


def last_n_split(
    df: pd.DataFrame, *, n: int = 1, drop_cold_items: bool = True, undated_to_train: bool = False
) -> Split:
    """Each user's last ``n`` interactions (by time) form the test set.

    Users with ``n`` or fewer interactions stay wholly in train. Ties in time keep the
    frame's order. With ``undated_to_train`` rows without a time (e.g. likes without a
    date) go to train and are never held out; otherwise they are an error.

    Raises
    ------
    DataError
        If a row lacks a timestamp or a side of the split would be empty.
    ConfigError
        If ``n < 1``.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")
    data = _check(df, need_time=False, what="last-n")
    undated = data[data[TS].isna()]
    if len(undated) and not undated_to_train:
        _check(df, need_time=True, what="last-n")  # raises, naming the count
    data = data[data[TS].notna()].sort_values([USER, TS], kind="stable")
    pos_from_end = data.groupby(USER, sort=False).cumcount(ascending=False)
    size = data.groupby(USER, sort=False)[ITEM].transform("size")
    in_test = ((pos_from_end < n) & (size > n)).to_numpy()
    return _finish(
        pd.concat([undated, data[~in_test]]) if len(undated) else data[~in_test],
        data[in_test],
        method="last-n",
        description=f"last-{n} per user by time (users with at most {n} interactions only in train)",
        drop_cold_items=drop_cold_items,
    )


def user_time_test_counts(n: Any, test_fraction: float) -> np.ndarray:
    """Rows held out of a user with ``n`` rows (or events): ``floor(n * test_fraction)``.

    Shared by :func:`user_time_split` and the store-side split, so that both hold out the
    same share. Users for whom this is 0 stay wholly in train.
    """
    counts = np.asarray(n, dtype="int64")
    return np.floor(counts * float(test_fraction) + 1e-9).astype("int64")


def user_time_min_rows(test_fraction: float) -> int:
    """Fewest rows (or events) a user needs for :func:`user_time_test_counts` to hold one out."""
    n = max(1, int(np.ceil(1.0 / test_fraction - 1e-9)))
    while int(user_time_test_counts(n, test_fraction)) < 1:
        n += 1
    return n


def user_time_split(
    df: pd.DataFrame,
    *,
    test_fraction: float = 0.2,
    drop_cold_items: bool = True,
    undated_to_train: bool = False,
) -> Split:
    """Each user's own last ``test_fraction`` of rows by time is that user's test set.

    For every user with ``n`` dated rows, ``m = floor(n * test_fraction)`` rows are held
    out: the user's cut-off is the time of their ``m``-th latest row, train is every row
    of the user before it and test every row from it on (rows tied with the cut-off go to
    test, as in :func:`global_time_split`). So per user ``max(train.ts) < min(test.ts)``.
    Test rows whose item the user also has in train are dropped (new items only) and
    counted.

    Users with ``m = 0`` (fewer than :func:`user_time_min_rows` rows) or whose rows all
    share the cut-off time (nothing earlier to train on) stay wholly in train; their count
    is ``stats["users_train_only"]`` and the description says how many.

    With ``undated_to_train`` rows without a time go to train and are never held out;
    otherwise they are an error.

    Raises
    ------
    ConfigError
        If ``test_fraction`` is not in (0, 1).
    DataError
        If a row lacks a timestamp (without ``undated_to_train``) or a side of the split
        would be empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = _check(df, need_time=False, what="user-time")
    undated = data[data[TS].isna()]
    if len(undated) and not undated_to_train:
        _check(df, need_time=True, what="user-time")  # raises, naming the count
    data = data[data[TS].notna()].sort_values([USER, TS], kind="stable").reset_index(drop=True)
    groups = data.groupby(USER, sort=False)
    size = groups[ITEM].transform("size").to_numpy()
    pos = groups.cumcount().to_numpy()
    n_test = user_time_test_counts(size, test_fraction)
    # the cut-off row of each user is the first of their last n_test rows
    is_cut = (pos == size - n_test) & (n_test > 0)
    cut_ts = data[TS].where(is_cut).groupby(data[USER], sort=False).transform("first")
    first_ts = groups[TS].transform("first")
    eligible = (cut_ts.notna() & (cut_ts > first_ts)).to_numpy()
    in_test = eligible & (data[TS] >= cut_ts).fillna(False).to_numpy(dtype=bool)
    users_all = set(data[USER].unique()) | set(undated[USER].unique())
    users_eligible = set(data.loc[eligible, USER].unique())
    train = pd.concat([undated, data[~in_test]]) if len(undated) else data[~in_test]
    test = data[in_test]
    seen = (
        test.merge(
            train[[USER, ITEM]].drop_duplicates(), on=[USER, ITEM], how="left", indicator=True
        )["_merge"]
        .eq("both")
        .to_numpy()
    )
    extra = {
        "users_train_only": len(users_all - users_eligible),
        "test_rows_seen_dropped": int(seen.sum()),
        "test_users_only_seen_dropped": len(
            set(test[USER].unique()) - set(test.loc[~seen, USER].unique())
        ),
    }
    min_rows = user_time_min_rows(test_fraction)
    return _finish(
        train,
        test[~seen],
        method="user-time",
        description=(
            f"per-user temporal split: each user's last {test_fraction:.0%} of their own rows by time "
            f"in test, new items only ({extra['users_train_only']:,} users with fewer than "
            f"{min_rows} rows or no earlier time only in train)"
        ),
        drop_cold_items=drop_cold_items,
        extra_stats=extra,
    )


def random_split(
    df: pd.DataFrame,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    drop_cold_items: bool = True,
) -> Split:
    """Seeded per-user random holdout: ``test_fraction`` of each user's rows go to test.

    Meant for data without timestamps only (it can leak the future otherwise). Each
    user keeps at least one row in train; the count per user is ``round(fraction * n)``.

    Raises
    ------
    ConfigError
        If ``test_fraction`` is not in (0, 1).
    DataError
        If a side of the split would be empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = _check(df, need_time=False, what="random")
    rng = np.random.default_rng(seed)
    data["_r"] = rng.random(len(data))
    data = data.sort_values([USER, "_r"], kind="stable")
    pos = data.groupby(USER, sort=False).cumcount().to_numpy()
    size = data.groupby(USER, sort=False)[ITEM].transform("size").to_numpy()
    n_test = np.minimum(np.rint(size * test_fraction), size - 1)
    in_test = pos < n_test
    data = data.drop(columns="_r")
    why = "data has no timestamps" if not has_time(data) else "timestamps ignored on request"
    return _finish(
        data[~in_test],
        data[in_test],
        method="random",
        description=f"random per-user {test_fraction:.0%} holdout, seed {seed} ({why})",
        drop_cold_items=drop_cold_items,
    )


def make_split(
    df: pd.DataFrame,
    method: str = "global-time",
    *,
    test_fraction: float = 0.2,
    n: int = 1,
    seed: int = 0,
    drop_cold_items: bool = True,
    undated_to_train: bool = False,
) -> Split:
    """Dispatch to one splitter by name (``global-time``, ``last-n``, ``user-time``,
    ``random`` or ``auto``).

    ``auto`` picks ``global-time`` when every row has a timestamp, else ``random``.
    ``undated_to_train`` is passed to :func:`last_n_split` and :func:`user_time_split`.

    Raises
    ------
    ConfigError
        For an unknown method.
    """
    if method == "auto":
        method = "global-time" if has_time(df) else "random"
    if method == "global-time":
        return global_time_split(df, test_fraction=test_fraction, drop_cold_items=drop_cold_items)
    if method == "last-n":
        return last_n_split(
            df, n=n, drop_cold_items=drop_cold_items, undated_to_train=undated_to_train
        )
    if method == "user-time":
        return user_time_split(
            df,
            test_fraction=test_fraction,
            drop_cold_items=drop_cold_items,
            undated_to_train=undated_to_train,
        )
    if method == "random":
        return random_split(
            df, test_fraction=test_fraction, seed=seed, drop_cold_items=drop_cold_items
        )
    raise ConfigError(
        f"unknown split {method!r}", hint=f"choose one of {', '.join(SPLIT_METHODS)} or auto"
    )


def validation_split(
    split: Split, *, test_fraction: float = 0.2, n: int = 1, seed: int = 0
) -> Split:
    """Carve a validation split out of ``split.train`` with the same method.

    Used for hyperparameter search so that the test set is never looked at.
    A ``given`` split is carved with a global temporal split when train has times,
    else a random one.
    """
    method = split.method
    if method not in SPLIT_METHODS:
        method = "auto"
    return make_split(split.train, method, test_fraction=test_fraction, n=n, seed=seed)


# ---------------------------------------------------------------------------------------
# splits made elsewhere
# ---------------------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    USER: ("user_id", "user", "userid", "uid", "user_idx"),
    ITEM: ("item_id", "item", "itemid", "iid", "track_id", "artist_id", "item_idx"),
    WEIGHT: ("weight", "rating", "plays", "count", "value"),
    TS: ("ts", "time", "timestamp", "datetime", "date", "t"),
}


def _parse_times(col: pd.Series, *, file: str, header: int) -> pd.Series:
    """A time column as numbers (all numeric) or naive UTC datetimes.

    Times without an offset are read as UTC and times with one are converted to UTC; the
    result is tz-naive, as the store's times are. Parquet datetime columns are taken as
    they are (converted to naive UTC when they carry a zone).

    Raises
    ------
    DataError
        Naming the file, the first bad line and the column when a value is neither a
        number nor a date (and saying which).
    """
    name = str(col.name)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        ts: pd.Series = col.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_any_dtype(col.dtype) or (
        pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)
    ):
        ts = col  # Parquet datetimes (naive: taken as UTC) or numbers
    else:
        num = pd.to_numeric(col, errors="coerce")
        if bool(num.notna().all()):
            ts = num
        else:
            text = col.astype(str)
            ts = pd.to_datetime(text, errors="coerce", utc=True)
            if bool(ts.isna().any()):  # the format inferred from the first value may not fit all
                ts = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = np.flatnonzero(ts.isna().to_numpy())
    if len(bad):
        raise DataError(
            f"time column {name!r}: {col.iloc[bad[0]]!r} is neither a date nor a number",
            file=file,
            line=int(bad[0]) + 1 + header,
            field=name,
            hint="write times as ISO 8601 (e.g. 2000-12-09 01:31:25, read as UTC without an offset) "
            "or as Unix seconds, in every row",
        )
    return ts.reset_index(drop=True)


def read_interactions_file(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file of interactions made elsewhere.

    Columns are matched case-insensitively: user (``user_id``/``user``), item
    (``item_id``/``item``/``track_id``/``artist_id``), optional weight
    (``weight``/``rating``/``plays``; 1.0 when absent) and optional time
    (``ts``/``time``/``timestamp``/``datetime``). Ids are read as strings so that they
    match across files. Other columns are ignored. Times are numbers (kept as they are)
    or dates: naive ones are read as UTC, ones with an offset converted to UTC, and both
    returned tz-naive, like the store's.

    Raises
    ------
    DataError
        Naming the file (and line or field) when it is missing, unreadable, lacks a
        column, or has an empty id, a non-numeric weight, or a time that is neither a
        date nor a number (naming the time column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            raw = pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
        else:
            raise DataError("unsupported format (use .csv, .tsv or .parquet)", file=str(path))
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc
    lower = {str(c).lower(): c for c in raw.columns}
    found: dict[str, Any] = {}
    for canon, names in _ALIASES.items():
        for name in names:
            if name in lower:
                found[canon] = lower[name]
                break
    for need in (USER, ITEM):
        if need not in found:
            raise DataError(
                f"no {need.split('_')[0]} column (have {list(raw.columns)})",
                file=str(path),
                field=need,
                hint=f"name it one of {', '.join(_ALIASES[need])}",
            )
    out = pd.DataFrame(
        {
            USER: raw[found[USER]].astype(str).to_numpy(),
            ITEM: raw[found[ITEM]].astype(str).to_numpy(),
        }
    )
    header = 1 if suffix != ".parquet" and suffix != ".pq" else 0
    for col in (USER, ITEM):
        empty = np.flatnonzero((out[col].str.strip() == "").to_numpy())
        if len(empty):
            raise DataError(
                "empty id", file=str(path), line=int(empty[0]) + 1 + header, field=str(found[col])
            )
    if WEIGHT in found:
        w = pd.to_numeric(raw[found[WEIGHT]], errors="coerce")
        bad = np.flatnonzero(w.isna().to_numpy())
        if len(bad):
            raise DataError(
                f"weight {raw[found[WEIGHT]].iloc[bad[0]]!r} is not a number",
                file=str(path),
                line=int(bad[0]) + 1 + header,
                field=str(found[WEIGHT]),
            )
        out[WEIGHT] = w.astype("float64").to_numpy()
    else:
        out[WEIGHT] = 1.0
    if TS in found:
        out[TS] = _parse_times(raw[found[TS]], file=str(path), header=header).to_numpy()
    else:
        out[TS] = pd.NaT
    return out


#: An id that reads back as the same text after a round trip through an integer.
_CANONICAL_INT = r"^(?:0|-?[1-9][0-9]{0,17})$"


def _integer_items(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item ids as integers when every id of both files is one written plainly.

    The store's item ids are integers, ordered as numbers; read back as text from a saved
    split they ordered as text ("10" before "9"), so items tied on score (the popular
    baseline's equal counts, item kNN's equal similarities) came in another order and a
    saved split did not reproduce its comparison exactly. Text that an integer would write
    otherwise ("007", "1e3", "+5") keeps every id as text.
    """
    both = pd.concat([train[ITEM], test[ITEM]], ignore_index=True)
    if len(both) == 0 or not both.str.fullmatch(_CANONICAL_INT).all():
        return train, test
    return (
        train.assign(**{ITEM: train[ITEM].astype("int64")}),
        test.assign(**{ITEM: test[ITEM].astype("int64")}),
    )


def given_split(
    train_path: Path,
    test_path: Path,
    *,
    drop_cold_items: bool = False,
    weighting: str | None = None,
) -> Split:
    """A split made elsewhere, read from two files (see :func:`read_interactions_file`).

    Cold test users are dropped (and counted); cold items are kept by default, because
    a published split's relevant sets should stay as published (they just cannot be hit).
    Item ids that are all plain integers, in both files, become integers as the store's
    are (a split saved by :func:`save_split` then reproduces its comparison exactly,
    ties included); otherwise every id stays text.
    ``weighting`` (one of :data:`encore.data.dataset.WEIGHTINGS`) turns the train file's
    weight column (play counts, or 1 where it has none) into model weights, as the store's
    splits weight play counts; ``None`` keeps the file's weights as they are.

    Raises
    ------
    DataError
        When a file cannot be read or has no usable rows.
    """
    train = read_interactions_file(train_path)
    test = read_interactions_file(test_path)
    train, test = _integer_items(train, test)
    kinds = {
        Path(p).name: "dates" if pd.api.types.is_datetime64_any_dtype(f[TS].dtype) else "numbers"
        for p, f in ((train_path, train), (test_path, test))
        if f[TS].notna().any()
    }
    if len(set(kinds.values())) > 1:
        raise DataError(
            "the train and test times are not comparable: "
            + ", ".join(f"{name} has {kind}" for name, kind in kinds.items()),
            field=TS,
            hint="write the times of both files the same way (dates, or Unix seconds)",
        )
    description = (
        f"split made elsewhere: train {Path(train_path).name}, test {Path(test_path).name}"
    )
    if weighting is not None:
        from encore.data.dataset import apply_weighting

        weights = apply_weighting(train.rename(columns={WEIGHT: "count"}), weighting)
        train = train.assign(**{WEIGHT: weights.to_numpy()})
        train = train[train[WEIGHT] > 0].reset_index(drop=True)
        description += f"; train weights: {weighting} of the file's weight column"
    return _finish(
        train,
        test,
        method="given",
        description=description,
        drop_cold_items=drop_cold_items,
    )


def save_split(split: Split, folder: Path) -> list[Path]:
    """Write a split as ``folder/train.csv`` and ``folder/test.csv`` for :func:`given_split`.

    Columns ``user_id, item_id, weight, ts`` (``ts`` where the split has times). The
    train weights are those the models were given (already weighted), so the split read
    back with ``weighting="plays"`` (the identity: ``--weighting plays``) gives the same
    train set. Written to temporary names and renamed, so a failure leaves no half file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in (("train", split.train), ("test", split.test)):
        cols = [c for c in (USER, ITEM, WEIGHT, TS) if c in frame and frame[c].notna().any()]
        target = folder / f"{name}.csv"
        tmp = folder / f".{name}.csv.tmp"
        frame[cols].to_csv(tmp, index=False)
        tmp.replace(target)
        paths.append(target)
    return paths
