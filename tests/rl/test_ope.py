"""Off-policy estimators: exact values on a hand-made log, and bias on synthetic logs."""

from __future__ import annotations

import numpy as np
import pytest

from encore.errors import ConfigError, DataError
from encore.rl.ope import (
    LoggedRounds,
    SyntheticBandit,
    effective_sample_size,
    estimate,
    synthetic_check,
)


def test_estimators_on_a_hand_made_log() -> None:
    rounds = LoggedRounds(
        reward=np.array([1.0, 0.0, 1.0, 1.0]),
        propensity=np.array([0.5, 0.25, 0.5, 1.0]),
        target=np.array([1.0, 0.5, 0.0, 1.0]),
        q_logged=np.array([0.8, 0.2, 0.6, 0.9]),
        q_policy=np.array([0.7, 0.3, 0.5, 0.9]),
    )
    table = estimate(rounds, n_boot=0, tau=1.5).set_index("estimator")
    w = np.array([2.0, 2.0, 0.0, 1.0])
    assert table.loc["ips", "value"] == pytest.approx((2 + 0 + 0 + 1) / 4)
    assert table.loc["snips", "value"] == pytest.approx(3 / 5)
    assert table.loc["dm", "value"] == pytest.approx(0.6)
    dr = np.mean([0.7 + 2 * 0.2, 0.3 + 2 * -0.2, 0.5, 0.9 + 0.1])
    assert table.loc["dr", "value"] == pytest.approx(dr)
    # weights above tau=1.5 fall back on the reward model alone
    assert table.loc["switch_dr", "value"] == pytest.approx(np.mean([0.7, 0.3, 0.5, 1.0]))
    assert (
        table.loc["ips", "ess"] == pytest.approx(effective_sample_size(w)) == pytest.approx(25 / 9)
    )


def test_bootstrap_interval_brackets_the_value_and_groups_resample() -> None:
    rounds, _ = SyntheticBandit(seed=1).sample(1000, seed=2)
    grouped = LoggedRounds(**{**rounds.__dict__, "groups": np.arange(1000) % 25})
    for r in (rounds, grouped):
        t = estimate(r, n_boot=50, seed=0)
        assert ((t["low"] <= t["value"]) & (t["value"] <= t["high"])).all()


def test_synthetic_check_self_normalised_and_doubly_robust_are_nearly_unbiased() -> None:
    """Small settings (30 logs of 1,000 rounds); `encore rl ope-check` runs 100 per size."""
    table, truth = synthetic_check(n_rounds=[1000], repeats=30, n_boot=30)
    t = table.set_index("estimator")
    assert 0.5 < truth < 1.0
    for name in ("snips", "dr", "switch_dr"):
        # bias within 3 standard errors of the mean estimate, and a small RMSE
        assert abs(t.loc[name, "bias"]) < 3 * t.loc[name, "std"] / np.sqrt(30) + 0.01
        assert t.loc[name, "rmse"] < 0.1
    # the reward model alone is biased (misspecified) but steady; IPS is the noisiest
    assert t.loc["ips", "std"] > t.loc["snips", "std"] > t.loc["switch_dr", "std"]


def test_bad_logs_are_refused() -> None:
    with pytest.raises(DataError, match="propensities"):
        LoggedRounds(reward=np.ones(2), propensity=np.array([0.5, 0.0]), target=np.ones(2))
    with pytest.raises(DataError, match="rounds"):
        LoggedRounds(reward=np.ones(2), propensity=np.ones(3), target=np.ones(2))
    ok = LoggedRounds(reward=np.ones(2), propensity=np.ones(2), target=np.ones(2))
    with pytest.raises(ConfigError, match="unknown estimator"):
        estimate(ok, ["magic"])
