"""Popularity baselines: contract plus their own known answers."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract

from encore.data.dataset import InteractionDataset
from encore.errors import ConfigError
from encore.recommenders.registry import get_model


def _counts_dataset() -> InteractionDataset:
    # item 10: 4 users, item 11: 3, item 12: 2, item 13: 1 (total weights reversed)
    rows = [
        ("a", 10, 1.0),
        ("b", 10, 1.0),
        ("c", 10, 1.0),
        ("d", 10, 1.0),
        ("a", 11, 1.0),
        ("b", 11, 1.0),
        ("c", 11, 1.0),
        ("a", 12, 5.0),
        ("b", 12, 5.0),
        ("a", 13, 20.0),
    ]
    return InteractionDataset.from_interactions(
        pd.DataFrame(rows, columns=["user_id", "item_id", "weight"])
    )


class TestPopular(RecommenderContract):
    model_name: ClassVar[str] = "popular"
    config: ClassVar[dict[str, Any]] = {}
    personalised: ClassVar[bool] = False

    def test_known_answer(self) -> None:
        ds = _counts_dataset()
        rec = get_model("popular").fit(ds).recommend(["d", "c"], k=3)
        assert rec[rec.user_id == "d"]["item_id"].tolist() == [11, 12, 13]
        assert rec[rec.user_id == "d"]["score"].tolist() == [3.0, 2.0, 1.0]
        assert rec[rec.user_id == "c"]["item_id"].tolist() == [12, 13]  # only two unseen items
        by_weight = get_model("popular", by="weight").fit(ds).recommend(["d"], k=3)
        assert by_weight["item_id"].tolist() == [13, 12, 11]

    def test_bad_option(self) -> None:
        with pytest.raises(ConfigError, match="by"):
            get_model("popular", by="loudness")


class TestRecentPopular(RecommenderContract):
    model_name: ClassVar[str] = "recent_popular"
    config: ClassVar[dict[str, Any]] = {"half_life_days": 7.0}
    personalised: ClassVar[bool] = False

    def test_known_answer_decay(self) -> None:
        # item 1: three old plays; item 2: two fresh plays; half-life 1 day
        ts = pd.to_datetime(["2020-01-01"] * 3 + ["2020-01-10"] * 2)
        frame = pd.DataFrame(
            {"user_id": ["a", "b", "c", "d", "e"], "item_id": [1, 1, 1, 2, 2], "ts": ts}
        )
        frame = pd.concat(
            [
                frame,
                pd.DataFrame(
                    {"user_id": ["z"], "item_id": [3], "ts": pd.to_datetime(["2020-01-09"])}
                ),
            ]
        )
        ds = InteractionDataset.from_interactions(frame)
        model = get_model("recent_popular", half_life_days=1.0).fit(ds)
        rec = model.recommend(["z"], k=2)
        assert rec["item_id"].tolist() == [2, 1]
        np.testing.assert_allclose(rec["score"], [2.0, 3 * 0.5**9])
        # a long half-life approaches plain popularity
        slow = get_model("recent_popular", half_life_days=1e6).fit(ds).recommend(["z"], k=2)
        assert slow["item_id"].tolist() == [1, 2]
        # a window drops old pairs entirely
        windowed = get_model("recent_popular", half_life_days=1.0, window_days=5).fit(ds)
        win = windowed.recommend(["z"], k=2)
        assert win["item_id"].tolist() == [2, 1]
        assert win["score"].tolist() == [2.0, 0.0]

    def test_without_timestamps_falls_back(self, caplog: pytest.LogCaptureFixture) -> None:
        ds = _counts_dataset()
        rec = get_model("recent_popular").fit(ds).recommend(["d"], k=3)
        assert rec["item_id"].tolist() == [11, 12, 13]
        assert "no timestamps" in caplog.text

    def test_bad_half_life(self) -> None:
        with pytest.raises(ConfigError, match="half_life_days"):
            get_model("recent_popular", half_life_days=0)
