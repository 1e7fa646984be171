"""Fit each model on one split, score it with the same metric code, collect a comparison.

The store-side split (:func:`split_store`) splits *events* by time before they are
aggregated into (user, item) pairs, so a pair listened to on both sides of the cut-off
shows up in train (and, being already seen, is not a "new item" in test).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError, EncoreError
from encore.evaluation.metrics import DEFAULT_KS, MetricResult, evaluate_recommendations
from encore.evaluation.splits import Split, _finish, make_split
from encore.evaluation.stats import paired_bootstrap
from encore.recommenders.registry import baseline_models

if TYPE_CHECKING:
    from encore.data.dataset import InteractionDataset
    from encore.data.store import Store
    from encore.recommenders.base import Recommender

logger = logging.getLogger(__name__)


Progress = Callable[[str], None]

#: Evaluation tasks: ``new`` (the next new items: those a user had in train are neither
#: ranked nor relevant; the default) and ``play`` (the next plays, repeats allowed: nothing
#: excluded, every test item relevant) and ``first-new`` (each test user's first new item
#: after the cut-off is the only relevant one: the next-item question;
#: :mod:`encore.evaluation.next_new`) and ``next-new`` (every next new item, the state
#: updated with the test events before it).
TASKS: tuple[str, ...] = ("new", "play", "first-new", "next-new")


def check_task(task: str) -> str:
    """``task`` if known.

    Raises
    ------
    ConfigError
        Unknown task.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", hint=f"tasks are {', '.join(TASKS)}")
    return task


# ---------------------------------------------------------------------------------------
# splitting data in the store
# ---------------------------------------------------------------------------------------


def _sources(source: str | Sequence[str] | None) -> list[str] | None:
    if source is None:
        return None
    if isinstance(source, str):
        return [s.strip() for s in source.split(",") if s.strip()]
    return list(source)


def event_cutoff(
    store: Store,
    *,
    source: str | Sequence[str] | None,
    test_fraction: float,
    users: Sequence[str] | None = None,
) -> pd.Timestamp | None:
    """The ``1 - test_fraction`` quantile of event times (None when no dated event)."""
    srcs = _sources(source)
    conds = []
    params: dict[str, Any] = {"q": 1.0 - test_fraction}
    if srcs:
        conds.append("source = ANY($s)")
        params["s"] = srcs
    if users is not None:
        conds.append("user_id = ANY($u)")
        params["u"] = [str(u) for u in users]
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    row = store.con.execute(
        f"SELECT quantile_disc(ts, $q), count(*) FROM events {where}", params
    ).fetchone()
    if row is None or row[0] is None or not row[1]:
        return None
    return pd.Timestamp(row[0])


