"""PureSVD (Cremonesi, Koren and Turrin 2010): a truncated SVD of the interaction matrix.

``X ~ U S V'``; a user's scores are ``x_u V V'``, the projection of their row on the top
``factors`` right singular vectors. That is a function of the row alone, so users unseen
at fit time are folded in exactly, and a score splits over the user's items as
``r_uj * (V_j . V_i)``. The SVD is exact by default: ARPACK (``scipy.sparse.linalg.svds``)
started from a seeded vector, so it is deterministic; scikit-learn's randomized SVD
(Halko et al.) is the approximate alternative (``solver="randomized"``), for matrices
too large for ARPACK's Lanczos basis.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import Recommender, RecommenderConfig
from encore.recommenders.linalg import cosine_rows, dense

log = logging.getLogger(__name__)


class PureSVDConfig(RecommenderConfig):
    """Config of :class:`PureSVD`: factors, SVD solver (exact ARPACK by default), seed.

    ``n_iter`` is used only by ``solver="randomized"``.
    """

    factors: int = Field(default=32, ge=1)
    solver: Literal["arpack", "randomized"] = "arpack"
    #: Power iterations of the randomized solver (unused by ARPACK).
    n_iter: int = Field(default=7, ge=0)
    random_state: int = 42


class PureSVD(Recommender):
    """PureSVD: truncated SVD (ARPACK; randomized on request); scores are ``x V V'``."""

    name: ClassVar[str] = "pure_svd"
    config_class = PureSVDConfig
    config: PureSVDConfig
    supports_fold_in: ClassVar[bool] = True
    supports_explain: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("item_factors_", "singular_values_")
    search_space: ClassVar[dict[str, list[Any]]] = {"factors": [16, 32, 64, 128, 256]}

    def _fit(self, dataset: InteractionDataset) -> None:
        x = sp.csr_matrix(dataset.matrix, dtype=np.float32)
        k = min(self.config.factors, min(x.shape) - 1) if min(x.shape) > 1 else 1
        if k < self.config.factors:
            log.warning("pure_svd: only %d factors possible on a %s matrix", k, x.shape)
        if min(x.shape) <= 1:
            _, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
            s, vt = s[:k], vt[:k]
        elif self.config.solver == "arpack":
            from scipy.sparse.linalg import svds

            v0 = np.random.default_rng(self.config.random_state).uniform(-1.0, 1.0, min(x.shape))
            _, s, vt = svds(x, k=k, v0=v0.astype(np.float32), solver="arpack")
            order = np.argsort(-s, kind="stable")  # ARPACK returns ascending values
            s, vt = s[order], vt[order]
        else:
            from sklearn.utils.extmath import randomized_svd

            _, s, vt = randomized_svd(
                x, n_components=k, n_iter=self.config.n_iter, random_state=self.config.random_state
            )
        self.item_factors_: np.ndarray = np.ascontiguousarray(vt.T, dtype=np.float32)
        self.singular_values_: np.ndarray = np.asarray(s, dtype=np.float32)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        v = self.item_factors_
        return dense(sp.csr_matrix(rows, dtype=np.float32) @ v) @ v.T

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        return cosine_rows(self.item_factors_ * self.singular_values_[None, :], item_idx)

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        v = self.item_factors_.astype(np.float64)
        return row.data[:, None] * (v[row.indices] @ v[item_idx].T)
