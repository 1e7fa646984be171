"""Paired bootstrap intervals for the difference between two models' per-user metrics.

Both models are scored on the same users; resampling users with replacement (the same
resample for both models) keeps the pairing, so the interval reflects how much the
difference depends on which users happened to be in the test set.

With few users such an interval means little (one person's tastes decide it), so
reports give intervals, p-values and "significant" verdicts only from
:data:`MIN_USERS_FOR_INTERVALS` evaluated users on (:func:`sample_too_small`); below that
they say so instead (:func:`small_sample_sentence`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

#: Fewest evaluated users for which reports give bootstrap intervals, p-values and
#: verdicts ("significant", "beats the baselines"); below it they say the sample is too small.
MIN_USERS_FOR_INTERVALS = 30


def sample_too_small(n_users: int) -> bool:
    """Whether ``n_users`` evaluated users are too few for intervals and verdicts."""
    return n_users < MIN_USERS_FOR_INTERVALS


def small_sample_sentence(n_users: int) -> str:
    """The sentence reports print instead of intervals when the sample is too small."""
    users = "user" if n_users == 1 else "users"
    return (
        f"The sample of {n_users:,} evaluated {users} is too small for intervals or significance "
        f"verdicts (they need at least {MIN_USERS_FOR_INTERVALS}): the means are descriptive "
        "only, and no difference between models is tested."
    )


@dataclass(frozen=True)
class BootstrapResult:
    """Mean difference ``a - b`` with a percentile interval.

    Attributes
    ----------
    mean_diff:
        Observed mean of the per-user differences.
    low, high:
        Percentile bootstrap interval at ``confidence``.
    p_value:
        Two-sided bootstrap p-value for "no difference" (share of resampled means on
        the other side of zero, doubled, at most 1).
    n_users:
        Users in both series (NaNs dropped pairwise).
    """

    mean_diff: float
    low: float
    high: float
    p_value: float
    n_users: int
    confidence: float
    n_boot: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for JSON)."""
        return {k: float(v) for k, v in asdict(self).items()}

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    a: pd.Series,
    b: pd.Series,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 250,
) -> BootstrapResult:
    """Bootstrap interval of ``mean(a - b)`` over users present in both series.

    Parameters
    ----------
    a, b:
        Per-user values indexed by user id (e.g. ``MetricResult.per_user["ndcg@10"]``).
    n_boot:
        Number of resamples.
    confidence:
        Interval coverage, in (0, 1).
    seed:
        Seed of the resampling.
    chunk:
        Resamples drawn at once (bounds memory at ``chunk * n_users`` integers).

    Returns
    -------
    BootstrapResult

    Raises
    ------
    ConfigError
        For ``n_boot < 1`` or ``confidence`` outside (0, 1).
    DataError
        When the series share no user.
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be positive, got {n_boot}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    if joined.empty:
        raise DataError("the two models share no evaluated user; cannot pair them")
    diff = (joined["a"] - joined["b"]).to_numpy(dtype=float)
    n = len(diff)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(m, n))
        means[done : done + m] = diff[idx].mean(axis=1)
        done += m
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    below = float((means <= 0).mean())
    above = float((means >= 0).mean())
    p = min(1.0, 2.0 * min(below, above))
    return BootstrapResult(
        mean_diff=float(diff.mean()),
        low=float(low),
        high=float(high),
        p_value=p,
        n_users=n,
        confidence=confidence,
        n_boot=n_boot,
    )
