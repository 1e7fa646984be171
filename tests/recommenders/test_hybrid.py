"""Contract tests for the `hybrid` recommender (CF candidates + LightGBM ranker)."""

from __future__ import annotations

from typing import Any, ClassVar

from contract import RecommenderContract

FAST_BASES = [
    {"model": "ease", "config": {"l2": 10.0, "min_item_users": 1}, "candidates": 20},
    {"model": "als", "config": {"factors": 8, "iterations": 10}, "candidates": 20},
    {"model": "item_knn", "config": {"k": 20}, "candidates": 20},
    {"model": "popular", "candidates": 5},
]


class TestHybrid(RecommenderContract):
    model_name: ClassVar[str] = "hybrid"
    config: ClassVar[dict[str, Any]] = {"bases": FAST_BASES, "n_estimators": 30, "num_threads": 1}
