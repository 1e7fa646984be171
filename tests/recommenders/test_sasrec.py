"""Sequence models (sasrec, markov, last_items_knn): contracts on tiny settings, per-event
input from the store (kinds, splits), and serving from events read at request time.

The real-data tests use the JODIE Last.fm sample with small settings (SASRec: 1 layer of
16 dimensions, 1-2 epochs); real training runs in benchmarks/bench_sasrec.py.
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
from encore.errors import ConfigError, DataError
from encore.evaluation.runner import evaluate_models, split_store
from encore.recommenders.base import Recommender
from encore.recommenders.recommend import fit_model, recommend_for_user
from encore.recommenders.registry import get_model
from encore.recommenders.sequence import check_events, gap_buckets, load_events

TINY: dict[str, Any] = {
    "max_len": 12,
    "dim": 16,
    "layers": 1,
    "heads": 1,
    "epochs": 2,
    "batch_size": 64,
    "val_share": 0.0,
}


class TestSASRec(RecommenderContract):
    model_name: ClassVar[str] = "sasrec"
    config: ClassVar[dict[str, Any]] = TINY
    # two epochs on the checkerboard's bag of pairs (no order) teach no parity
    personalised: ClassVar[bool] = False
    fold_in_exact: ClassVar[bool] = False


class TestMarkov(RecommenderContract):
    model_name: ClassVar[str] = "markov"
    personalised: ClassVar[bool] = False  # the last item's successors, not the user's parity
    fold_in_exact: ClassVar[bool] = False


class TestLastItemsKNN(RecommenderContract):
    model_name: ClassVar[str] = "last_items_knn"
    config: ClassVar[dict[str, Any]] = {"last_n": 30, "decay": 1.0}
    fold_in_exact: ClassVar[bool] = False


@pytest.fixture(scope="module")
def jodie(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("seq") / "jodie.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("jodie"), shared_data / "lastfm-1k-jodie-sample")
    return path


# --------------------------------------------------------------------------- events
def _tiny_store(store: Store) -> None:
    con = store.con
    con.execute(
        "INSERT INTO tracks (track_id, title, title_norm, duration_ms, source, ingest_id) VALUES "
        "(1, 'a', 'a', 200000, 't', 1), (2, 'b', 'b', 200000, 't', 1), (3, 'c', 'c', NULL, 't', 1)"
    )
    con.execute(
        "INSERT INTO events (user_id, track_id, ts, ms_played, skipped, source, ingest_id) VALUES "
        "('u', 1, '2024-01-01 10:00', 200000, FALSE, 't', 1),"
        "('u', 2, '2024-01-01 10:04', 20000, TRUE, 't', 1),"
        "('u', 2, '2024-01-01 12:00', 60000, FALSE, 't', 1),"
        "('u', 3, '2024-01-02 12:00', 1000, NULL, 't', 1)"
    )
    con.execute(
        "INSERT INTO likes (user_id, entity_type, entity_id, liked_at, source, ingest_id) VALUES "
        "('u', 'track', 1, '2024-01-01 11:00', 't', 1), ('u', 'track', 3, NULL, 't', 1)"
    )


def test_load_events_kinds_and_order(store: Store) -> None:
    _tiny_store(store)
    ev = load_events(store)
    # skip flag -> skip; under half the length -> partial; unknown length -> play;
    # a dated like is an event in time order, an undated one cannot be placed
    assert ev["kind"].tolist() == ["play", "skip", "like", "partial", "play"]
    assert ev["item_id"].tolist() == [1, 2, 1, 2, 3]
    assert ev["ts"].is_monotonic_increasing
    assert load_events(store, likes=False)["kind"].tolist() == ["play", "skip", "partial", "play"]
    later = load_events(store, date_from="2024-01-01 11:30")
    assert later["item_id"].tolist() == [2, 3]


def test_check_events_names_bad_kind() -> None:
    with pytest.raises(DataError, match="row 2") as err:
        check_events(pd.DataFrame({"item_id": [1, 2], "kind": ["play", "dislike"]}))
    assert err.value.field == "kind"
    with pytest.raises(DataError, match="item_id"):
        check_events(pd.DataFrame({"track": [1]}))


def test_gap_buckets() -> None:
    got = gap_buckets(np.array([np.nan, 0.0, 60.0, 3600.0, 1e12]))
    assert got.tolist()[:3] == [0, 1, 2]
    assert got[3] == 1 + int(np.floor(np.log2(61)))
    assert got[4] == 15  # capped


# --------------------------------------------------------------------------- evaluation
def test_split_carries_events_before_the_cut(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        split = split_store(store, method="global-time")
        assert split.events is not None and len(split.events) > 0
        assert split.events["ts"].max() < split.cutoff
        assert set(split.events["kind"]) == {"play"}  # JODIE: plays only
        # one event per play, not per pair: repeats are kept
        assert len(split.events) > len(split.train)
        users = [f"jodie:{u}" for u in range(25)]  # a few users: the split goes user by user
        per_user = split_store(store, method="user-time", users=users)
        assert per_user.events is not None
        test_first = per_user.test.groupby("user_id")["ts"].min()
        last_train = per_user.events.groupby("user_id")["ts"].max()
        common = test_first.index.intersection(last_train.index)
        assert (last_train[common] <= test_first[common]).all()


def test_evaluate_with_sequence_models(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        split = split_store(store, method="global-time")
    cmp = evaluate_models(split, "markov,last_items_knn,sasrec", ks=(10,), configs={"sasrec": TINY})
    table = cmp.table().set_index("model")
    assert {"popular", "recent_popular", "markov", "last_items_knn", "sasrec"} <= set(table.index)
    assert (table["error"] == "").all()
    # the known ordering on this sample: the last items beat global popularity
    assert table.loc["last_items_knn", "ndcg@10"] > table.loc["popular", "ndcg@10"]
    assert 0 < table.loc["sasrec", "ndcg@10"] < 1


# --------------------------------------------------------------------------- serving
def test_serving_reads_new_events_without_refit(jodie: Path, tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    db.write_bytes(jodie.read_bytes())
    with Store(db) as store:
        model = fit_model(store, "sasrec", params={**TINY, "epochs": 1})
        path = model.save(tmp_path / "sasrec")
        loaded = Recommender.load(path)
        assert loaded.get_config() == model.get_config()
        user = "jodie:5"
        before = recommend_for_user(store, loaded, user, k=10, explain=False)
        again = recommend_for_user(store, model, user, k=10, explain=False)
        pd.testing.assert_frame_equal(before.table, again.table)
        # the user now plays the first two recommended tracks, after everything else
        picks = before.table["item_id"].tolist()[:2]
        last = store.scalar("SELECT max(ts) FROM events")
        for i, item in enumerate(picks):
            store.con.execute(
                "INSERT INTO events (user_id, track_id, ts, source, ingest_id) "
                "VALUES (?, ?, ?, 'jodie', 99)",
                [user, item, pd.Timestamp(last) + pd.Timedelta(minutes=5 * (i + 1))],
            )
        after = recommend_for_user(store, loaded, user, k=10, explain=False)
    assert not set(picks) & set(after.table["item_id"])  # now seen
    assert after.table["item_id"].tolist() != before.table["item_id"].tolist()
    assert any("request time" in n for n in after.notes)


def test_unseen_user_and_skips(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        model = fit_model(store, "markov")
    assert isinstance(model, Recommender)
    events = pd.DataFrame(
        {"user_id": "x", "item_id": [int(model.item_map_.external_ids[0])] * 2 + [-1]}  # type: ignore[union-attr]
    ).assign(kind=["play", "play", "play"])
    recs = model.recommend_for_events(events, k=5)  # type: ignore[attr-defined]
    assert len(recs) == 5 and (recs["user_id"] == "x").all()
    assert model.item_map_ is not None
    first = int(model.item_map_.external_ids[0])
    assert first not in set(recs["item_id"])
    # a skipped item is not "seen": it may come back, and it does not drive the chain
    skipped = events.assign(kind="skip").iloc[:1]
    recs_skip = model.recommend_for_events(skipped, k=5)  # type: ignore[attr-defined]
    assert recs_skip["item_id"].tolist() != recs["item_id"].tolist()


def test_explain_refused_with_hint(jodie: Path) -> None:
    with Store(jodie, read_only=True) as store:
        model = fit_model(store, "markov")
        with pytest.raises(ConfigError, match="cannot explain"):
            recommend_for_user(store, model, "jodie:5", k=5, explain=True)


def test_sasrec_deterministic_and_curve() -> None:
    rows = []
    for u in range(30):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=u)
        for t in range(25):  # each user walks the cycle 0 -> 1 -> ... -> 9 from a random start
            rows.append((f"u{u}", int((u + t) % 10), start + pd.Timedelta(minutes=4 * t)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    ds = InteractionDataset.from_interactions(frame.assign(weight=1.0))
    ds = ds.__class__(**{**ds.__dict__, "events": frame.assign(kind="play")})
    cfg = {**TINY, "epochs": 25, "batch_size": 8, "targets": "all", "val_share": 0.2, "lr": 5e-3}
    a = get_model("sasrec", **cfg).fit(ds)
    b = get_model("sasrec", **cfg).fit(ds)
    assert np.array_equal(a.weights_, b.weights_)  # type: ignore[attr-defined]
    curve = a.training_curve()  # type: ignore[attr-defined]
    assert list(curve.columns) == ["epoch", "train_loss", "val_loss", "val_ndcg10", "seconds"]
    assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]
    # it learns the cycle: after ... 3, 4 comes 5
    seq = pd.DataFrame(
        {"item_id": [2, 3, 4], "ts": pd.date_range("2025-01-01", periods=3, freq="4min")}
    )
    top = a.recommend_for_events(seq, k=1, exclude_seen=False)  # type: ignore[attr-defined]
    assert top["item_id"].tolist() == [5]
