"""Contract tests for the `slim` recommender."""

from __future__ import annotations

from typing import Any, ClassVar

from contract import RecommenderContract, random_dataset

from encore.recommenders.registry import get_model
from encore.recommenders.slim import SLIM


class TestSLIM(RecommenderContract):
    model_name: ClassVar[str] = "slim"
    config: ClassVar[dict[str, Any]] = {"l1": 0.01, "l2": 1.0, "n_candidates": 20}


def test_weights_sparse_nonnegative_no_diagonal() -> None:
    ds = random_dataset()
    model = get_model("slim", l1=0.01, l2=1.0, n_candidates=10).fit(ds)
    assert isinstance(model, SLIM)
    w = model.weights_
    assert w.nnz > 0
    assert (w.data > 0).all()
    assert w.diagonal().max() == 0
    assert w.getnnz(axis=0).max() <= 10  # each item's model uses its candidates only
