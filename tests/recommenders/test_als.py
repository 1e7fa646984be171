"""Contract tests for the `als` recommender; fold-in is exact (the final user step is a Cholesky solve)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from contract import RecommenderContract, random_dataset

from encore.recommenders.als import ALS
from encore.recommenders.registry import get_model


class TestALS(RecommenderContract):
    model_name: ClassVar[str] = "als"
    config: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 10, "regularization": 0.1}


def test_user_factors_are_exact_least_squares() -> None:
    ds = random_dataset()
    model = get_model("als", factors=8, iterations=5, alpha=2.0, regularization=0.1).fit(ds)
    assert isinstance(model, ALS)
    y = model.item_factors_.astype(np.float64)
    for u in range(3):
        row = ds.matrix[u]
        conf = 2.0 * row.data.astype(np.float64)
        yj = y[row.indices]
        a = y.T @ y + 0.1 * np.eye(8) + (yj * (conf - 1.0)[:, None]).T @ yj
        x = np.linalg.solve(a, yj.T @ conf)
        np.testing.assert_allclose(model.user_factors_[u], x, rtol=1e-3, atol=1e-4)
