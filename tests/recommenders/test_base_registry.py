"""The base class helpers, the registry and explanations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from contract import random_dataset

from encore.errors import ConfigError, DataError, UnknownIdError
from encore.recommenders.base import FORMAT_VERSION, Recommender
from encore.recommenders.explain import explanation_text, recommend_with_explanations
from encore.recommenders.ranking import top_k
from encore.recommenders.registry import available_models, describe_models, get_model, model_class

EXPECTED = {
    "popular",
    "recent_popular",
    "item_knn",
    "user_knn",
    "als",
    "bpr",
    "ease",
    "pure_svd",
    "slim",
}


def test_registry_lists_every_model() -> None:
    assert set(available_models()) == EXPECTED
    for name in EXPECTED:
        cls = model_class(name)
        assert cls.name == name and issubclass(cls, Recommender)
    rows = describe_models()
    assert {r["name"] for r in rows} == EXPECTED
    assert {r["name"] for r in rows if r["fold_in"]} == EXPECTED - {"bpr"}


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


def test_recommend_with_explanations() -> None:
    ds = random_dataset()
    model = get_model("item_knn", k=20).fit(ds)
    user = ds.user_map.external_ids[0]
    out = recommend_with_explanations(model, user, k=4, n=2)
    recs = model.recommend([user], k=4)
    assert out["item_id"].drop_duplicates().tolist() == recs["item_id"].tolist()
    assert out.groupby("item_id").size().max() <= 2
    assert ((out["share"] > 0) & (out["share"] <= 1 + 1e-9)).all()
    text = explanation_text(out, names={i: f"artist {i}" for i in ds.item_map.external_ids})
    assert len(text) == 4 and text["because"].str.contains("artist").all()
    with pytest.raises(ConfigError, match="cannot explain"):
        recommend_with_explanations(get_model("popular").fit(ds), user)


def test_recommend_many_users_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import encore.recommenders.ranking as ranking

    ds = random_dataset()
    model = get_model("ease", l2=5.0, min_item_users=1).fit(ds)
    users = list(ds.user_map.external_ids)
    whole = model.recommend(users, k=5)
    monkeypatch.setattr(ranking, "SCORE_BLOCK_FLOATS", ds.n_items * 3)  # 3 users per block
    pd.testing.assert_frame_equal(whole, model.recommend(users, k=5))