def split_store(
    store: Store,
    *,
    level: str = "track",
    method: str = "auto",
    source: str | Sequence[str] | None = None,
    weighting: str = "log1p",
    test_fraction: float = 0.2,
    n: int = 1,
    seed: int = 0,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    users: Sequence[str] | None = None,
    keep_seen: bool = False,
) -> Split:
    """Split the store's interactions of ``source`` for evaluation.

    ``global-time`` cuts the events at the ``1 - test_fraction`` time quantile and
    aggregates each side separately (train: ``ts < cutoff``; test: ``ts >= cutoff``).
    ``last-n`` holds out each user's ``n`` most recently played distinct items (undated
    pairs, such as likes without a date, stay in train);
    ``random`` a seeded per-user share of the (user, item) pairs. ``auto`` is
    ``global-time`` when the source has dated events, else ``random``.
    ``user-time`` cuts each user's own events at their own cut-off (see
    :func:`user_time_split_store`; ``keep_seen`` keeps its test items the user also had
    in train, for the ``play`` task).

    Raises
    ------
    DataError
        No interactions, or a time-based split on data without time.
    ConfigError
        Unknown method.
    """
    from encore.data.dataset import build_interactions

    if method == "user-time":
        return user_time_split_store(
            store,
            level=level,
            source=source,
            weighting=weighting,
            test_fraction=test_fraction,
            min_user_interactions=min_user_interactions,
            min_item_interactions=min_item_interactions,
            users=users,
            keep_seen=keep_seen,
        )

    srcs = _sources(source)
    common: dict[str, Any] = {
        "level": level,
        "weighting": weighting,
        "source": srcs,
        "users": users,
    }
    if method == "auto":
        method = (
            "global-time"
            if event_cutoff(store, source=srcs, test_fraction=test_fraction, users=users)
            is not None
            else "random"
        )
    if method == "global-time":
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
        cutoff = event_cutoff(store, source=srcs, test_fraction=test_fraction, users=users)
        if cutoff is None:
            raise DataError(
                "the global-time split needs dated events; this data has none",
                hint="use --split random (e.g. for HetRec play counts)",
            )
        train = build_interactions(
            store,
            date_to=cutoff,
            min_user_interactions=min_user_interactions,
            min_item_interactions=min_item_interactions,
            **common,
        )
        test = build_interactions(store, date_from=cutoff, **common)
        split = _finish(
            train,
            test,
            method="global-time",
            description=(
                f"global temporal split at {cutoff:%Y-%m-%d %H:%M} UTC: train is every event before it, "
                f"test every event from it on (about {test_fraction:.0%} of events); test users and items must be in train"
            ),
            cutoff=cutoff,
        )
        split = _with_events(split, store, level=level, source=srcs, users=users, date_to=cutoff)
        return _with_test_events(
            split, store, level=level, source=srcs, users=users, date_from=cutoff
        )
    frame = build_interactions(
        store,
        min_user_interactions=min_user_interactions,
        min_item_interactions=min_item_interactions,
        **common,
    )
    # likes without a date stay in train: they cannot be placed before or after anything
    return make_split(
        frame, method, test_fraction=test_fraction, n=n, seed=seed, undated_to_train=True
    )


#: Weightings that weigh each (user, item) pair on its own counts, so that building one
#: user's rows at a time gives the same weights as building everyone's at once.
PER_PAIR_WEIGHTINGS: tuple[str, ...] = ("binary", "plays", "log1p", "minutes")


