"""Session kNN (V-SKNN), SASRec's sampled losses (gBCE, sampled softmax), the next-play
task of the evaluation and tuning with events in order.

Small settings throughout (SASRec: 1 layer of 16 dimensions, a few epochs); the JODIE
Last.fm sample where real data matters. Real training runs in benchmarks/bench_sasrec.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract

from encore.data.dataset import InteractionDataset
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import ConfigError
from encore.evaluation.runner import evaluate_models, split_store
from encore.evaluation.splits import validation_split
from encore.evaluation.tuning import tune_model, validation_events
from encore.recommenders.base import Recommender
from encore.recommenders.registry import get_model

TINY: dict[str, Any] = {
    "max_len": 12,
    "dim": 16,
    "layers": 1,
    "heads": 1,
    "epochs": 2,
    "batch_size": 64,
    "val_share": 0.0,
}


class TestSessionKNN(RecommenderContract):
    model_name: ClassVar[str] = "session_knn"
    personalised: ClassVar[bool] = False  # votes of the current session's neighbours
    fold_in_exact: ClassVar[bool] = False


class TestSASRecGBCE(RecommenderContract):
    model_name: ClassVar[str] = "sasrec"
    config: ClassVar[dict[str, Any]] = {**TINY, "loss": "gbce", "negatives": 8}
    personalised: ClassVar[bool] = False
    fold_in_exact: ClassVar[bool] = False


@pytest.fixture(scope="module")
def jodie(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("seq2") / "jodie.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("jodie"), shared_data / "lastfm-1k-jodie-sample")
    return path


def _sessions(users: int = 30, sessions: int = 6) -> InteractionDataset:
    """Users who play short sessions hours apart: a session is either 0-1-2-3 or 10-11-12-13
    (first three items then the fourth), so the neighbours of a session that has played
    0, 1, 2 all hold 3."""
    rows = []
    for u in range(users):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=u)
        for s in range(sessions):
            base = 0 if (u + s) % 2 == 0 else 10
            for j in range(4):
                rows.append((f"u{u}", base + j, t + pd.Timedelta(minutes=3 * j)))
            t += pd.Timedelta(hours=5)
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    ds = InteractionDataset.from_interactions(frame.assign(weight=1.0))
    return ds.__class__(**{**ds.__dict__, "events": frame.assign(kind="play")})


# --------------------------------------------------------------------------- session kNN
def test_session_knn_uses_the_current_session_only() -> None:
    ds = _sessions()
    model = get_model("session_knn").fit(ds)
    t0 = pd.Timestamp("2025-01-01")
    # an old session of the other kind, hours before: it is not the current session
    events = pd.DataFrame(
        {
            "item_id": [10, 11, 12, 0, 1, 2],
            "ts": [t0 + pd.Timedelta(minutes=m) for m in (0, 3, 6, 600, 603, 606)],
        }
    )
    top = model.recommend_for_events(events, k=1, exclude_seen=True)  # type: ignore[attr-defined]
    assert top["item_id"].tolist() == [3]
    # the same events within one session: both 3 and 13 are voted for
    close = events.assign(ts=[t0 + pd.Timedelta(minutes=m) for m in range(0, 18, 3)])
    both = model.recommend_for_events(close, k=2, exclude_seen=True)  # type: ignore[attr-defined]
    assert set(both["item_id"]) == {3, 13}


def test_session_knn_skips_and_sample() -> None:
    ds = _sessions()
    model = get_model("session_knn", sample=1, neighbours=1).fit(ds)
    assert model.sessions_.shape == (30 * 6, ds.n_items)  # type: ignore[attr-defined]
    events = pd.DataFrame({"item_id": [0, 1], "kind": ["play", "play"]})
    assert model.recommend_for_events(events, k=1)["item_id"].tolist() == [2]  # type: ignore[attr-defined]
    # a skip is no part of the session vector: only popularity back-off is left
    skipped = events.assign(kind="skip")
    recs = model.recommend_for_events(skipped, k=3, exclude_seen=False)  # type: ignore[attr-defined]
    pop = model.popularity_  # type: ignore[attr-defined]
    assert np.allclose(recs["score"].to_numpy(), model.config.backoff * np.sort(pop)[::-1][:3])


# --------------------------------------------------------------------------- sampled losses
def _cycle() -> InteractionDataset:
    rows = []
    for u in range(30):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=u)
        for t in range(25):
            rows.append((f"u{u}", int((u + t) % 10), start + pd.Timedelta(minutes=4 * t)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    ds = InteractionDataset.from_interactions(frame.assign(weight=1.0))
    return ds.__class__(**{**ds.__dict__, "events": frame.assign(kind="play")})


@pytest.mark.parametrize("loss", ["gbce", "sampled_softmax"])
def test_sampled_losses_learn_the_cycle(loss: str, tmp_path: Path) -> None:
    ds = _cycle()
    cfg = {
        **TINY,
        "epochs": 30,
        "batch_size": 8,
        "val_share": 0.2,
        "lr": 5e-3,
        "loss": loss,
        "negatives": 4,
        "monitor": "ndcg",
    }
    a = get_model("sasrec", **cfg).fit(ds)
    b = get_model("sasrec", **cfg).fit(ds)
    assert np.array_equal(a.weights_, b.weights_)  # type: ignore[attr-defined]
    assert a.resolved_loss(ds.n_items) == loss  # type: ignore[attr-defined]
    curve = a.training_curve()  # type: ignore[attr-defined]
    assert curve["val_ndcg10"].max() > 0.5
    seq = pd.DataFrame(
        {"item_id": [6, 7, 8], "ts": pd.date_range("2025-01-01", periods=3, freq="4min")}
    )
    top = a.recommend_for_events(seq, k=1, exclude_seen=False)  # type: ignore[attr-defined]
    assert top["item_id"].tolist() == [9]
    loaded = Recommender.load(a.save(tmp_path / "m"))
    again = loaded.recommend_for_events(seq, k=3, exclude_seen=False)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(
        again,
        a.recommend_for_events(seq, k=3, exclude_seen=False),  # type: ignore[attr-defined]
    )


def test_auto_loss_by_catalogue_size() -> None:
    from encore.recommenders.sasrec import FULL_SOFTMAX_ITEMS

    model = get_model("sasrec")
    assert model.resolved_loss(FULL_SOFTMAX_ITEMS) == "softmax"  # type: ignore[attr-defined]
    assert model.resolved_loss(FULL_SOFTMAX_ITEMS + 1) == "sampled_softmax"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        get_model("sasrec", loss="bpr")


# --------------------------------------------------------------------------- tasks
def test_next_play_task_on_jodie(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        split = split_store(store, method="global-time")
        users = [f"jodie:{u}" for u in range(40)]
        per_user_new = split_store(store, method="user-time", users=users)
        per_user_all = split_store(store, method="user-time", users=users, keep_seen=True)
    # the per-user split drops repeats only for the new-items task
    assert per_user_all.stats["test_rows_seen_kept"] == per_user_new.stats["test_rows_seen_dropped"]
    assert len(per_user_all.test) > len(per_user_new.test) > 0
    new = evaluate_models(split, "markov,session_knn", ks=(10,)).table().set_index("model")
    play = (
        evaluate_models(split, "markov,session_knn", ks=(10,), task="play")
        .table()
        .set_index("model")
    )
    # listeners replay: with repeats allowed every model scores far higher
    for m in ("popular", "markov", "session_knn"):
        assert play.loc[m, "ndcg@10"] > 2 * new.loc[m, "ndcg@10"]
    # repeats allowed: the users whose test items were all seen are evaluated too
    assert play.loc["markov", "n_users"] > new.loc["markov", "n_users"]
    with pytest.raises(ConfigError, match="unknown task"):
        evaluate_models(split, "markov", task="repeat")


def test_tuning_sees_events_in_order(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        split = split_store(store, method="global-time")
    assert split.events is not None
    val = validation_events(split, validation_split(split))
    assert val.events is not None and 0 < len(val.events) < len(split.events)
    # nothing of the validation test side leaks into the events the models see
    assert val.events["ts"].max() < val.test["ts"].min()
    pairs = set(zip(val.train["user_id"], val.train["item_id"], strict=True))
    assert set(zip(val.events["user_id"], val.events["item_id"], strict=True)) <= pairs
    result = tune_model("session_knn", split, ks=(10,), max_trials=2)
    assert len(result.trials) == 2 and (result.trials["error"] == "").all()
    assert result.trials["ndcg@10"].notna().all()


# --------------------------------------------------------------------------- serving reads
def test_load_events_latest_only(store: Store) -> None:
    from test_sasrec import _tiny_store

    from encore.recommenders.sequence import load_events

    _tiny_store(store)
    every = load_events(store)
    latest = load_events(store, last=2)
    # the user's latest two events (the like at 11:00 is older than both), in time order
    pd.testing.assert_frame_equal(latest, every.iloc[-2:].reset_index(drop=True))
    assert load_events(store, last=100).equals(every)


def test_evaluate_cli_task_play(jodie: Path, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from encore.cli.main import app

    runner = CliRunner()
    base = ["evaluate", "--db", str(jodie), "--data", "jodie", "--split", "global-time"]
    out = tmp_path / "rep"
    args = [*base, "--models", "session_knn", "--task", "play", "--out", str(out), "-f", "json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.stdout)}
    assert {"popular", "session_knn"} <= set(rows)
    report = json.loads((out / "comparison.json").read_text())
    assert report["task"] == "play"
    assert "repeats allowed" in (out / "comparison.md").read_text()
    bad = runner.invoke(app, [*base, "--task", "repeat"])
    assert bad.exit_code == 64 and "unknown task" in bad.output


def test_windows_per_user() -> None:
    from encore.recommenders.sasrec import _windows
    from encore.recommenders.sequence import check_events, encode

    events = check_events(
        pd.DataFrame({"user_id": ["a"] * 10 + ["b"] * 3, "item_id": [*range(10), 1, 2, 3]})
    )
    enc = encode(events, pd.Index(range(10)))
    every = _windows(enc, 3)
    # a: 10 events cut from the end into windows of 4 overlapping by one; b: one window
    assert every.tolist() == [[6, 10], [3, 7], [0, 4], [10, 13]]
    assert _windows(enc, 3, per_user=1).tolist() == [[6, 10], [10, 13]]
    assert _windows(enc, 3, per_user=2).tolist() == [[6, 10], [3, 7], [10, 13]]
