"""Tests of the `hybrid` recommender (CF candidates re-ranked by a LightGBM ranker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from contract import RecommenderContract, random_dataset

from encore.data.dataset import InteractionDataset
from encore.errors import ConfigError
from encore.recommenders.base import Recommender
from encore.recommenders.hybrid import Hybrid
from encore.recommenders.registry import get_model

FAST_BASES: list[dict[str, Any]] = [
    {"model": "ease", "config": {"l2": 10.0, "min_item_users": 1}, "candidates": 20},
    {"model": "als", "config": {"factors": 8, "iterations": 10}, "candidates": 20},
    {"model": "item_knn", "config": {"k": 20}, "candidates": 20},
    {"model": "popular", "candidates": 5, "recent": False},
]
FAST: dict[str, Any] = {"bases": FAST_BASES, "n_estimators": 30}


class TestHybrid(RecommenderContract):
    model_name: ClassVar[str] = "hybrid"
    config: ClassVar[dict[str, Any]] = FAST


def timed_dataset(seed: int = 0) -> InteractionDataset:
    """The contract's random dataset with a time per pair (one day apart, shuffled)."""
    frame = random_dataset(seed=seed).interactions.drop(columns="ts")
    rng = np.random.default_rng(seed)
    days = rng.permutation(len(frame))
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")
    return InteractionDataset.from_interactions(frame, item_level="track")


def _fit(ds: InteractionDataset, **overrides: Any) -> Hybrid:
    model = get_model("hybrid", **{**FAST, **overrides}).fit(ds)
    assert isinstance(model, Hybrid)
    return model


@pytest.mark.parametrize("holdout", ["random", "user-time", "global-time"])
@pytest.mark.parametrize("folds", [1, 2])
def test_holdout_is_carved_from_train_without_overlap(holdout: str, folds: int) -> None:
    ds = timed_dataset()
    model = get_model("hybrid", **{**FAST, "holdout": holdout, "holdout_folds": folds})
    assert isinstance(model, Hybrid)
    carved = model._carve(ds)
    assert len(carved) == folds
    full = sp.csr_matrix(ds.matrix)
    times = ds.timestamps
    assert times is not None
    for fold, (inner, held) in enumerate(carved):
        assert inner.user_map is ds.user_map and inner.item_map is ds.item_map
        assert held.nnz > 0 and inner.matrix.nnz > 0
        # disjoint, and both are pairs of train with their weights
        assert inner.matrix.multiply(held).nnz == 0
        for part in (inner.matrix, held):
            r, c = part.nonzero()
            np.testing.assert_array_equal(np.asarray(full[r, c]).ravel(), part.data)
        share = held.nnz / full.nnz
        assert 0.1 < share < 0.35
        if holdout == "global-time":
            # every held-out pair is newer than every inner pair (one cut for all users)
            hr, hc = held.nonzero()
            ir, ic = inner.matrix.nonzero()
            assert np.asarray(times[hr, hc]).min() > np.asarray(times[ir, ic]).max()
        if holdout == "user-time":
            for u in range(ds.n_users):
                h = held[u].indices
                i = inner.matrix[u].indices
                if len(h) and len(i):
                    assert times[u, h].toarray().min() > times[u, i].toarray().max()
        if holdout != "random" and fold == 0:
            # the first fold trains on everything that is not held out
            assert inner.matrix.nnz + held.nnz == full.nnz
        if holdout == "random":
            assert inner.matrix.nnz + held.nnz == full.nnz
            # every user keeps at least one item
            assert (np.diff(inner.matrix.indptr) > 0).all()


def test_random_holdout_without_times_and_auto() -> None:
    ds = random_dataset()
    model = get_model("hybrid", **{**FAST, "holdout": "user-time"})
    assert isinstance(model, Hybrid)
    ((inner, held),) = model._carve(ds)  # no times: a random share instead
    assert inner.matrix.nnz + held.nnz == ds.nnz


def test_fit_is_deterministic_and_seeded() -> None:
    ds = timed_dataset()
    a, b = _fit(ds), _fit(ds)
    assert a.ranker_bytes_.tobytes() == b.ranker_bytes_.tobytes()
    users = list(ds.user_map.external_ids)
    pd.testing.assert_frame_equal(a.recommend(users, k=10), b.recommend(users, k=10))
    c = _fit(ds, seed=1)
    assert c.ranker_bytes_.tobytes() != a.ranker_bytes_.tobytes()