def user_time_split_store(
    store: Store,
    *,
    level: str = "track",
    source: str | Sequence[str] | None = None,
    weighting: str = "log1p",
    test_fraction: float = 0.2,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    users: Sequence[str] | None = None,
    keep_seen: bool = False,
) -> Split:
    """Per-user temporal split of the store's events: each user's own last share in test.

    A user with ``n`` dated events holds out ``m = floor(n * test_fraction)`` of them
    (:func:`~encore.evaluation.splits.user_time_test_counts`): the user's cut-off is the
    time of their ``m``-th latest event; train is the user's events before it, test the
    events from it on, each side aggregated into (user, item) rows separately, as in the
    global split. Test keeps only items new to the user (a test pair the user also
    played before the cut-off is dropped and counted), unless ``keep_seen`` (the ``play``
    task: repeats are kept and counted as ``test_rows_seen_kept``). Users with ``m = 0`` or whose events
    all share the cut-off time stay wholly in train (``stats["users_train_only"]``). As
    with ``global-time``, rows without a time (play counts, undated likes) are not used.

    Train is built one user at a time (each user has their own cut-off), so the weighting
    must be one of :data:`PER_PAIR_WEIGHTINGS`; the minimum-interaction filters are applied
    to the whole train afterwards.

    Raises
    ------
    ConfigError
        ``test_fraction`` outside (0, 1), or a weighting that needs every user at once.
    DataError
        No dated events, or a side of the split is empty.
    """
    from encore.data.dataset import build_interactions, k_core
    from encore.evaluation.splits import user_time_min_rows, user_time_test_counts

    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if weighting not in PER_PAIR_WEIGHTINGS:
        raise ConfigError(
            f"the user-time split cannot use the {weighting!r} weighting",
            hint=f"use one of {', '.join(PER_PAIR_WEIGHTINGS)} (bm25 and tfidf weigh a pair by every user's counts)",
        )
    srcs = _sources(source)
    conds = ["ts IS NOT NULL"]
    params: dict[str, Any] = {}
    if srcs:
        conds.append("source = ANY($s)")
        params["s"] = srcs
    if users is not None:
        conds.append("user_id = ANY($u)")
        params["u"] = [str(u) for u in users]
    events = f"SELECT user_id, ts FROM events WHERE {' AND '.join(conds)}"
    counts = store.con.execute(
        f"SELECT user_id, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts "
        f"FROM ({events}) GROUP BY user_id ORDER BY user_id",
        params,
    ).df()
    if counts.empty:
        raise DataError(
            "the user-time split needs dated events; this data has none",
            hint="use --split random (e.g. for HetRec play counts)",
        )
    counts["user_id"] = counts["user_id"].astype(str)
    counts["n_test"] = user_time_test_counts(counts["n"].to_numpy(), test_fraction)
    want = counts[counts["n_test"] > 0]
    cuts = store.con.execute(
        f"""WITH r AS (SELECT user_id, ts, row_number() OVER (PARTITION BY user_id ORDER BY ts) AS rn
                       FROM ({events})),
                want AS (SELECT unnest($wu) AS user_id, unnest($wr) AS rn)
            SELECT r.user_id, r.ts AS cutoff FROM r JOIN want USING (user_id, rn)""",
        {
            **params,
            "wu": want["user_id"].tolist(),
            "wr": (want["n"] - want["n_test"] + 1).astype("int64").tolist(),
        },
    ).df()
    counts = counts.merge(cuts.astype({"user_id": str}), on="user_id", how="left")
    eligible = counts["cutoff"].notna() & (counts["cutoff"] > counts["first_ts"])
    common: dict[str, Any] = {"level": level, "weighting": weighting, "source": srcs}
    parts: list[pd.DataFrame] = []

    def add(user_ids: list[str], date_to: pd.Timestamp) -> None:
        try:
            parts.append(build_interactions(store, users=user_ids, date_to=date_to, **common))
        except DataError:  # e.g. only skipped plays before the cut-off: nothing to train on
            logger.info("user-time split: no train rows for %s", user_ids)

    for user, cutoff in zip(
        counts.loc[eligible, "user_id"], counts.loc[eligible, "cutoff"], strict=True
    ):
        add([user], pd.Timestamp(cutoff))
    train_only = counts.loc[~eligible, "user_id"].tolist()
    if train_only:
        add(train_only, pd.Timestamp(counts["last_ts"].max()) + pd.Timedelta(microseconds=1))
    raw_train = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["user_id", "item_id", "weight", "ts"])
    )
    train = k_core(raw_train, min_user_interactions, min_item_interactions)
    test = pd.DataFrame(columns=raw_train.columns)
    test_users = counts.loc[eligible, ["user_id", "cutoff"]]
    if len(test_users):
        later = build_interactions(
            store,
            users=test_users["user_id"].tolist(),
            date_from=pd.Timestamp(test_users["cutoff"].min()),
            **common,
        )
        later = later.merge(test_users, on="user_id")
        test = later[later["ts"] >= later["cutoff"]].drop(columns="cutoff")
    seen = (
        test.merge(
            raw_train[["user_id", "item_id"]].drop_duplicates(),
            on=["user_id", "item_id"],
            how="left",
            indicator=True,
        )["_merge"]
        .eq("both")
        .to_numpy()
    )
    extra = {
        "users_train_only": len(train_only),
        "test_rows_seen_dropped": int(seen.sum()),
        "test_users_only_seen_dropped": len(set(test["user_id"]) - set(test.loc[~seen, "user_id"])),
    }
    if keep_seen:
        extra = {
            "users_train_only": len(train_only),
            "test_rows_seen_kept": int(seen.sum()),
        }
        seen = np.zeros(len(test), dtype=bool)
    split = _finish(
        train.sort_values(["user_id", "item_id"], kind="stable"),
        test[~seen].sort_values(["user_id", "item_id"], kind="stable"),
        method="user-time",
        description=(
            f"per-user temporal split: each user's last {test_fraction:.0%} of their own events by time in test "
            f"(each user cut at their own time), {'repeats kept' if keep_seen else 'new items only'}; "
            f"{len(train_only):,} users with fewer than "
            f"{user_time_min_rows(test_fraction)} dated events (or all at one time) only in train; "
            "test users and items must be in train"
        ),
        extra_stats=extra,
    )
    split = _with_events(split, store, level=level, source=srcs, users=users)
    assert split.events is not None
    ev = split.events.merge(counts[["user_id", "cutoff"]], on="user_id", how="left")
    before = (
        ev["cutoff"].isna() | (ev["ts"] < ev["cutoff"]) | ~ev["user_id"].isin(test_users["user_id"])
    )
    after = ~before & ev["user_id"].isin(set(split.test["user_id"]))
    return dataclasses.replace(
        split,
        events=ev.loc[before, split.events.columns].reset_index(drop=True),
        test_events=ev.loc[after, split.events.columns].reset_index(drop=True),
    )


