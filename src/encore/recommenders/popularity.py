"""Popularity baselines: most popular, and recently popular with a time decay.

Both give every user the same ranking (minus the items they already know), so they
fold in new users trivially; they have no item similarity and nothing to explain.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import Recommender, RecommenderConfig

log = logging.getLogger(__name__)


class PopularConfig(RecommenderConfig):
    """Config of :class:`Popular`.

    ``by``: ``users`` counts the users who interacted with an item; ``weight`` sums the
    interaction weights.
    """

    by: Literal["users", "weight"] = "users"


class Popular(Recommender):
    """Most popular items (by distinct users or total weight)."""

    name: ClassVar[str] = "popular"
    config_class = PopularConfig
    config: PopularConfig
    supports_fold_in: ClassVar[bool] = True
    supports_similar_items: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ("item_scores_",)
    baseline_rank: ClassVar[int | None] = 0
    search_space: ClassVar[dict[str, list[Any]]] = {"by": ["users", "weight"]}

    def _fit(self, dataset: InteractionDataset) -> None:
        m = dataset.matrix.tocsc()
        if self.config.by == "users":
            scores = np.diff(m.indptr).astype(np.float64)
        else:
            scores = np.asarray(m.sum(axis=0)).ravel().astype(np.float64)
        self.item_scores_: np.ndarray = scores

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (rows.shape[0], len(self.item_scores_)))


class RecentPopularConfig(RecommenderConfig):
    """Config of :class:`RecentPopular`.

    Each (user, item) pair counts ``0.5 ** (age_days / half_life_days)``, its age taken
    from the pair's last interaction to the dataset's last interaction.
    ``window_days`` drops pairs older than that; ``use_weights`` multiplies by the
    interaction weight.
    """

    half_life_days: float = Field(default=30.0, gt=0)
    window_days: float | None = Field(default=None, gt=0)
    use_weights: bool = False


class RecentPopular(Recommender):
    """Recently popular items: popularity with an exponential time decay (half-life).

    Pairs without a timestamp count 0 when some pairs have one; when the dataset has no
    time at all (e.g. HetRec play counts) every pair counts 1 and the model equals
    ``popular`` (a warning is logged).
    """

    name: ClassVar[str] = "recent_popular"
    config_class = RecentPopularConfig
    config: RecentPopularConfig
    supports_fold_in: ClassVar[bool] = True
    supports_similar_items: ClassVar[bool] = False
    state_attrs: ClassVar[tuple[str, ...]] = ("item_scores_", "reference_ts_")
    baseline_rank: ClassVar[int | None] = 1
    needs_timestamps: ClassVar[bool] = True
    search_space: ClassVar[dict[str, list[Any]]] = {"half_life_days": [7.0, 30.0, 90.0, 365.0]}

    def _fit(self, dataset: InteractionDataset) -> None:
        mat = sp.csr_matrix(dataset.matrix)
        mat.sort_indices()
        ts = dataset.timestamps
        if ts is None or not np.isfinite(ts.data).any():
            log.warning(
                "recent_popular: the dataset has no timestamps; falling back to plain popularity"
            )
            decay = np.ones(mat.nnz)
            self.reference_ts_: float | None = None
        else:
            ts = sp.csr_matrix(ts)
            ts.sort_indices()
            if ts.nnz != mat.nnz or not np.array_equal(ts.indices, mat.indices):
                # built elsewhere with another pattern: look each pair up
                r, c = mat.nonzero()
                ts_vals = np.asarray(ts[r, c]).ravel()
                ts_vals[ts_vals == 0] = np.nan
                mat = sp.csr_matrix((mat[r, c].A1, (r, c)), shape=mat.shape)
            else:
                ts_vals = ts.data
            ref = float(np.nanmax(ts_vals))
            age_days = (ref - ts_vals) / 86400.0
            decay = np.power(0.5, age_days / self.config.half_life_days)
            if self.config.window_days is not None:
                decay[age_days > self.config.window_days] = 0.0
            decay[~np.isfinite(decay)] = 0.0
            self.reference_ts_ = ref
        contrib = decay * (mat.data if self.config.use_weights else 1.0)
        self.item_scores_: np.ndarray = np.bincount(
            mat.indices, weights=contrib, minlength=dataset.n_items
        )

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (rows.shape[0], len(self.item_scores_)))
