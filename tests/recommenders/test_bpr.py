"""Contract tests for the `bpr` recommender; no fold-in, no explanations."""

from __future__ import annotations

from typing import Any, ClassVar

from contract import RecommenderContract


class TestBPR(RecommenderContract):
    model_name: ClassVar[str] = "bpr"
    config: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 60, "learning_rate": 0.05}
