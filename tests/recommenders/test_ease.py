"""Contract tests for the `ease` recommender."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from contract import RecommenderContract, random_dataset

from encore.errors import DataError
from encore.recommenders.ease import EASE
from encore.recommenders.registry import get_model


class TestEASE(RecommenderContract):
    model_name: ClassVar[str] = "ease"
    config: ClassVar[dict[str, Any]] = {"l2": 10.0, "min_item_users": 1}


def _reference_ease(x: np.ndarray, l2: float) -> np.ndarray:
    """Steck's closed form in float64 with an explicit inverse (the textbook version)."""
    g = x.T @ x + l2 * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def test_weights_match_textbook_formula() -> None:
    ds = random_dataset(n_users=50, n_items=40)
    model = get_model("ease", l2=5.0, min_item_users=1).fit(ds)
    assert isinstance(model, EASE)
    ref = _reference_ease(ds.matrix.toarray().astype(np.float64), 5.0)
    np.testing.assert_allclose(model.weights_, ref, rtol=1e-3, atol=1e-5)
    assert model.matrix_bytes_ == 40 * 40 * 4
    assert model.weights_.dtype == np.float32


def test_pruning_min_users_and_cap() -> None:
    ds = random_dataset(n_users=40, n_items=60)
    users_per_item = np.diff(ds.matrix.tocsc().indptr)
    pruned = get_model("ease", l2=5.0, min_item_users=4).fit(ds)
    assert isinstance(pruned, EASE)
    kept = np.flatnonzero(users_per_item >= 4)
    assert pruned.model_items_.tolist() == kept.tolist()
    rec = pruned.recommend(list(ds.user_map.external_ids), k=ds.n_items)
    assert set(ds.item_map.to_internal(rec["item_id"])) <= set(kept.tolist())
    capped = get_model("ease", l2=5.0, min_item_users=1, max_items=10).fit(ds)
    assert isinstance(capped, EASE)
    assert capped.n_model_items == 10
    top10 = np.lexsort((np.arange(ds.n_items), -users_per_item))[:10]
    assert sorted(capped.model_items_.tolist()) == sorted(top10.tolist())
    with pytest.raises(DataError, match="min_item_users"):
        get_model("ease", min_item_users=1000).fit(ds)