def test_ranker_is_trained_and_its_features_are_named() -> None:
    ds = random_dataset()
    model = _fit(ds)
    assert model._booster is not None
    names = model.feature_names()
    assert model._booster.num_feature() == len(names)
    assert names[:3] == ["0_ease_score", "0_ease_score_rel", "0_ease_rank"]
    assert "item_log_users" in names and "user_log_items" in names


def test_candidates_come_first_and_non_candidates_follow_by_popularity() -> None:
    ds = random_dataset()
    model = _fit(ds)
    user = ds.user_map.external_ids[0]
    every = model.recommend([user], k=ds.n_items)
    seen = set(ds.interactions.loc[ds.interactions["user_id"] == user, "item_id"])
    assert len(every) == ds.n_items - len(seen)
    assert every["score"].is_monotonic_decreasing


def test_time_features_and_recency_survive_save_load(tmp_path: Path) -> None:
    ds = timed_dataset()
    model = _fit(ds, recency_half_life_days=30.0)
    assert model.has_time_ and model.pair_times_ is not None
    names = model.feature_names()
    assert "0_ease_recent_score" in names and "item_days_since_last" in names
    assert "3_popular_recent_score" not in names  # recent=False
    users = list(ds.user_map.external_ids[:8])
    before = model.recommend(users, k=5)
    loaded = Recommender.load(model.save(tmp_path / "h"))
    assert isinstance(loaded, Hybrid)
    pd.testing.assert_frame_equal(before, loaded.recommend(users, k=5))
    # a folded-in user has no times: recency features are missing, not an error
    rows = ds.interactions[ds.interactions["user_id"] == users[0]]
    folded = loaded.recommend_for_interactions(rows[["item_id", "weight"]], k=5)
    assert len(folded) == 5


def test_base_search_picks_a_setting_of_the_grid() -> None:
    ds = random_dataset()
    bases = [
        {"model": "ease", "config": {"min_item_users": 1}, "search": {"l2": [0.01, 50.0]}},
        {"model": "popular", "candidates": 5},
    ]
    model = _fit(ds, bases=bases)
    chosen = model.bases_[0].get_config()
    assert chosen["l2"] in (0.01, 50.0) and chosen["min_item_users"] == 1


def test_fusion_when_no_holdout_can_be_carved() -> None:
    frame = pd.DataFrame({"user_id": [f"u{u}" for u in range(20)], "item_id": np.arange(20) % 5})
    ds = InteractionDataset.from_interactions(frame)
    model = _fit(ds)  # one item per user: nothing to hold out
    assert model._booster is None and model.ranker_bytes_.size == 0
    rec = model.recommend(["u0", "u1"], k=3)
    assert rec.groupby("user_id").size().tolist() == [3, 3]


def test_fold_in_follows_the_base_models() -> None:
    ds = random_dataset()
    bases = [
        {"model": "bpr", "config": {"factors": 8, "iterations": 5}, "candidates": 20},
        {"model": "popular", "candidates": 5},
    ]
    model = _fit(ds, bases=bases)
    assert not model.supports_fold_in and Hybrid.supports_fold_in
    with pytest.raises(ConfigError, match="cannot recommend for users unseen"):
        model.recommend_for_interactions([1001, 1002], k=3)


@pytest.mark.parametrize(
    "bases",
    [
        [],
        [{"model": "no_such_model"}],
        [{"model": "hybrid"}],
        [{"model": "ease", "config": {"l2": -1.0}}],
        [{"model": "ease", "candidates": 0}],
        [{"model": "ease", "unknown": 1}],
    ],
)
def test_bad_base_models_are_config_errors(bases: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigError):
        get_model("hybrid", bases=bases)


def test_base_models_above_their_item_limit_sit_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from encore.recommenders.ease import EASE

    monkeypatch.setattr(EASE, "item_limit", 10)
    ds = random_dataset()
    model = _fit(ds)
    assert model.active_bases_.tolist() == [1, 2, 3]
    assert [b.name for b in model.bases_] == ["als", "item_knn", "popular"]
    names = model.feature_names()
    assert names[0] == "1_als_score" and not any("ease" in n for n in names)
    assert model._booster is not None and model._booster.num_feature() == len(names)
    users = list(ds.user_map.external_ids[:5])
    loaded = Recommender.load(model.save(tmp_path / "h"))
    pd.testing.assert_frame_equal(model.recommend(users, k=5), loaded.recommend(users, k=5))
