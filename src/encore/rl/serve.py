"""Serve a list with exact propensities, so that future logs support exact off-policy evaluation.

The real logs have no propensities (:mod:`encore.rl.logging_policy` has to estimate them).
A list Encore serves through :func:`explore_slate` is drawn by a known stochastic policy,
**slot-wise epsilon-greedy** over the model's ranked candidates: at each slot, with
probability ``1 - epsilon`` the best candidate not yet shown, else one drawn uniformly
from the candidates not yet shown. The probability of what was shown at each slot given
the slots before it is then known exactly and is logged with it
(``propensity``), together with the slate's probability (the product). ``epsilon = 0``
serves the model's own list (every propensity 1: nothing else could have been shown, and
such logs support only the policy that made them).

The candidates are the model's top ``pool`` (default 100) unseen tracks; exploration is
among them, and the logged propensities are exact for that pool.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from encore.errors import ConfigError

LOG_COLUMNS: tuple[str, ...] = (
    "served_at",
    "user_id",
    "policy",
    "epsilon",
    "seed",
    "rank",
    "item_id",
    "greedy_rank",
    "explored",
    "propensity",
    "slate_propensity",
)


def explore_slate(ranked: pd.DataFrame, k: int, *, epsilon: float, seed: int) -> pd.DataFrame:
    """Draw ``k`` of ``ranked``'s items (best first) slot by slot (module docstring).

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``ranked`` in slot order, with ``rank``, ``greedy_rank`` (the
        item's place in the model's list), ``explored`` and ``propensity`` (exact).

    Raises
    ------
    ConfigError
        ``epsilon`` outside [0, 1] or ``k`` < 1.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"--epsilon must be between 0 and 1, not {epsilon}")
    if k < 1:
        raise ConfigError(f"-n must be a positive whole number, not {k}")
    rng = np.random.default_rng(seed)
    left = list(range(len(ranked)))
    picks: list[int] = []
    props: list[float] = []
    explored: list[bool] = []
    for _ in range(min(k, len(ranked))):
        n_left = len(left)
        if rng.random() < epsilon:
            choice = left[int(rng.integers(0, n_left))]
            was_explored = True
        else:
            choice = left[0]
            was_explored = False
        p = epsilon / n_left + ((1.0 - epsilon) if choice == left[0] else 0.0)
        picks.append(choice)
        props.append(p)
        explored.append(was_explored)
        left.remove(choice)
    out = ranked.iloc[picks].copy().reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["greedy_rank"] = np.asarray(picks) + 1
    out["explored"] = explored
    out["propensity"] = props
    return out


def append_log(
    path: Path, slate: pd.DataFrame, *, user_id: str, policy: str, epsilon: float, seed: int
) -> Path:
    """Append the served slate to a CSV log (:data:`LOG_COLUMNS`; header when new)."""
    if path.suffix.lower() != ".csv":
        raise ConfigError(f"--log {path}: the propensity log is a .csv file")
    frame = pd.DataFrame(
        {
            "served_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "user_id": user_id,
            "policy": policy,
            "epsilon": epsilon,
            "seed": seed,
            "rank": slate["rank"].to_numpy(),
            "item_id": slate["item_id"].to_numpy(),
            "greedy_rank": slate["greedy_rank"].to_numpy(),
            "explored": slate["explored"].to_numpy(),
            "propensity": slate["propensity"].to_numpy(),
            "slate_propensity": float(np.prod(slate["propensity"].to_numpy())),
        },
        columns=list(LOG_COLUMNS),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    frame.to_csv(path, mode="a", header=new, index=False)
    return path
