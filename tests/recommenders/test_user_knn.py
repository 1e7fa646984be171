"""Contract tests for the `user_knn` recommender."""

from __future__ import annotations

from typing import Any, ClassVar

from contract import RecommenderContract


class TestUserKNN(RecommenderContract):
    model_name: ClassVar[str] = "user_knn"
    config: ClassVar[dict[str, Any]] = {"k": 10}
    # a folded-in copy of a fitted user finds that user as its nearest neighbour
    fold_in_exact: ClassVar[bool] = False
