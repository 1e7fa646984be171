"""Next-new-track protocols (encore.evaluation.next_new): the first new item after the
cut-off (``--task first-new``) and every next new item with the state updated; a
hand-made split where the answers are known, and the real JODIE sample (small models)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from evaluation_helpers import evaluate_json
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.dataset import InteractionDataset
from encore.data.store import Store
from encore.errors import DataError
from encore.evaluation.metrics import evaluate_recommendations
from encore.evaluation.next_new import (
    first_new_split,
    next_new_metric_result,
    next_new_targets,
    score_next_new,
)
from encore.evaluation.runner import _dataset_events, evaluate_models, split_store
from encore.evaluation.splits import Split
from encore.recommenders.registry import get_model

T0 = pd.Timestamp("2024-01-01")


def _events(rows: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    """(user, item, minute, kind) -> an event frame."""
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "ts": [T0 + pd.Timedelta(minutes=r[2]) for r in rows],
            "kind": [r[3] for r in rows],
        }
    )


def _pairs(events: pd.DataFrame) -> pd.DataFrame:
    wanted = events[events["kind"] != "skip"]
    out = wanted.groupby(["user_id", "item_id"], as_index=False).agg(
        weight=("ts", "size"), ts=("ts", "max")
    )
    out["weight"] = np.log1p(out["weight"].astype(float))
    return out


def _train_ds(split: Split) -> InteractionDataset:
    """The split's train pairs with its train events, as the evaluation fits models on."""
    return _dataset_events(split, InteractionDataset.from_interactions(split.train))


def _ranks(model: str, ds: InteractionDataset, split: Split) -> pd.Series:
    """The rank of each next new item (by item id) under ``model`` fitted on ``ds``."""
    res = score_next_new(get_model(model).fit(ds), ds, split)
    return res.targets.set_index("item_id")["rank"]


def _markov_rows(db: Path, out: Path, task: str, *more: str) -> dict[str, dict[str, Any]]:
    """``encore evaluate`` of markov on the JODIE store with ``--task task``: rows by model."""
    rows = evaluate_json(db, out, "--models", "markov", "--task", task, *more)
    return {r["model"]: r for r in rows}


@pytest.fixture
def small() -> Split:
    """Users a..d play 1 -> 2 -> 3 in train; x had 4, 5 in train, then after the cut
    plays 4 again, skips 3, plays 1, an unknown item 99, 2, 1 again, then 3."""
    train_rows = []
    for u in "abcd":
        for rep in range(3):
            for j, item in enumerate((1, 2, 3)):
                train_rows.append((u, item, 10 * rep + j, "play"))
    train_rows += [("x", 4, 0, "play"), ("x", 5, 1, "play"), ("y", 5, 2, "play")]
    events = _events(train_rows)
    test_events = _events(
        [
            ("x", 4, 100, "play"),
            ("x", 3, 101, "skip"),
            ("x", 1, 102, "play"),
            ("x", 99, 103, "play"),
            ("x", 2, 104, "play"),
            ("x", 1, 105, "play"),
            ("x", 3, 106, "play"),
            ("y", 5, 107, "play"),
        ]
    )
    return Split(
        train=_pairs(events),
        test=_pairs(test_events),
        method="global-time",
        description="hand-made",
        events=events,
        test_events=test_events,
    )


@pytest.fixture
def small_ds(small: Split) -> InteractionDataset:
    return _train_ds(small)


def test_targets_are_first_plays_of_new_items(small: Split) -> None:
    t = next_new_targets(small)
    # the replay of 4 (had in train), the skip, the unknown item and the second 1 are not targets
    assert t[["user_id", "item_id", "position"]].values.tolist() == [
        ["x", 1, 2],
        ["x", 2, 4],
        ["x", 3, 6],
    ]
    first = first_new_split(small)
    assert first.test[["user_id", "item_id"]].values.tolist() == [["x", 1]]
    assert first.stats["test_users_first_new"] == 1 and first.stats["test_users_no_new"] == 1
    assert "first-new" in first.description
    assert first.train is small.train


def test_no_test_order_is_an_error(small: Split) -> None:
    undated = small.test.assign(ts=pd.Series(pd.NaT, index=small.test.index))
    bare = Split(train=small.train, test=undated, method="given", description="")
    with pytest.raises(DataError, match="no order of its test side"):
        next_new_targets(bare)
    # a given split whose test rows all have times is read as plays in time order
    dated = Split(train=small.train, test=small.test, method="given", description="")
    # (pairs carry their last time: 2 at minute 104, 1 at 105, 3 at 106)
    assert next_new_targets(dated)["item_id"].tolist() == [2, 1, 3]


