"""SASRec's dense future-window targets (``targets=future:K`` / ``future-new:K``,
PinnerFormer's all-action objective): small synthetic sequences, tiny settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from encore.data.dataset import InteractionDataset
from encore.errors import ConfigError
from encore.recommenders.registry import get_model
from encore.recommenders.sasrec import parse_targets
from encore.recommenders.sequence import attach_events

TINY: dict[str, Any] = {
    "max_len": 8,
    "dim": 16,
    "layers": 1,
    "heads": 1,
    "epochs": 3,
    "batch_size": 16,
    "dropout": 0.0,
    "val_share": 0.2,
}


def _dataset(seed: int = 0) -> InteractionDataset:
    """40 users, 12 items; each listens to a random walk with repeats, one event a minute."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for u in range(40):
        item = int(rng.integers(12))
        for i in range(30):
            item = item if rng.random() < 0.3 else int((item + rng.integers(1, 4)) % 12)
            rows.append((f"u{u}", item, t0 + pd.Timedelta(minutes=i + 40 * u)))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]).assign(kind="play")
    pairs = events.groupby(["user_id", "item_id"], as_index=False).agg(
        weight=("ts", "size"), ts=("ts", "max")
    )
    pairs["weight"] = np.log1p(pairs["weight"].astype(float))
    return attach_events(InteractionDataset.from_interactions(pairs), events)


def test_parse_targets() -> None:
    assert parse_targets("all") == (1, False)
    assert parse_targets("new") == (1, True)
    assert parse_targets("future:20") == (20, False)
    assert parse_targets("future-new:7") == (7, True)


@pytest.mark.parametrize("bad", ["future:0", "future", "future-new:x", "next:3", "future:99999"])
def test_bad_targets_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="targets"):
        get_model("sasrec", targets=bad)


@pytest.mark.parametrize(("future", "single"), [("future:1", "all"), ("future-new:1", "new")])
def test_horizon_one_is_the_next_item_objective(future: str, single: str) -> None:
    """A one-event horizon is the plain next-item loss: the same curve and weights."""
    ds = _dataset()
    a = get_model("sasrec", targets=future, **TINY).fit(ds)
    b = get_model("sasrec", targets=single, **TINY).fit(ds)
    ca, cb = a.training_curve(), b.training_curve()  # type: ignore[attr-defined]
    cols = ["train_loss", "val_loss", "val_ndcg10"]
    np.testing.assert_allclose(ca[cols].to_numpy(), cb[cols].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-4, atol=1e-6)  # type: ignore[attr-defined]


@pytest.mark.parametrize("loss", ["softmax", "sampled_softmax", "gbce"])
def test_future_window_trains_and_differs(loss: str) -> None:
    ds = _dataset()
    cfg = {**TINY, "loss": loss, "negatives": 5}
    wide = get_model("sasrec", targets="future:6", **cfg).fit(ds)
    one = get_model("sasrec", targets="all", **cfg).fit(ds)
    curve = wide.training_curve()  # type: ignore[attr-defined]
    assert np.isfinite(curve["train_loss"]).all() and np.isfinite(curve["val_loss"]).all()
    assert curve["val_ndcg10"].between(0, 1).all()
    if loss == "softmax":  # the sampled losses are too noisy over 3 tiny epochs to tell
        assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]
    assert not np.allclose(wide.weights_, one.weights_)  # type: ignore[attr-defined]
    recs = wide.recommend(["u0", "u1"], k=3, exclude_seen=False)
    assert len(recs) == 6 and recs["score"].notna().all()


def test_future_window_is_deterministic_and_saves(tmp_path: Any) -> None:
    ds = _dataset(1)
    a = get_model("sasrec", targets="future-new:10", **TINY).fit(ds)
    b = get_model("sasrec", targets="future-new:10", **TINY).fit(ds)
    np.testing.assert_array_equal(a.weights_, b.weights_)  # type: ignore[attr-defined]
    path = a.save(tmp_path / "m")
    loaded = type(a).load(path)
    assert loaded.get_config()["targets"] == "future-new:10"
    pd.testing.assert_frame_equal(a.recommend(["u3"], k=5), loaded.recommend(["u3"], k=5))
