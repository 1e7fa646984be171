"""Implicit-feedback ALS (Hu, Koren and Volinsky 2008) via ``implicit``'s CPU solver.

Confidence follows ``implicit``: ``C_ui = alpha * r_ui`` for observed pairs, 1 otherwise.
After ``implicit`` has alternated ``iterations`` times (conjugate gradient), the user
factors are solved once more exactly (Cholesky, ``implicit``'s ``recalculate_user``)
against the final item factors. A user's factors are then a pure function of their row,
so a user unseen at fit time gets exactly the recommendations they would have had as a
fitted user with the same interactions (fold-in), and every score splits exactly over
the user's items (``explain``, as in ``implicit``'s ``explain``).
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


class ALSConfig(RecommenderConfig):
    """Config of :class:`ALS` (``implicit`` names; ``num_threads`` kept low on shared machines)."""

    factors: int = Field(default=64, ge=1)
    regularization: float = Field(default=0.1, ge=0)
    alpha: float = Field(default=1.0, gt=0)
    iterations: int = Field(default=15, ge=1)
    use_cg: bool = True
    random_state: int = 42
    num_threads: int = Field(default=1, ge=1, le=2)


class ALS(Recommender):
    """Implicit-feedback alternating least squares (``implicit.cpu.als``)."""

    name: ClassVar[str] = "als"
    config_class = ALSConfig
    config: ALSConfig
    supports_fold_in: ClassVar[bool] = True
    supports_explain: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("user_factors_", "item_factors_")
    search_space: ClassVar[dict[str, list[Any]]] = {
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.1, 1.0],
        "alpha": [1.0, 10.0, 40.0],
        "iterations": [15],
    }

    def _model(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        with limit_blas():
            return AlternatingLeastSquares(
                factors=c.factors,
                regularization=c.regularization,
                alpha=c.alpha,
                iterations=c.iterations,
                use_cg=c.use_cg,
                random_state=c.random_state,
                num_threads=c.num_threads,
                dtype=np.float32,
            )

    def _fit(self, dataset: InteractionDataset) -> None:
        assert self.user_items_ is not None
        model = self._model()
        with limit_blas():
            model.fit(self.user_items_, show_progress=self.show_progress)
        self._implicit = model
        self.item_factors_: np.ndarray = np.asarray(model.item_factors, dtype=np.float32)
        self.user_factors_: np.ndarray = self._solve_users(self.user_items_)

    def _after_load(self) -> None:
        self._implicit = None

    def _solver(self) -> Any:
        model = getattr(self, "_implicit", None)
        if model is None:
            model = self._model()
            model.item_factors = self.item_factors_
            model.user_factors = self.user_factors_
            self._implicit = model
        return model

    def _solve_users(self, rows: sp.csr_matrix) -> np.ndarray:
        """Exact least-squares user factors for interaction rows (Cholesky)."""
        if rows.shape[0] == 0:
            return np.zeros((0, self.config.factors), dtype=np.float32)
        model = self._solver()
        model._YtY = None  # item factors may have changed since the cache was made
        with limit_blas():
            out = model.recalculate_user(
                np.arange(rows.shape[0]), sp.csr_matrix(rows, dtype=np.float32)
            )
        return np.asarray(out, dtype=np.float32).reshape(rows.shape[0], -1)

    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray:
        return self.user_factors_[user_idx] @ self.item_factors_.T

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return self._solve_users(rows) @ self.item_factors_.T

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        return cosine_rows(self.item_factors_, item_idx)

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        # x_u = A^-1 sum_j c_uj y_j with A = Y'Y + reg I + sum_j (c_uj - 1) y_j y_j',
        # so score_ui = y_i' x_u = sum_j c_uj (y_i' A^-1 y_j): an exact split over j.
        y = self.item_factors_.astype(np.float64)
        conf = self.config.alpha * row.data.astype(np.float64)
        yj = y[row.indices]
        a = y.T @ y + self.config.regularization * np.eye(y.shape[1])
        a += (yj * (conf - 1.0)[:, None]).T @ yj
        solved = np.linalg.solve(a, y[item_idx].T)  # A^-1 y_i, [factors, n_targets]
        return conf[:, None] * (yj @ solved)