@pytest.mark.parametrize(
    "model",
    [
        # 2 follows 1 and 3 follows 2 in train: with the test events so far in the state both
        # are ranked first; 1 comes after x's last train item 5, which has no successor
        "markov",
        # x's train row (4, 5) has no neighbour among 1, 2, 3; once 1 is played, 2 and 3 are
        # its neighbours and rank first among the items x has not had (the fold-in row grows)
        "item_knn",
    ],
)
def test_state_is_updated_with_the_events_in_between(
    model: str, small: Split, small_ds: InteractionDataset
) -> None:
    ranks = _ranks(model, small_ds, small)
    assert ranks[2] == 1 and ranks[3] == 1


def test_targets_per_user_and_popularity(small: Split, small_ds: InteractionDataset) -> None:
    res = score_next_new(get_model("markov").fit(small_ds), small_ds, small)
    assert res.per_user.loc["x", "n_targets"] == 3
    assert res.summary["n_users"] == 1 and res.summary["n_targets"] == 3
    # popularity (2 users more than the others: 1, 2, 3 by item order); nothing new had yet
    # for the first target, so 1 ranks first of 1, 2, 3; for the second, 1 is had: 2 first
    assert _ranks("popular", small_ds, small).tolist() == [1, 1, 1]


def test_metric_result_from_ranks(small: Split, small_ds: InteractionDataset) -> None:
    res = score_next_new(get_model("markov").fit(small_ds), small_ds, small)
    ranks = res.targets["rank"].to_numpy(dtype=float)
    mr = next_new_metric_result(res, [1, 10])
    assert mr.n_users == 1 and mr.ks == (1, 10)
    gain = np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0.0).mean()
    assert mr.summary["ndcg@10"] == pytest.approx(gain)
    assert mr.summary["ndcg@10"] == pytest.approx(res.summary["ndcg@10"])
    assert mr.summary["hit_rate@1"] == pytest.approx((ranks <= 1).mean())
    assert mr.summary["mrr@10"] == pytest.approx(np.where(ranks <= 10, 1 / ranks, 0).mean())
    assert np.isnan(mr.summary["coverage@10"])


@pytest.fixture(scope="module")
def jodie_split(jodie_db: Path) -> Split:
    with Store(jodie_db, read_only=True) as store:
        return split_store(store, method="global-time", source="jodie")


def test_jodie_split_carries_its_test_order(jodie_split: Split) -> None:
    te = jodie_split.test_events
    assert te is not None and len(te) > len(jodie_split.test)
    assert te["ts"].min() >= jodie_split.cutoff
    assert set(te["user_id"]) <= set(jodie_split.test["user_id"])
    assert te.groupby("user_id")["ts"].apply(lambda s: s.is_monotonic_increasing).all()


def test_first_target_without_prefix_equals_the_recommended_list(jodie_split: Split) -> None:
    """A target before which the user played nothing after the cut-off is ranked exactly as
    the model's own top-10 list ranks it (the protocol adds only the state update)."""
    ds = _train_ds(jodie_split)
    first = first_new_split(jodie_split)
    for name in ("ease", "last_items_knn"):
        model = get_model(name).fit(ds)
        res = score_next_new(model, ds, jodie_split)
        lead = res.targets.drop_duplicates("user_id")
        lead = lead[lead["position"] == 0].set_index("user_id")
        assert len(lead) > 30
        recs = model.recommend(first.test["user_id"].unique(), k=10)
        std = evaluate_recommendations(recs, first.test, train=first.train, ks=(10,))
        np.testing.assert_allclose(
            lead["ndcg@10"], std.per_user["ndcg@10"].reindex(lead.index), atol=1e-9
        )
        assert res.summary["n_users"] == 193


def test_evaluate_first_new_task(jodie_split: Split, jodie_db: Path, tmp_path: Path) -> None:
    cmp = evaluate_models(jodie_split, "markov", task="first-new")
    assert cmp.extra["task"] == "first-new"
    run = {r.name: r for r in cmp.runs}["markov"]
    assert run.result is not None and run.result.n_users == 193  # one first new item each
    rows = _markov_rows(jodie_db, tmp_path / "rep", "first-new")
    assert rows["markov"]["n_users"] == 193
    assert "first new item" in (tmp_path / "rep" / "comparison.md").read_text()


def test_evaluate_next_new_task(jodie_split: Split, jodie_db: Path, tmp_path: Path) -> None:
    rows = _markov_rows(jodie_db, tmp_path / "rolled", "next-new", "--k", "10,20")
    ds = _train_ds(jodie_split)
    direct = score_next_new(get_model("markov").fit(ds), ds, jodie_split)
    assert rows["markov"]["ndcg@10"] == pytest.approx(direct.summary["ndcg@10"])
    assert (
        rows["markov"]["n_users"] == 193
        and rows["markov"]["hit_rate@20"] >= rows["markov"]["hit_rate@10"]
    )
    assert "every next new item" in (tmp_path / "rolled" / "comparison.md").read_text()


def test_unknown_task_is_an_error(jodie_db: Path) -> None:
    bad = CliRunner().invoke(app, ["evaluate", "--db", str(jodie_db), "--task", "next"])
    assert bad.exit_code != 0 and "unknown task" in bad.output