def _with_events(split: Split, store: Store, **filters: Any) -> Split:
    """The split with its train side's events (for sequence models), limited to the
    users and items of train."""
    from encore.recommenders.sequence import load_events

    events = load_events(store, **filters)
    keep = events["user_id"].isin(set(split.train["user_id"])) & events["item_id"].isin(
        set(split.train["item_id"])
    )
    return dataclasses.replace(split, events=events[keep].reset_index(drop=True))


def _with_test_events(split: Split, store: Store, **filters: Any) -> Split:
    """The split with its test side's events in time order (for
    :mod:`encore.evaluation.next_new`), limited to the test users and train items."""
    from encore.recommenders.sequence import load_events

    events = load_events(store, **filters)
    keep = events["user_id"].isin(set(split.test["user_id"])) & events["item_id"].isin(
        set(split.train["item_id"])
    )
    return dataclasses.replace(split, test_events=events[keep].reset_index(drop=True))


#: Short names accepted by ``--data`` besides the store's source (loader) names.
DATA_ALIASES: dict[str, str] = {"hetrec": "hetrec2011", "lastfm-2k": "hetrec2011"}
#: ``--data`` names that select users by id namespace rather than by source.
USER_NAMESPACES: dict[str, str] = {"listening-histories": "lh:", "lh": "lh:"}


@dataclass(frozen=True)
class DataSelection:
    """Which interactions of the store to evaluate on."""

    name: str
    sources: list[str] | None
    users: list[str] | None


