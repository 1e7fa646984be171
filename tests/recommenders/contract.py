"""The contract every recommender's test inherits.

A test module defines ``class TestX(RecommenderContract)`` with ``model_name`` and a small,
fast ``config``; the flags below say which optional behaviours the model promises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from encore.data.dataset import InteractionDataset
from encore.errors import ConfigError, DataError, NotFittedError, UnknownIdError
from encore.recommenders.base import RECOMMEND_COLUMNS, Recommender
from encore.recommenders.registry import get_model, model_class


def checkerboard(n: int = 30) -> InteractionDataset:
    """``n`` users x ``n`` items; user u has every item of u's parity except item u.

    Known answer (as in ``implicit``'s test suite): item u is the one unseen item like the
    user's, so a personalised model must rank it first, and an item's neighbours share its
    parity.
    """
    rows = [(f"u{u:03d}", j) for u in range(n) for j in range(u % 2, n, 2) if j != u]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(weight=1.0)
    return InteractionDataset.from_interactions(frame)


def random_dataset(
    n_users: int = 40, n_items: int = 60, density: float = 0.15, seed: int = 0
) -> InteractionDataset:
    """A seeded random dataset with continuous weights (no ties) and two user groups."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % 2
        for j in range(n_items):
            p = density * (2.5 if (j < n_items // 2) == (group == 0) else 0.5)
            if rng.random() < p:
                rows.append(
                    (
                        f"u{u:03d}",
                        1000 + j,
                        float(np.log1p(rng.integers(1, 50))) + rng.random() * 1e-3,
                    )
                )
    for u in range(n_users):  # every user has at least two items
        rows.append((f"u{u:03d}", 1000 + (u % n_items), 1.0 + u * 1e-4))
        rows.append((f"u{u:03d}", 1000 + ((u * 7 + 3) % n_items), 0.5 + u * 1e-4))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "weight"])
    frame = frame.groupby(["user_id", "item_id"], as_index=False)["weight"].max()
    return InteractionDataset.from_interactions(frame, item_level="track")


class RecommenderContract:
    """Contract tests; subclasses set ``model_name`` and a fast ``config``."""

    model_name: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    #: A personalised model ranks the checkerboard's one missing same-parity item first.
    personalised: ClassVar[bool] = True
    #: Folding in a fitted user's own row reproduces their in-dataset recommendations.
    fold_in_exact: ClassVar[bool] = True
    #: Explanations sum to the score (all contributors shown).
    explain_sums_to_score: ClassVar[bool] = True

    # ------------------------------------------------------------------ helpers
    @classmethod
    def make(cls, **overrides: Any) -> Recommender:
        return get_model(cls.model_name, **{**cls.config, **overrides})

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> InteractionDataset:
        return random_dataset()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: InteractionDataset) -> Recommender:
        return cls.make().fit(data)

    # ------------------------------------------------------------------ known answer
    def test_known_answer_checkerboard(self) -> None:
        if not self.personalised:
            pytest.skip("not a personalised model (its own known-answer test covers it)")
        ds = checkerboard()
        model = self.make().fit(ds)
        users = list(ds.user_map.external_ids)
        rec = model.recommend(users, k=1)
        expected = [int(u[1:]) for u in users]
        assert rec["item_id"].tolist() == expected

    def test_similar_items_share_parity(self) -> None:
        cls = model_class(self.model_name)
        ds = checkerboard()
        model = self.make().fit(ds)
        if not cls.supports_similar_items:
            with pytest.raises(ConfigError):
                model.similar_items([0], k=3)
            return
        sim = model.similar_items([0, 1, 7], k=3)
        assert list(sim.columns) == ["item_id", "similar_item_id", "score", "rank"]
        assert (sim["item_id"] != sim["similar_item_id"]).all()
        assert ((sim["item_id"] % 2) == (sim["similar_item_id"] % 2)).all()
        assert sim.groupby("item_id")["rank"].apply(list).tolist() == [[1, 2, 3]] * 3

    # ------------------------------------------------------------------ output shape
    def test_output_frame(self, fitted: Recommender, data: InteractionDataset) -> None:
        users = list(data.user_map.external_ids[:5])
        rec = fitted.recommend(users, k=7)
        assert tuple(rec.columns) == RECOMMEND_COLUMNS
        assert rec["user_id"].unique().tolist() == users
        for _, g in rec.groupby("user_id"):
            assert g["rank"].tolist() == list(range(1, len(g) + 1))
            assert len(g) == 7
            assert (np.diff(g["score"].to_numpy()) <= 1e-6).all()
        assert set(rec["item_id"]) <= set(data.item_map.external_ids.tolist())
        assert rec["item_id"].dtype == np.int64

    def test_batch_equals_single(self, fitted: Recommender, data: InteractionDataset) -> None:
        users = list(data.user_map.external_ids[:12])
        batch = fitted.recommend(users, k=5)
        single = pd.concat([fitted.recommend([u], k=5) for u in users], ignore_index=True)
        assert batch["item_id"].tolist() == single["item_id"].tolist()
        np.testing.assert_allclose(batch["score"], single["score"], rtol=1e-4, atol=1e-6)

    def test_seen_items_excluded(self, fitted: Recommender, data: InteractionDataset) -> None:
        users = list(data.user_map.external_ids)
        rec = fitted.recommend(users, k=10)
        seen = set(zip(data.interactions["user_id"], data.interactions["item_id"], strict=True))
        assert not any((u, i) in seen for u, i in zip(rec["user_id"], rec["item_id"], strict=True))
        every = fitted.recommend(users[:3], k=data.n_items, exclude_seen=False)
        assert every.groupby("user_id").size().tolist() == [data.n_items] * 3

    def test_candidate_items(self, fitted: Recommender, data: InteractionDataset) -> None:
        allowed = data.item_map.external_ids[::3]
        rec = fitted.recommend(list(data.user_map.external_ids[:4]), k=5, items=allowed)
        assert set(rec["item_id"]) <= set(allowed.tolist())
        assert len(rec) > 0

    # ------------------------------------------------------------------ errors
    def test_unknown_user_clear_error(self, fitted: Recommender, data: InteractionDataset) -> None:
        known = data.user_map.external_ids[0]
        with pytest.raises(UnknownIdError) as info:
            fitted.recommend([known, "nobody:1", "nobody:2"], k=3)
        assert info.value.ids == ["nobody:1", "nobody:2"]
        assert "nobody:1" in str(info.value)

    @pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
    def test_k_validation(self, fitted: Recommender, data: InteractionDataset, k: Any) -> None:
        with pytest.raises(ConfigError):
            fitted.recommend([data.user_map.external_ids[0]], k=k)

    def test_not_fitted(self) -> None:
        with pytest.raises(NotFittedError):
            self.make().recommend(["u000"], k=3)

    def test_fit_validation(self) -> None:
        with pytest.raises(ConfigError):
            self.make().fit("not a dataset")  # type: ignore[arg-type]
        empty = InteractionDataset.from_interactions(
            pd.DataFrame({"user_id": ["a"], "item_id": [1], "weight": [0.0]}),
            users=["a"],
            items=[1],
        )
        with pytest.raises(DataError):
            self.make().fit(empty)

    # ------------------------------------------------------------------ config & persistence
    def test_config_round_trip(self) -> None:
        model = self.make()
        cfg = model.get_config()
        again = type(model).from_config(cfg)
        assert again.get_config() == cfg
        assert get_model(self.model_name, **cfg).get_config() == cfg
        with pytest.raises(ConfigError):
            self.make(no_such_option=1)

    def test_save_load_stable(
        self, fitted: Recommender, data: InteractionDataset, tmp_path: Path
    ) -> None:
        users = list(data.user_map.external_ids[:10])
        before = fitted.recommend(users, k=5)
        path = fitted.save(tmp_path / "model")
        loaded = Recommender.load(path)
        assert type(loaded) is type(fitted)
        assert loaded.get_config() == fitted.get_config()
        pd.testing.assert_frame_equal(before, loaded.recommend(users, k=5))
        again = type(fitted).load(path)
        pd.testing.assert_frame_equal(before, again.recommend(users, k=5))

    def test_load_rejects_other_files(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.npz"
        np.savez(bad, x=np.arange(3))
        with pytest.raises(DataError):
            Recommender.load(bad)
        with pytest.raises(DataError):
            Recommender.load(tmp_path / "missing.npz")

    def test_refit_stable(self, fitted: Recommender, data: InteractionDataset) -> None:
        users = list(data.user_map.external_ids[:10])
        again = self.make().fit(data)
        a, b = fitted.recommend(users, k=5), again.recommend(users, k=5)
        assert a["item_id"].tolist() == b["item_id"].tolist()
        np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-6)

    # ------------------------------------------------------------------ fold-in
    def test_fold_in(self, fitted: Recommender, data: InteractionDataset) -> None:
        user = data.user_map.external_ids[3]
        rows = data.interactions[data.interactions["user_id"] == user]
        frame = rows[["item_id", "weight"]].assign(user_id="someone-new")
        if not fitted.supports_fold_in:
            with pytest.raises(ConfigError, match="cannot recommend for users unseen"):
                fitted.recommend_for_interactions(frame, k=5)
            return
        folded = fitted.recommend_for_interactions(frame, k=5)
        assert folded["user_id"].unique().tolist() == ["someone-new"]
        assert not set(folded["item_id"]) & set(rows["item_id"])
        if self.fold_in_exact:
            direct = fitted.recommend([user], k=5)
            assert folded["item_id"].tolist() == direct["item_id"].tolist()
            np.testing.assert_allclose(folded["score"], direct["score"], rtol=1e-4, atol=1e-5)
        # unknown items are dropped, a bare list of items works
        listed = fitted.recommend_for_interactions([*rows["item_id"].tolist(), 999_999], k=3)
        assert len(listed) == 3

    # ------------------------------------------------------------------ explanations
    def test_explain(self, fitted: Recommender, data: InteractionDataset) -> None:
        user = data.user_map.external_ids[5]
        rec = fitted.recommend([user], k=3)
        if not fitted.supports_explain:
            with pytest.raises(ConfigError):
                fitted.explain(user, rec["item_id"])
            return
        ex = fitted.explain(user, rec["item_id"], n=2)
        assert list(ex.columns) == ["user_id", "item_id", "contributor_item_id", "contribution"]
        seen = set(data.interactions.loc[data.interactions["user_id"] == user, "item_id"])
        assert set(ex["contributor_item_id"]) <= seen
        assert ex.groupby("item_id").size().max() <= 2
        for _, g in ex.groupby("item_id"):
            assert (np.diff(g["contribution"].to_numpy()) <= 1e-9).all()
        if self.explain_sums_to_score:
            full = fitted.explain(user, rec["item_id"], n=len(seen))
            sums = full.groupby("item_id")["contribution"].sum()
            np.testing.assert_allclose(
                sums.loc[rec["item_id"]].to_numpy(), rec["score"].to_numpy(), rtol=1e-3, atol=1e-5
            )
