"""The base class helpers, the registry and explained recommendations."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from contract import random_dataset

from encore.data.catalogue import item_info
from encore.data.dataset import build_interactions
from encore.data.store import Store
from encore.data.synthetic import generate
from encore.errors import ConfigError, DataError, UnknownIdError
from encore.recommenders.base import FORMAT_VERSION, Recommender
from encore.recommenders.ranking import top_k
from encore.recommenders.recommend import fit_model, recommend_for_user
from encore.recommenders.registry import (
    available_models,
    baseline_models,
    capable_models,
    describe_models,
    get_model,
    model_class,
)


def _model_classes_in_package() -> dict[str, type[Recommender]]:
    """Concrete model classes defined in the package's loaded modules, by their own name."""
    found: dict[str, type[Recommender]] = {}
    todo = list(Recommender.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = sys.modules.get(cls.__module__)
        if (
            cls.__module__.startswith("encore.recommenders.")
            and module is not None
            and getattr(module, cls.__name__, None) is cls
            and "name" in vars(cls)
            and not inspect.isabstract(cls)
        ):
            found[cls.name] = cls
    return found


def test_registry_lists_every_model() -> None:
    names = set(available_models())  # scans the package
    assert names == set(_model_classes_in_package())
    assert {"popular", "item_knn", "als", "bpr", "ease", "pure_svd", "slim"} <= names
    for name in names:
        cls = model_class(name)
        assert cls.name == name and issubclass(cls, Recommender)
    rows = describe_models()
    assert {r["name"] for r in rows} == names
    fold_in = {r["name"] for r in rows if r["fold_in"]}
    assert fold_in == set(capable_models("fold_in"))
    assert "bpr" not in fold_in and {"popular", "item_knn", "als", "ease"} <= fold_in


def test_class_attributes_beside_the_config() -> None:
    assert baseline_models() == ["popular", "recent_popular", "item_knn"]
    for name in available_models():
        cls = model_class(name)
        # every searched field is a config field of the model
        assert set(cls.search_space) <= set(cls.config_class.model_fields), name
        assert all(len(v) for v in cls.search_space.values()), name
    assert model_class("ease").item_limit == 40_000 and model_class("slim").item_limit == 5_000
    assert model_class("item_knn").item_limit is None


def test_a_subclass_with_a_new_name_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from encore.recommenders import registry
    from encore.recommenders.knn import ItemKNN

    available_models()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Renamed(ItemKNN):
        name: ClassVar[str] = "renamed_knn_for_a_test"

    class SameName(ItemKNN):  # no name of its own: not registered again
        pass

    assert model_class("renamed_knn_for_a_test") is Renamed
    assert model_class("item_knn") is ItemKNN
    assert SameName.name == "item_knn"
    # capabilities, search space and item limit are inherited; being a baseline is not
    assert Renamed.search_space == ItemKNN.search_space and ItemKNN.baseline_rank is not None
    assert Renamed.baseline_rank is None
    assert "renamed_knn_for_a_test" in capable_models("explain")
    assert "renamed_knn_for_a_test" not in baseline_models()
    with pytest.raises(ValueError, match="already used"):
        type("Clash", (ItemKNN,), {"name": "ease"})


def test_refusals_name_the_capable_models() -> None:
    ds = random_dataset()
    user = ds.user_map.external_ids[0]
    popular = get_model("popular").fit(ds)
    with pytest.raises(ConfigError, match="popular cannot explain") as info:
        popular.explain(user, [ds.item_map.external_ids[0]])
    assert info.value.hint == "models that can: " + ", ".join(capable_models("explain"))
    assert "ease" in info.value.hint and "popular" not in info.value.hint
    with pytest.raises(ConfigError, match="popular cannot explain"):
        popular.require("explain")
    popular.require("fold_in")
    bpr = get_model("bpr", factors=4, iterations=2).fit(ds)
    with pytest.raises(ConfigError, match="bpr cannot recommend for users unseen") as info:
        bpr.recommend_for_interactions([ds.item_map.external_ids[0]])
    assert ", ".join(capable_models("fold_in")) in str(info.value.hint)
    assert "bpr" not in str(info.value.hint).split("(")[1]
    with pytest.raises(ConfigError, match="popular has no notion of item similarity"):
        popular.similar_items([ds.item_map.external_ids[0]])


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UnknownIdError) as info:
        get_model("deep_magic")
    assert "deep_magic" in str(info.value)
    assert "ease" in str(info.value) and "item_knn" in str(info.value)


def test_invalid_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match="factors"):
        get_model("als", factors=0)
    with pytest.raises(ConfigError, match="similarity"):
        get_model("item_knn", similarity="euclid")


def test_top_k_ties_and_infinities() -> None:
    scores = np.array([[1.0, 3.0, 3.0, -np.inf, 2.0], [-np.inf] * 5])
    idx, vals = top_k(scores, 4)
    assert idx[0].tolist() == [1, 2, 4, 0]
    assert vals[0].tolist() == [3.0, 3.0, 2.0, 1.0]
    assert idx[1].tolist() == [-1, -1, -1, -1]
    idx, _ = top_k(scores[:1], 10)
    assert idx[0].tolist() == [1, 2, 4, 0, -1]


def test_load_checks_format_and_class(tmp_path: Path) -> None:
    ds = random_dataset()
    path = get_model("item_knn", k=5).fit(ds).save(tmp_path / "knn.npz")
    with pytest.raises(DataError, match="not 'ease'"):
        model_class("ease").load(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["header"]))
    header["format_version"] = FORMAT_VERSION + 1
    arrays["header"] = np.asarray(json.dumps(header))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **arrays)
    with pytest.raises(DataError, match="newer"):
        Recommender.load(newer)


def test_recommend_with_explanations(store: Store) -> None:
    """The recommend path's explained list (``encore recommend --explain``)."""
    generate(store, 3_000, seed=0)
    model = fit_model(store, "item_knn", level="artist", params={"k": 20})
    assert model.user_map_ is not None
    user = model.user_map_.external_ids[0]
    out = recommend_for_user(store, model, user, k=4, level="artist").table
    recs = model.recommend([user], k=4)
    assert out["item_id"].tolist() == recs["item_id"].tolist()
    # each reason: "name (contribution)" for the n = 3 main contributors
    reasons = [[part.rsplit(" (", 1) for part in b.split("; ")] for b in out["because"]]
    assert max(len(r) for r in reasons) <= 3
    for score, parts in zip(out["score"], reasons, strict=True):
        shares = [float(v.rstrip(")")) / score for _, v in parts]
        assert all(0 < s <= 1 + 5e-3 for s in shares)  # contributions shown to 3 digits
    played = build_interactions(store, level="artist", users=[user])["item_id"]
    names = set(item_info(store, "artist", played)["name"])
    assert len(out) == 4 and all(name in names for r in reasons for name, _ in r)
    popular = fit_model(store, "popular", level="artist")
    with pytest.raises(ConfigError, match="cannot explain"):
        recommend_for_user(store, popular, user, level="artist")


def test_recommend_many_users_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import encore.recommenders.ranking as ranking

    ds = random_dataset()
    model = get_model("ease", l2=5.0, min_item_users=1).fit(ds)
    users = list(ds.user_map.external_ids)
    whole = model.recommend(users, k=5)
    monkeypatch.setattr(ranking, "SCORE_BLOCK_FLOATS", ds.n_items * 3)  # 3 users per block
    pd.testing.assert_frame_equal(whole, model.recommend(users, k=5))
