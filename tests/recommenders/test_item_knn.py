"""Contract tests for the `item_knn` recommender."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from contract import RecommenderContract, random_dataset

from encore.recommenders.knn import ItemKNN
from encore.recommenders.registry import get_model


class TestItemKNNCosine(RecommenderContract):
    model_name: ClassVar[str] = "item_knn"
    config: ClassVar[dict[str, Any]] = {"similarity": "cosine", "k": 20}


class TestItemKNNBM25(RecommenderContract):
    model_name: ClassVar[str] = "item_knn"
    config: ClassVar[dict[str, Any]] = {"similarity": "bm25", "k": 20}


def test_cosine_matches_sklearn() -> None:
    from sklearn.metrics.pairwise import cosine_similarity

    ds = random_dataset()
    model = get_model("item_knn", k=ds.n_items).fit(ds)
    assert isinstance(model, ItemKNN)
    ref = cosine_similarity(ds.matrix.T.toarray())
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), ref, rtol=1e-5, atol=1e-6)


def test_bm25_matches_implicit() -> None:
    from implicit.nearest_neighbours import BM25Recommender

    ds = random_dataset()
    model = get_model("item_knn", similarity="bm25", k=ds.n_items).fit(ds)
    assert isinstance(model, ItemKNN)
    peer = BM25Recommender(K=ds.n_items, K1=1.2, B=0.75, num_threads=1)
    peer.fit(ds.matrix.astype(np.float64), show_progress=False)
    ref = peer.similarity.toarray()
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), ref, rtol=1e-4, atol=1e-5)


def test_k_neighbours_pruned() -> None:
    ds = random_dataset()
    model = get_model("item_knn", k=5).fit(ds)
    assert isinstance(model, ItemKNN)
    assert model.similarity_.getnnz(axis=1).max() <= 5
