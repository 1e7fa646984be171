"""Paired bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encore.errors import ConfigError, DataError
from encore.evaluation.stats import paired_bootstrap


def test_constant_difference_has_a_point_interval() -> None:
    b = pd.Series(np.linspace(0, 0.5, 50), index=[f"u{i}" for i in range(50)])
    res = paired_bootstrap(b + 0.1, b, n_boot=300)
    assert res.mean_diff == pytest.approx(0.1)
    assert res.low == pytest.approx(0.1) and res.high == pytest.approx(0.1)
    assert res.significant and res.p_value == 0.0


def test_noise_interval_contains_truth_and_pairs_by_user(rng: np.random.Generator) -> None:
    users = [f"u{i}" for i in range(400)]
    base = pd.Series(rng.random(400), index=users)
    a = base + rng.normal(0.02, 0.05, 400)
    res = paired_bootstrap(a, base.iloc[::-1], n_boot=1000, seed=1)  # order must not matter
    assert res.low < 0.02 < res.high
    assert res.low < res.mean_diff < res.high
    assert res.n_users == 400
    same = paired_bootstrap(base, base)
    assert not same.significant and same.p_value == 1.0
    assert paired_bootstrap(a, base, seed=3) == paired_bootstrap(a, base, seed=3)


def test_errors() -> None:
    a = pd.Series([1.0], index=["x"])
    with pytest.raises(DataError):
        paired_bootstrap(a, pd.Series([1.0], index=["y"]))
    with pytest.raises(ConfigError):
        paired_bootstrap(a, a, n_boot=0)
    with pytest.raises(ConfigError):
        paired_bootstrap(a, a, confidence=1.0)
