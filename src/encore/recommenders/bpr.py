"""Bayesian personalised ranking (Rendle et al. 2009) via ``implicit``'s CPU solver.

BPR learns user factors by stochastic gradient steps over sampled (user, positive,
negative) triples, so a user's factors are not a function of their row alone: users
unseen at fit time cannot be folded in (refit instead), and a score does not split over
the user's items, so there is no ``explain``. ``implicit`` appends an item bias as the
last factor (the user side holds a constant 1 there).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import Recommender, RecommenderConfig
from encore.recommenders.linalg import cosine_rows, limit_blas

log = logging.getLogger(__name__)


class BPRConfig(RecommenderConfig):
    """Config of :class:`BPR` (``implicit`` names)."""

    factors: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=0.01, gt=0)
    regularization: float = Field(default=0.01, ge=0)
    iterations: int = Field(default=100, ge=1)
    random_state: int = 42
    num_threads: int = Field(default=1, ge=1, le=2)


class BPR(Recommender):
    """Bayesian personalised ranking matrix factorisation (``implicit.cpu.bpr``)."""

    name: ClassVar[str] = "bpr"
    config_class = BPRConfig
    config: BPRConfig
    supports_fold_in: ClassVar[bool] = False
    supports_explain: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")
    search_space: ClassVar[dict[str, list[Any]]] = {
        "factors": [32, 64, 128],
        "learning_rate": [0.01, 0.05],
        "regularization": [0.001, 0.01],
    }

    def _fit(self, dataset: InteractionDataset) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        assert self.user_items_ is not None
        c = self.config
        with limit_blas():
            model = BayesianPersonalizedRanking(
                factors=c.factors,
                learning_rate=c.learning_rate,
                regularization=c.regularization,
                iterations=c.iterations,
                random_state=c.random_state,
                num_threads=c.num_threads,
                dtype=np.float32,
            )
            # BPR reads the matrix as binary: which items a user has, not how much
            model.fit(self.user_items_, show_progress=self.show_progress)
        self.user_factors_: np.ndarray = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_: np.ndarray = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray:
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        # the last column is the item bias: similarity uses the latent part only
        return cosine_rows(self.item_factors_[:, :-1], item_idx)
