"""Metrics against hand-computed examples, plus range properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from encore.errors import ConfigError, DataError
from encore.evaluation.metrics import evaluate_recommendations, normalise_recommendations

L2 = math.log2


def _recs(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def _pairs(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.fixture
def example() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # u1 ranks a b c d; relevant {b, d, e}
    # u2's only test item x was already in its train -> excluded and counted
    # u3 has a relevant item but no recommendation -> zeros
    recs = _recs([("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "d", 4), ("u2", "b", 1)])
    test = _pairs([("u1", "b"), ("u1", "d"), ("u1", "e"), ("u2", "x"), ("u3", "a")])
    train = _pairs([("u1", "z"), ("u2", "x"), ("u3", "z")])
    return recs, test, train


def test_hand_computed_k3_k4(example: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    recs, test, train = example
    res = evaluate_recommendations(recs, test, train=train, ks=(3, 4))
    assert res.n_users == 2
    assert res.n_users_no_relevant == 1
    assert res.n_users_no_recs == 1
    u1 = res.per_user.loc["u1"]
    idcg3 = 1 + 1 / L2(3) + 1 / L2(4)
    assert u1["precision@3"] == pytest.approx(1 / 3)
    assert u1["recall@3"] == pytest.approx(1 / 3)
    assert u1["ndcg@3"] == pytest.approx((1 / L2(3)) / idcg3)
    assert u1["map@3"] == pytest.approx((1 / 2) / 3)
    assert u1["mrr@3"] == pytest.approx(0.5)
    assert u1["hit_rate@3"] == 1.0
    assert u1["precision@4"] == pytest.approx(2 / 4)
    assert u1["recall@4"] == pytest.approx(2 / 3)
    assert u1["ndcg@4"] == pytest.approx((1 / L2(3) + 1 / L2(5)) / idcg3)
    assert u1["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    u3 = res.per_user.loc["u3"]
    assert (u3[[c for c in u3.index if not c.startswith("novelty")]] == 0).all()
    # means over the two evaluated users
    assert res.summary["ndcg@3"] == pytest.approx(((1 / L2(3)) / idcg3) / 2)
    assert res.summary["hit_rate@4"] == pytest.approx(0.5)


def test_ndcg_ideal_uses_achievable_relevant_count() -> None:
    # one relevant item at rank 1 -> perfect ndcg at any k
    res = evaluate_recommendations(
        _recs([("u", "a", 1), ("u", "b", 2)]), _pairs([("u", "a")]), ks=(1, 10)
    )
    assert res.per_user.loc["u", "ndcg@10"] == pytest.approx(1.0)
    assert res.per_user.loc["u", "map@10"] == pytest.approx(1.0)
    assert res.per_user.loc["u", "precision@10"] == pytest.approx(0.1)


def test_seen_items_kept_when_asked(
    example: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    recs, test, train = example
    res = evaluate_recommendations(recs, test, train=train, ks=3, exclude_seen=False)
    assert res.n_users == 3 and res.n_users_no_relevant == 0


def test_rank_from_score_and_duplicates() -> None:
    recs = pd.DataFrame(
        {"user_id": ["u"] * 4, "item_id": ["a", "b", "b", "c"], "score": [0.1, 0.9, 0.5, 0.3]}
    )
    out = normalise_recommendations(recs)
    assert out["item_id"].tolist() == ["b", "c", "a"]
    assert out["rank"].tolist() == [1, 2, 3]


def test_novelty_diversity_coverage() -> None:
    train = _pairs(
        [("u1", "a"), ("u2", "a"), ("u3", "a"), ("u4", "a"), ("u2", "b"), ("u3", "c"), ("u4", "c")]
    )
    recs = _recs([("u1", "b", 1), ("u1", "c", 2), ("u1", "a", 3)])
    test = _pairs([("u1", "c")])
    genres = {"a": "rock", "b": "rock", "c": "pop"}
    res = evaluate_recommendations(
        recs, test, train=train, ks=(2, 3), item_genres=genres, exclude_seen=False
    )
    # p(b)=1/4 -> 2 bits, p(c)=2/4 -> 1 bit, p(a)=1 -> 0 bits
    assert res.per_user.loc["u1", "novelty@2"] == pytest.approx(1.5)
    assert res.per_user.loc["u1", "novelty@3"] == pytest.approx(1.0)
    assert res.per_user.loc["u1", "diversity@2"] == pytest.approx(1.0)
    assert res.per_user.loc["u1", "diversity@3"] == pytest.approx(2 / 3)
    assert res.summary["coverage@2"] == pytest.approx(2 / 3)
    assert res.summary["coverage@3"] == pytest.approx(1.0)


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        evaluate_recommendations(_recs([("u", "a", 1)]), _pairs([("u", "a")]), ks=0)
    with pytest.raises(DataError):
        evaluate_recommendations(
            pd.DataFrame({"user_id": ["u"], "item_id": ["a"]}), _pairs([("u", "a")])
        )
    with pytest.raises(DataError):
        evaluate_recommendations(_recs([("u", "a", 1)]), pd.DataFrame({"user": ["u"]}))


@settings(max_examples=40, deadline=None)
@given(
    n_users=st.integers(1, 6),
    n_items=st.integers(2, 15),
    k=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_metrics_stay_in_unit_interval(n_users: int, n_items: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, test_rows, train_rows = [], [], []
    for u in range(n_users):
        ranked = rng.permutation(n_items)[: rng.integers(1, n_items + 1)]
        rows += [(f"u{u}", f"i{i}", r + 1) for r, i in enumerate(ranked)]
        test_rows += [
            (f"u{u}", f"i{i}") for i in rng.choice(n_items, size=rng.integers(1, n_items + 1))
        ]
        train_rows += [(f"u{u}", f"i{i}") for i in rng.choice(n_items, size=rng.integers(0, 3))]
    genres = {f"i{i}": f"g{i % 3}" for i in range(n_items)}
    res = evaluate_recommendations(
        _recs(rows),
        _pairs(test_rows),
        train=_pairs(train_rows) if train_rows else None,
        ks=(k,),
        item_genres=genres,
    )
    assert res.n_users + res.n_users_no_relevant == n_users
    values = res.per_user.drop(columns=[c for c in res.per_user.columns if c.startswith("novelty")])
    finite = values.to_numpy()[~np.isnan(values.to_numpy())]
    assert ((finite >= 0) & (finite <= 1 + 1e-12)).all()
    assert 0.0 <= res.summary[f"coverage@{k}"] <= 1.0
    pu = res.per_user
    assert (pu[f"hit_rate@{k}"] >= pu[f"precision@{k}"]).all()
    assert (pu[f"hit_rate@{k}"] >= pu[f"mrr@{k}"]).all()
    assert (pu[f"ndcg@{k}"] <= pu[f"hit_rate@{k}"]).all()
