"""Simple hyperparameter search on a validation split carved from train.

The test set is never looked at: the validation split is made from ``split.train`` with
the same method (:func:`~encore.evaluation.splits.validation_split`). Each model has a
small grid of the settings that matter most (its class's ``search_space``, beside its
``config_class``); when the grid is larger than
``max_trials`` a seeded random subset is tried (the default config always is). A grid
keeps optuna out of the dependencies; with eight or so trials per model a sampler would
not beat it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import DataError
from encore.evaluation.metrics import DEFAULT_KS
from encore.evaluation.splits import Split, validation_split

logger = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """Outcome of a search: the best config (None if every trial failed) and all trials."""

    name: str
    best_config: dict[str, Any] | None
    best_value: float
    metric: str
    trials: pd.DataFrame


def candidate_configs(
    name: str,
    *,
    base_config: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    max_trials: int = 8,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Configs to try for model ``name``: the base config first, then grid points.

    ``grid`` defaults to the model class's ``search_space``.

    Grid fields the model's config does not have are dropped (logged); fields fixed in
    ``base_config`` are not searched.
    """
    from encore.recommenders.registry import model_class

    cls = model_class(name)
    fields = set(cls.config_class.model_fields)
    base = dict(base_config or {})
    raw = dict(grid if grid is not None else cls.search_space)
    unknown = sorted(set(raw) - fields)
    if unknown:
        logger.debug("%s has no config field(s) %s; not searched", name, unknown)
    space = {k: list(v) for k, v in raw.items() if k in fields and k not in base}
    configs: list[dict[str, Any]] = [base]
    if not space:
        return configs
    keys = sorted(space)
    points = [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(space[k] for k in keys))
    ]
    rng = np.random.default_rng(seed)
    if len(points) > max(0, max_trials - 1):
        pick = rng.choice(len(points), size=max(0, max_trials - 1), replace=False)
        points = [points[i] for i in sorted(pick)]
    for p in points:
        cfg = {**base, **p}
        if cfg not in configs:
            configs.append(cfg)
    return configs


def tune_model(
    name: str,
    split: Split,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    metric: str | None = None,
    base_config: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    max_trials: int = 8,
    seed: int = 0,
    level: str = "track",
    task: str = "new",
) -> TuneResult:
    """Search model ``name``'s config on a validation split carved from ``split.train``.

    Parameters
    ----------
    name:
        A registered model.
    split:
        The evaluation split; only its train part is used.
    ks:
        Cut-offs; ``metric`` defaults to NDCG at the smallest.
    metric:
        The per-user metric to maximise, e.g. ``"ndcg@10"``.
    base_config:
        Fixed settings (not searched).
    grid:
        Candidate values per field (default: the model class's ``search_space``).
    max_trials:
        Most configs tried.
    seed:
        Seed of the validation split and of the grid subset.
    level:
        Item level of the data.
    task:
        The evaluation task scored (``new`` or ``play``).

    Returns
    -------
    TuneResult

    Raises
    ------
    DataError
        When train is too small to carve a validation split from.
    """
    from encore.data.dataset import InteractionDataset
    from encore.evaluation.runner import _dataset_events, run_model

    metric = metric or f"ndcg@{min(ks)}"
    val = validation_events(split, validation_split(split, seed=seed))
    dataset = _dataset_events(
        val, InteractionDataset.from_interactions(val.train, item_level=level)
    )
    rows = []
    best: dict[str, Any] | None = None
    best_value = float("-inf")
    for cfg in candidate_configs(
        name, base_config=base_config, grid=grid, max_trials=max_trials, seed=seed
    ):
        run, _ = run_model(name, dataset, val, config=cfg, ks=ks, task=task)
        value = (
            run.result.summary.get(metric, float("nan")) if run.result is not None else float("nan")
        )
        rows.append(
            {
                "model": name,
                **{f"cfg.{k}": v for k, v in cfg.items()},
                metric: value,
                "fit_s": run.fit_seconds,
                "error": run.error or "",
            }
        )
        if run.result is not None and value > best_value:
            best_value, best = value, dict(cfg)
    if not rows:
        raise DataError(f"no configuration of {name} could be tried")
    logger.info("tuned %s: best %s=%.4f with %s", name, metric, best_value, best)
    return TuneResult(
        name=name, best_config=best, best_value=best_value, metric=metric, trials=pd.DataFrame(rows)
    )


def validation_events(split: Split, val: Split) -> Split:
    """``val`` with the train side of ``split``'s events (the sequence models' input), so
    that tuning sees the events in order, as the final fit does.

    An event is kept when it is before its user's validation cut-off (the earliest time in
    the user's validation test rows; none: every event) and its (user, item) pair is in
    ``val.train`` (skips, which make no pair, only by time). Without events, or without
    times in ``val.test``, ``val`` is returned as it is.
    """
    import dataclasses

    events = split.events
    if events is None or not len(events) or "ts" not in val.test:
        return val
    test_ts = pd.to_datetime(val.test["ts"], errors="coerce")
    if test_ts.isna().all():
        return val
    cut = test_ts.groupby(val.test["user_id"].astype(str)).min()
    user_cut = events["user_id"].astype(str).map(cut)
    before = (user_cut.isna() | (events["ts"] < user_cut)).to_numpy()
    pairs = pd.MultiIndex.from_frame(val.train[["user_id", "item_id"]].astype({"user_id": str}))
    in_train = pd.MultiIndex.from_arrays([events["user_id"].astype(str), events["item_id"]]).isin(
        pairs
    )
    keep = before & (in_train | (events["kind"] == "skip").to_numpy())
    return dataclasses.replace(val, events=events[keep].reset_index(drop=True))
