"""Runner, report and tuning on the real JODIE sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from encore.data.store import Store
from encore.errors import DataError, UnknownIdError
from encore.evaluation.report import write_report
from encore.evaluation.runner import evaluate_models, resolve_models, select_data, split_store
from encore.evaluation.splits import Split
from encore.evaluation.tuning import candidate_configs, tune_model


@pytest.fixture(scope="module")
def jodie_split(jodie_db: Path) -> Split:
    with Store(jodie_db, read_only=True) as store:
        return split_store(store, level="track", method="global-time", source="jodie")


def test_store_split_cuts_events_not_pairs(jodie_db: Path, jodie_split: Split) -> None:
    sp = jodie_split
    assert sp.train["ts"].max() < sp.cutoff <= sp.test["ts"].min()
    assert set(sp.test["user_id"]) <= set(sp.train["user_id"])
    with Store(jodie_db, read_only=True) as store:
        n_before = store.scalar(f"SELECT count(*) FROM events WHERE ts < TIMESTAMP '{sp.cutoff}'")
        n_all = store.scalar("SELECT count(*) FROM events")
        # a pair played on both sides is in train (aggregated from its earlier plays) and in test
        both = sp.train.merge(sp.test, on=["user_id", "item_id"])
        assert len(both) > 0
    assert 0.75 < n_before / n_all < 0.85


def test_select_data(jodie_db: Path) -> None:
    with Store(jodie_db, read_only=True) as store:
        assert select_data(store, "jodie").sources == ["jodie"]
        assert select_data(store, None).sources is None
        with pytest.raises(UnknownIdError, match="nope"):
            select_data(store, "nope")
        with pytest.raises(UnknownIdError):
            select_data(store, "listening-histories")


def test_resolve_models_adds_baselines() -> None:
    assert resolve_models("ease", has_time=True)[:3] == ["popular", "recent_popular", "item_knn"]
    assert "recent_popular" not in resolve_models("all", has_time=False)
    with pytest.raises(UnknownIdError):
        resolve_models("ease,bogus", has_time=True)


def test_models_that_need_timestamps_are_left_out_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from encore.recommenders import registry
    from encore.recommenders.knn import ItemKNN

    registry.available_models()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class TimedKNN(ItemKNN):  # registers itself in the copy of the registry
        name: ClassVar[str] = "timed_knn_for_a_test"
        needs_timestamps: ClassVar[bool] = True

    timed = [m for m in registry.available_models() if registry.model_class(m).needs_timestamps]
    # the sequence models read events in time order, so they need times too
    assert set(timed) == {
        "recent_popular",
        "timed_knn_for_a_test",
        "markov",
        "last_items_knn",
        "session_knn",
        "sasrec",
        "bandit",
        "reinforce",
    }
    asked = "ease,timed_knn_for_a_test"
    assert resolve_models(asked, has_time=True) == [
        "popular",
        "recent_popular",
        "item_knn",
        "ease",
        "timed_knn_for_a_test",
    ]
    assert resolve_models(asked, has_time=False) == ["popular", "item_knn", "ease"]
    everything = resolve_models("all", has_time=False)
    assert "item_knn" in everything and not set(timed) & set(everything)


def test_evaluate_and_report(jodie_split: Split, tmp_path: Path) -> None:
    comp = evaluate_models(jodie_split, "item_knn", ks=(10, 20), level="track", data_name="jodie")
    table = comp.table().set_index("model")
    assert list(table.index) == ["popular", "recent_popular", "item_knn"]
    assert table["error"].eq("").all()
    # known ordering on this data: item kNN well above popularity
    assert table.loc["item_knn", "ndcg@10"] > table.loc["popular", "ndcg@10"] + 0.02
    assert table.loc["item_knn", "recall@20"] >= table.loc["item_knn", "recall@10"]
    assert (table["fit_s"] >= 0).all()
    bs = comp.bootstrap()
    assert set(bs["versus"]) == {"popular", "recent_popular"} and (bs["low"] <= bs["diff"]).all()
    long = comp.per_user()
    assert set(long["model"]) == set(table.index)
    paths = write_report(comp, tmp_path / "rep")
    names = {p.name for p in paths}
    assert {
        "comparison.md",
        "comparison.csv",
        "comparison.json",
        "per_user.csv",
        "comparison.png",
        "comparison.html",
    } <= names
    md = (tmp_path / "rep" / "comparison.md").read_text()
    assert "global temporal split" in md and "| item_knn |" in md and "Paired bootstrap" in md
    js = json.loads((tmp_path / "rep" / "comparison.json").read_text())
    assert js["split"]["method"] == "global-time" and len(js["models"]) == 3
    assert pd.read_csv(tmp_path / "rep" / "comparison.csv").shape[0] == 3
    assert (tmp_path / "rep" / "comparison.png").stat().st_size > 10_000


def test_failing_model_is_recorded(jodie_split: Split) -> None:
    comp = evaluate_models(jodie_split, ["popular"], configs={"popular": {"by": "nonsense"}})
    row = comp.table().set_index("model").loc["popular"]
    assert "ConfigError" in row["error"]


def test_tuning_uses_validation_inside_train(jodie_split: Split) -> None:
    configs = candidate_configs("item_knn", base_config={"similarity": "cosine"}, max_trials=3)
    assert configs[0] == {"similarity": "cosine"} and len(configs) == 3
    assert all(c["similarity"] == "cosine" for c in configs)
    res = tune_model("item_knn", jodie_split, max_trials=3, level="track")
    assert len(res.trials) == 3 and res.best_config is not None
    assert res.best_value == pytest.approx(res.trials["ndcg@10"].max())
    comp = evaluate_models(jodie_split, ["popular"], tune=True, tune_trials=2)
    assert comp.table().set_index("model").loc["popular", "tuned"]
    assert "popular" in comp.extra["tuning"]


def test_store_split_errors(hetrec_db: Path) -> None:
    with Store(hetrec_db, read_only=True) as store, pytest.raises(DataError, match="dated events"):
        split_store(store, level="artist", method="global-time", source="hetrec2011")