def store_sources(store: Store) -> list[str]:
    """Sources that hold interactions (events, play counts or likes)."""
    rows = store.con.execute(
        "SELECT DISTINCT source FROM events UNION SELECT DISTINCT source FROM playcounts "
        "UNION SELECT DISTINCT source FROM likes ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def select_data(store: Store, data: str | None) -> DataSelection:
    """Resolve ``--data``: ``all``/None, source names (comma-separated), an alias, or a
    user namespace (``listening-histories`` selects the ``lh:`` users of any source).

    Raises
    ------
    UnknownIdError
        A source the store does not hold (the hint lists those it does).
    DataError
        The store holds no interactions.
    """
    from encore.errors import UnknownIdError

    available = store_sources(store)
    if not available:
        raise DataError("the store holds no interactions", hint="run `encore ingest` first")
    if data is None or data == "all":
        return DataSelection("all", None, None)
    if data in USER_NAMESPACES:
        prefix = USER_NAMESPACES[data]
        rows = store.con.execute(
            "SELECT DISTINCT user_id FROM events WHERE starts_with(user_id, $p) "
            "UNION SELECT DISTINCT user_id FROM likes WHERE starts_with(user_id, $p) ORDER BY 1",
            {"p": prefix},
        ).fetchall()
        if not rows:
            raise UnknownIdError(
                "data", [data], hint=f"no users with ids starting {prefix!r}; ingest them first"
            )
        return DataSelection(data, None, [str(r[0]) for r in rows])
    names = [DATA_ALIASES.get(d.strip(), d.strip()) for d in data.split(",") if d.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UnknownIdError(
            "data source",
            unknown,
            hint="the store holds: " + ", ".join([*available, *USER_NAMESPACES]),
        )
    return DataSelection(data, names, None)


# ---------------------------------------------------------------------------------------
# fitting and scoring
# ---------------------------------------------------------------------------------------


@dataclass
class ModelRun:
    """One model's fit, recommendations and metrics on one split."""

    name: str
    config: dict[str, Any]
    fit_seconds: float = float("nan")
    recommend_seconds: float = float("nan")
    peak_memory_mb: float = float("nan")
    result: MetricResult | None = None
    error: str | None = None
    tuned: bool = False


@dataclass
class Comparison:
    """Every model's run on one split, with the table and paired intervals built from them."""

    split: Split
    runs: list[ModelRun]
    ks: tuple[int, ...]
    data_name: str
    level: str
    extra: dict[str, Any] = field(default_factory=dict)

    def ok_runs(self) -> list[ModelRun]:
        """Runs that finished."""
        return [r for r in self.runs if r.result is not None]

    def table(self) -> pd.DataFrame:
        """One row per model: metrics at each k, coverage, novelty, diversity, times.

        ``beats_baselines`` says whether the model's main metric (NDCG at the smallest k)
        is above every baseline's in the table.
        """
        rows = []
        for r in self.runs:
            row: dict[str, Any] = {"model": r.name}
            if r.result is not None:
                row.update(r.result.summary)
                row["n_users"] = r.result.n_users
            row["fit_s"] = r.fit_seconds
            row["recommend_s"] = r.recommend_seconds
            row["peak_mem_mb"] = r.peak_memory_mb
            row["tuned"] = r.tuned
            row["config"] = ", ".join(f"{k}={v}" for k, v in r.config.items())
            row["error"] = r.error or ""
            rows.append(row)
        table = pd.DataFrame(rows)
        main = self.main_metric
        if main in table.columns:
            baselines = baseline_models()
            base = table[table["model"].isin(baselines)][main]
            best_base = float(base.max()) if len(base) and base.notna().any() else float("nan")
            table["beats_baselines"] = [
                None if m in baselines or np.isnan(best_base) or pd.isna(v) else bool(v > best_base)
                for m, v in zip(table["model"], table[main], strict=True)
            ]
        return table

    @property
    def main_metric(self) -> str:
        """``ndcg@k`` at the smallest k."""
        return f"ndcg@{min(self.ks)}"

    def best(self, metric: str | None = None) -> ModelRun:
        """The finished run with the highest ``metric`` (default: :attr:`main_metric`).

        Raises
        ------
        DataError
            When no run finished.
        """
        metric = metric or self.main_metric
        ok = self.ok_runs()
        if not ok:
            raise DataError("no model finished; nothing to compare")
        return max(
            ok,
            key=lambda r: (
                r.result.summary.get(metric, float("-inf")) if r.result else float("-inf")
            ),
        )

    def bootstrap(
        self, metric: str | None = None, *, n_boot: int = 2000, seed: int = 0
    ) -> pd.DataFrame:
        """Paired bootstrap of the best model against each other model on ``metric``."""
        metric = metric or self.main_metric
        best = self.best(metric)
        assert best.result is not None
        rows = []
        for r in self.ok_runs():
            if r is best or r.result is None:
                continue
            bs = paired_bootstrap(
                best.result.per_user[metric], r.result.per_user[metric], n_boot=n_boot, seed=seed
            )
            rows.append(
                {
                    "model": best.name,
                    "versus": r.name,
                    "metric": metric,
                    "diff": bs.mean_diff,
                    "low": bs.low,
                    "high": bs.high,
                    "p_value": bs.p_value,
                    "n_users": bs.n_users,
                    "significant": bs.significant,
                }
            )
        return pd.DataFrame(rows)

    def per_user(self) -> pd.DataFrame:
        """Long frame of per-user values: ``model, user_id, metric, value``."""
        frames = []
        for r in self.ok_runs():
            assert r.result is not None
            long = r.result.per_user.reset_index().melt(
                id_vars="user_id", var_name="metric", value_name="value"
            )
            frames.append(long.assign(model=r.name))
        if not frames:
            return pd.DataFrame(columns=["model", "user_id", "metric", "value"])
        return pd.concat(frames, ignore_index=True)[["model", "user_id", "metric", "value"]]


def resolve_models(
    models: str | Sequence[str], *, has_time: bool, n_items: int | None = None
) -> list[str]:
    """Model names from ``"all"``, a comma-separated string or a list, baselines first.

    The baselines (models whose class sets ``baseline_rank``) are always added. Without
    timestamps (``has_time`` False) models whose class sets ``needs_timestamps`` are left
    out. ``all`` skips models whose class sets an ``item_limit`` when the catalogue is
    larger than it (named in the log).

    Raises
    ------
    UnknownIdError
        For an unknown model name.
    """
    from encore.errors import UnknownIdError
    from encore.recommenders.registry import available_models, model_class

    known = list(available_models())
    if isinstance(models, str):
        names = (
            known
            if models.strip() == "all"
            else [m.strip() for m in models.split(",") if m.strip()]
        )
        everything = models.strip() == "all"
    else:
        names = list(models)
        everything = False
    unknown = [m for m in names if m not in known]
    if unknown:
        raise UnknownIdError("model", unknown, hint=f"available: {', '.join(known)}")

    def usable(name: str) -> bool:
        return has_time or not model_class(name).needs_timestamps

    base = [b for b in baseline_models() if b in known and usable(b)]
    out = base + [m for m in names if m not in base and usable(m)]
    if everything and n_items is not None:
        skipped = [m for m in out if n_items > (model_class(m).item_limit or n_items)]
        if skipped:
            logger.warning("skipping %s: %d items is above their limit", skipped, n_items)
        out = [m for m in out if m not in skipped]
    return out


def run_model(
    name: str,
    dataset: InteractionDataset,
    split: Split,
    *,
    config: Mapping[str, Any] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    item_genres: pd.Series | None = None,
    measure_memory: bool = False,
    keep_recommendations: bool = False,
    task: str = "new",
) -> tuple[ModelRun, pd.DataFrame | None]:
    """Fit one model on ``dataset`` (built from ``split.train``) and score it on ``split.test``
    for ``task`` (:data:`TASKS`).

    Errors raised by Encore (bad config, too little data) and running out of memory are
    recorded in the run rather than raised, so that one failing model does not sink a
    comparison.
    """
    from encore.recommenders.registry import get_model

    cfg = dict(config or {})
    run = ModelRun(name=name, config=dict(cfg))
    try:
        model: Recommender = get_model(name, **cfg)
        run.config = model.get_config()
        if measure_memory:
            tracemalloc.start()
        t0 = time.perf_counter()
        model.fit(dataset)
        run.fit_seconds = time.perf_counter() - t0
        users = pd.unique(split.test["user_id"])
        t0 = time.perf_counter()
        if check_task(task) == "next-new":
            from encore.evaluation.next_new import next_new_metric_result, score_next_new

            scored = next_new_metric_result(score_next_new(model, dataset, split, k=max(ks)), ks)
            recs = None
        else:
            recs = model.recommend(users, k=max(ks), exclude_seen=task == "new")
        run.recommend_seconds = time.perf_counter() - t0
        if measure_memory:
            _, peak = tracemalloc.get_traced_memory()
            run.peak_memory_mb = peak / 2**20
    except (EncoreError, MemoryError) as exc:
        logger.warning("%s failed: %s", name, exc)
        run.error = f"{type(exc).__name__}: {exc}"
        return run, None
    finally:
        if measure_memory and tracemalloc.is_tracing():
            tracemalloc.stop()
    if recs is None:  # next-new: scored target by target above
        run.result = scored
        logger.info("%s: %s", name, {k: round(v, 4) for k, v in run.result.summary.items()})
        return run, None
    run.result = evaluate_recommendations(
        recs,
        split.test,
        train=split.train,
        ks=ks,
        catalogue_size=dataset.n_items,
        item_genres=item_genres,
        exclude_seen=task == "new",
    )
    logger.info("%s: %s", name, {k: round(v, 4) for k, v in run.result.summary.items()})
    return run, recs if keep_recommendations else None


def evaluate_models(
    split: Split,
    models: str | Sequence[str] = "all",
    *,
    ks: Sequence[int] = DEFAULT_KS,
    level: str = "track",
    data_name: str = "",
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    tune: bool = False,
    tune_trials: int = 8,
    item_genres: pd.Series | None = None,
    seed: int = 0,
    measure_memory: bool = False,
    progress: Progress | None = None,
    task: str = "new",
) -> Comparison:
    """Fit and score every model on one split.

    Parameters
    ----------
    split:
        The train/test split (e.g. from :func:`split_store` or :func:`~encore.evaluation.splits.given_split`).
    models:
        ``"all"``, names separated by commas, or a list; baselines are always added.
    ks:
        Cut-offs; the first table metric is NDCG at the smallest.
    level:
        Item level, for the report.
    data_name:
        Name of the data, for the report.
    configs:
        Per-model config overrides.
    tune:
        Grid-search each model's hyperparameters on a validation split carved from
        train (see :mod:`encore.evaluation.tuning`) before the final fit.
    tune_trials:
        Most configurations tried per model when tuning.
    item_genres:
        Item -> coarse genre, for intra-list diversity.
    seed:
        Seed of the validation split and of models with randomness (when they take one).
    measure_memory:
        Record tracemalloc's peak during fit + recommend (slows pure-Python code).
    progress:
        Called with a short message before each step.
    task:
        ``new`` (next new items, the default), ``play`` (next plays, repeats allowed;
        with the ``user-time`` split, make it with ``keep_seen=True``) or ``first-new``
        (each user's first new item after the cut-off only; the split needs the order of
        its test side, :func:`~encore.evaluation.next_new.first_new_split`) or ``next-new``
        (every next new item with the state updated by the test events before it,
        :func:`~encore.evaluation.next_new.score_next_new`); tuning scores both on ``new``.

    Returns
    -------
    Comparison
    """
    from encore.data.dataset import InteractionDataset

    say = progress or (lambda _msg: None)
    check_task(task)
    report_task = task
    if task == "first-new":  # the "new" task on each user's first new item only
        from encore.evaluation.next_new import first_new_split

        split = first_new_split(split)
        task = "new"
    elif task == "next-new":
        from encore.evaluation.next_new import next_new_targets

        next_new_targets(split)  # fails early when the split carries no order of its test side
    dataset = InteractionDataset.from_interactions(split.train, item_level=level)
    dataset = _dataset_events(split, dataset)
    # models that need times (needs_timestamps) are left out without any; pairs without
    # one (undated likes) just count zero there
    has_time = bool(split.train["ts"].notna().any()) if "ts" in split.train else False
    names = (
        resolve_models(models, has_time=has_time, n_items=dataset.n_items)
        if isinstance(models, str)
        else (resolve_models(list(models), has_time=has_time))
    )
    configs = configs or {}
    runs: list[ModelRun] = []
    tuning_tables: dict[str, pd.DataFrame] = {}
    for name in names:
        cfg: dict[str, Any] = dict(configs.get(name, {}))
        tuned = False
        if tune:
            from encore.evaluation.tuning import tune_model

            say(f"tuning {name}")
            result = tune_model(
                name,
                split,
                ks=ks,
                base_config=cfg,
                max_trials=tune_trials,
                seed=seed,
                level=level,
                task=task if task in ("new", "play") else "new",
            )
            tuning_tables[name] = result.trials
            if result.best_config is not None:
                cfg = dict(result.best_config)
                tuned = True
        say(f"fitting {name}")
        run, _ = run_model(
            name,
            dataset,
            split,
            config=cfg,
            ks=ks,
            item_genres=item_genres,
            measure_memory=measure_memory,
            task=task,
        )
        run.tuned = tuned
        runs.append(run)
    return Comparison(
        split=split,
        runs=runs,
        ks=tuple(sorted(set(ks))),
        data_name=data_name,
        level=level,
        extra={
            "tuning": tuning_tables,
            "n_items": dataset.n_items,
            "n_users": dataset.n_users,
            "seed": seed,
            "task": report_task,
        },
    )


def _dataset_events(split: Split, dataset: InteractionDataset) -> InteractionDataset:
    """The dataset with the split's train events for sequence models: those the store-side
    splits carried, else a given train file's rows as plays (one per row, with its time)."""
    from encore.recommenders.sequence import attach_events

    if split.events is not None:
        return attach_events(dataset, split.events)
    if split.method == "given" and "ts" in split.train and split.train["ts"].notna().all():
        events = split.train[["user_id", "item_id", "ts"]].assign(kind="play")
        return attach_events(dataset, events.sort_values(["user_id", "ts"], kind="stable"))
    return dataset
