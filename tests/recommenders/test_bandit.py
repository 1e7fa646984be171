"""The contextual bandit (LinUCB / Thompson) and REINFORCE behind the common interface."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from contract import RecommenderContract

from encore.recommenders.registry import get_model


class TestBanditLinUCB(RecommenderContract):
    model_name: ClassVar[str] = "bandit"
    config: ClassVar[dict[str, Any]] = {"factors": 4, "iterations": 3}
    # a reward model of full listens over a bag of pairs (every reward 1) learns no parity
    personalised: ClassVar[bool] = False
    fold_in_exact: ClassVar[bool] = False


class TestBanditThompson(RecommenderContract):
    model_name: ClassVar[str] = "bandit"
    config: ClassVar[dict[str, Any]] = {"factors": 4, "iterations": 3, "algorithm": "thompson"}
    personalised: ClassVar[bool] = False
    fold_in_exact: ClassVar[bool] = False


class TestReinforce(RecommenderContract):
    model_name: ClassVar[str] = "reinforce"
    config: ClassVar[dict[str, Any]] = {"dim": 8, "epochs": 1, "max_len": 8, "val_share": 0.0}
    personalised: ClassVar[bool] = False
    fold_in_exact: ClassVar[bool] = False


def _skip_events() -> tuple[Any, pd.DataFrame]:
    """Two kinds of listeners: items 0-9 listened through, 10-19 skipped, by everyone."""
    from encore.data.dataset import InteractionDataset
    from encore.recommenders.sequence import attach_events

    rng = np.random.default_rng(0)
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for u in range(20):
        for step in range(60):
            item = int(rng.integers(0, 20))
            rows.append((f"u{u}", item, t0 + pd.Timedelta(minutes=3 * step + 600 * u), item < 10))
    ev = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "full"])
    ev["kind"] = np.where(ev["full"], "play", "skip")
    # weights count full listens (as encore rl builds them), so skipped tracks weigh little
    inter = (
        ev.groupby(["user_id", "item_id"]).agg(ts=("ts", "max"), n=("full", "sum")).reset_index()
    )
    inter["weight"] = inter["n"] + 0.1
    data = InteractionDataset.from_interactions(inter)
    return attach_events(data, ev[["user_id", "item_id", "ts", "kind"]]), ev


def test_bandit_learns_that_skipped_tracks_pay_less() -> None:
    data, _ = _skip_events()
    model = get_model("bandit", factors=4, iterations=3, alpha=0.0).fit(data)
    u = 0
    mean = model.expected_reward(
        model.user_factors_[u], model.user_genre_[u], 0.3, 12.0, np.zeros(model.n_items)
    )
    ids = model.item_map_.external_ids
    # linear in ALS features (no per-track term): the direction, not the full gap of 1.0
    assert mean[ids < 10].mean() > mean[ids >= 10].mean() + 0.05


def test_bandit_online_update_moves_the_estimate() -> None:
    data, _ = _skip_events()
    model = get_model("bandit", factors=4, iterations=3, alpha=0.0).fit(data)
    ctx = (model.user_factors_[0], model.user_genre_[0], 0.3, 12.0, np.zeros(model.n_items))
    phi = model.features(*ctx, items=np.array([3]))[0]
    before = float(phi @ model.theta_)
    for _ in range(50):
        model.update(phi, 0.0)
    assert float(phi @ model.theta_) < before - 0.1


def test_reinforce_curve_and_returns() -> None:
    from encore.recommenders.reinforce import CURVE_COLUMNS

    data, _ = _skip_events()
    model = get_model("reinforce", dim=8, epochs=2, max_len=8).fit(data)
    curve = model.training_curve()
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert len(curve) == 2 and np.isfinite(curve["val_behaviour_nll"]).all()
    # the logged choice here is uniform over 20 tracks: the behaviour head comes near log(20)
    assert abs(curve["val_behaviour_nll"].iloc[-1] - np.log(20)) < 0.5


def test_reinforce_with_every_target_held_out_says_so() -> None:
    import pytest

    from encore.errors import DataError

    data, ev = _skip_events()
    # one timestamp for every event: the held-out last share by time is all of them
    from encore.recommenders.sequence import attach_events

    ev = ev.assign(ts=pd.Timestamp("2024-01-01"))
    same_time = attach_events(data, ev[["user_id", "item_id", "ts", "kind"]])
    with pytest.raises(DataError, match="held-out"):
        get_model("reinforce", dim=8, epochs=1, max_len=8).fit(same_time)
    get_model("reinforce", dim=8, epochs=1, max_len=8, val_share=0.0).fit(same_time)
