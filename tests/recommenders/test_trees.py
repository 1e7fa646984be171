"""The numpy reader of LightGBM trees predicts what LightGBM predicts."""

from __future__ import annotations

import numpy as np
import pytest

from encore.errors import DataError
from encore.recommenders.trees import TreeEnsemble

lgb = pytest.importorskip("lightgbm")


def _data(rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 5)) * 2
    x[rng.random(x.shape) < 0.2] = 0.0
    y = (x[:, 0] > 0).astype(float) + 0.5 * (x[:, 1] > 1) + rng.normal(scale=0.1, size=n)
    return x, y


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_equal_to_lightgbm_with_zeros_and_nans(
    rng: np.random.Generator, zero_as_missing: bool
) -> None:
    x, y = _data(rng)
    train = x.copy()
    train[rng.random(train.shape) < 0.1] = np.nan  # learned default directions for NaN
    model = lgb.LGBMRegressor(
        n_estimators=40,
        num_leaves=7,
        min_child_samples=5,
        zero_as_missing=zero_as_missing,
        verbose=-1,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        random_state=0,
    ).fit(train, y)
    text = model.booster_.model_to_string()
    trees = TreeEnsemble.from_lightgbm_text(text)
    probe = x.copy()
    probe[rng.random(probe.shape) < 0.1] = np.nan
    np.testing.assert_allclose(
        trees.predict(probe), model.booster_.predict(probe), rtol=0, atol=1e-12
    )


def test_lambdarank_ranker(rng: np.random.Generator) -> None:
    x, y = _data(rng)
    labels = (y > 0.8).astype(int)
    ranker = lgb.LGBMRanker(
        objective="lambdarank",
        n_estimators=30,
        num_leaves=7,
        min_child_samples=5,
        verbose=-1,
        n_jobs=1,
        random_state=0,
    ).fit(x, labels, group=[100] * 6)
    trees = TreeEnsemble.from_lightgbm_text(ranker.booster_.model_to_string())
    np.testing.assert_allclose(trees.predict(x), ranker.booster_.predict(x), atol=1e-12)


def test_single_leaf_trees_and_errors(rng: np.random.Generator) -> None:
    x = rng.normal(size=(50, 3))
    y = np.ones(50)  # nothing to split on: one-leaf trees
    model = lgb.LGBMRegressor(n_estimators=3, verbose=-1, n_jobs=1).fit(x, y)
    trees = TreeEnsemble.from_lightgbm_text(model.booster_.model_to_string())
    np.testing.assert_allclose(trees.predict(x), model.booster_.predict(x))
    with pytest.raises(DataError, match="features per row"):
        trees.predict(np.zeros((2, 4)))
    with pytest.raises(DataError, match="not a LightGBM model"):
        TreeEnsemble.from_lightgbm_text("hello")
