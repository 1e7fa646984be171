"""Neighbourhood models: item kNN (cosine or BM25) and user kNN (cosine).

The item-item similarity is computed here rather than through ``implicit``'s
``ItemItemRecommender`` so that it is exact, seeded-free, blockwise (memory bounded by
``block_floats``) and saved as plain arrays; it follows ``implicit``'s definitions:

- ``cosine``: dot products of L2-normalised item columns;
- ``bm25``: dot products of item vectors weighted with Okapi BM25 (items as documents,
  users as terms, ``K1``/``B`` configurable), as ``implicit.nearest_neighbours.BM25Recommender``.

Each item keeps its ``k`` most similar items (itself excluded); a user's score for item
``i`` is ``sum_j r_uj * S[j, i]``, so the contributions of the user's items are exact and
a new user's row can be scored without a refit.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import Recommender, RecommenderConfig
from encore.recommenders.linalg import dense
from encore.recommenders.ranking import rank_threads, rank_within_rows, sort_best_first

log = logging.getLogger(__name__)

#: Similarity row blocks are sized as if dense with at most this many floats.
BLOCK_FLOATS = 1 << 25


def bm25_item_weight(item_users: sp.csr_matrix, k1: float, b: float) -> sp.csr_matrix:
    """BM25-weight an ``items x users`` matrix (rows are documents), as ``implicit``'s
    ``bm25_weight``.
    """
    x = sp.coo_matrix(item_users, dtype=np.float64)
    n = float(x.shape[0])
    idf = np.log(n) - np.log1p(np.bincount(x.col, minlength=x.shape[1]))
    row_sums = np.ravel(x.sum(axis=1))
    avg = row_sums.mean() if row_sums.size else 1.0
    length_norm = (1.0 - b) + b * row_sums / max(avg, 1e-12)
    data = x.data * (k1 + 1.0) / (k1 * length_norm[x.row] + x.data) * idf[x.col]
    return sp.csr_matrix((data, (x.row, x.col)), shape=x.shape)


#: Rows with more candidate neighbours than this are cut to their top ``k`` one row at a
#: time (a linear-time partition) before the block-wide sort; with few users and many
#: items (a handful of personal exports) rows hold tens of thousands of co-occurring items
#: and sorting them all dominated the fit.
HEAVY_ROW = 4096


def _trim_heavy_rows(
    r: np.ndarray, c: np.ndarray, v: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep only each heavy row's top ``k`` entries (ties to the lower column); rows stay grouped.

    ``r`` must be sorted (CSR order). Light rows are returned untouched, so the result
    ranks exactly as the full sort would.
    """
    if len(r) == 0:
        return r, c, v
    starts = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
    ends = np.r_[starts[1:], len(r)]
    heavy = np.flatnonzero((ends - starts) > max(HEAVY_ROW, k))
    if heavy.size == 0:
        return r, c, v
    keep = np.ones(len(r), dtype=bool)
    for h in heavy:
        s, e = starts[h], ends[h]
        vals = v[s:e]
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]  # the k-th largest value
        above = vals > kth
        tied = np.flatnonzero(vals == kth)
        need = k - int(above.sum())
        chosen = above.copy()
        chosen[tied[np.argsort(c[s:e][tied], kind="stable")[:need]]] = True
        keep[s:e] = chosen
    return r[keep], c[keep], v[keep]


def top_k_similarity(
    left: sp.csr_matrix,
    right_t: sp.csr_matrix,
    k: int,
    *,
    exclude_diagonal: bool = True,
    block_floats: int = BLOCK_FLOATS,
) -> sp.csr_matrix:
    """Row-wise top-``k`` of ``left @ right_t.T``, computed in sparse row blocks.

    Only the non-zero products are ranked (a sort within each row), so the cost follows
    the number of co-occurring pairs, not ``n x m``. Ties go to the lower column.

    Parameters
    ----------
    left:
        ``n x d`` rows (e.g. items x users).
    right_t:
        ``m x d`` rows to compare against.
    k:
        Neighbours kept per row (positive similarities only).
    exclude_diagonal:
        Drop ``(i, i)`` (for self-similarity).
    block_floats:
        Rows per block are chosen so that a block would hold at most this many
        floats if it were dense (a bound on the sparse block too).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n x m`` float32.
    """
    left = sp.csr_matrix(left)
    n, m = left.shape[0], right_t.shape[0]
    right = sp.csc_matrix(right_t.T)
    threads = rank_threads()
    # at least one block per thread, each at most ``block_floats`` if it were dense
    step = max(1, min(block_floats // max(m, 1), -(-n // threads)))

    def block(lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hi = min(lo + step, n)
        prod = sp.csr_matrix(left[lo:hi] @ right)  # no duplicate entries; columns unsorted
        r = np.repeat(np.arange(lo, hi), np.diff(prod.indptr))
        c = prod.indices.astype(np.int64)
        v = prod.data.astype(np.float32)
        ok = v > 0
        if exclude_diagonal:
            ok &= r != c
        r, c, v = r[ok], c[ok], v[ok]
        r, c, v = _trim_heavy_rows(r, c, v, k)
        r, c, v = sort_best_first(r, c, v, lo, m)
        keep = rank_within_rows(r) < k
        return r[keep], c[keep], v[keep]

    starts = list(range(0, n, step))
    if threads > 1 and len(starts) > 1:
        # blocks are independent; numpy and scipy release the GIL in the heavy parts
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(block, starts))
    else:
        parts = [block(lo) for lo in starts]
    rows = [p[0] for p in parts]
    cols = [p[1] for p in parts]
    vals = [p[2] for p in parts]
    out = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0, np.float32),
            (
                np.concatenate(rows) if rows else np.zeros(0, np.int64),
                np.concatenate(cols) if cols else np.zeros(0, np.int64),
            ),
        ),
        shape=(n, m),
        dtype=np.float32,
    )
    out.sort_indices()
    return out


class ItemKNNConfig(RecommenderConfig):
    """Config of :class:`ItemKNN`: similarity, neighbours per item, BM25 parameters."""

    similarity: Literal["cosine", "bm25"] = "cosine"
    k: int = Field(default=200, ge=1)
    bm25_k1: float = Field(default=1.2, gt=0)
    bm25_b: float = Field(default=0.75, ge=0, le=1)


class ItemKNN(Recommender):
    """Item-based k nearest neighbours (cosine or BM25 item-item similarity)."""

    name: ClassVar[str] = "item_knn"
    config_class = ItemKNNConfig
    config: ItemKNNConfig
    supports_fold_in: ClassVar[bool] = True
    supports_explain: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("similarity_",)
    baseline_rank: ClassVar[int | None] = 2
    search_space: ClassVar[dict[str, list[Any]]] = {
        "k": [25, 50, 100, 200, 400],
        "similarity": ["cosine", "bm25"],
    }

    def _fit(self, dataset: InteractionDataset) -> None:
        item_users = sp.csr_matrix(dataset.matrix.T, dtype=np.float64)
        if self.config.similarity == "cosine":
            norms = np.sqrt(np.ravel(item_users.multiply(item_users).sum(axis=1)))
            inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            weighted = sp.csr_matrix(sp.diags(inv) @ item_users)
        else:
            weighted = bm25_item_weight(item_users, self.config.bm25_k1, self.config.bm25_b)
        self.similarity_: sp.csr_matrix = top_k_similarity(weighted, weighted, self.config.k)

    def _score_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        # sparse: the ranking takes the top k of the stored scores without densifying
        return sp.csr_matrix(sp.csr_matrix(rows, dtype=np.float32) @ self.similarity_)

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        return dense(self.similarity_[item_idx])

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        sims = dense(self.similarity_[row.indices][:, item_idx])
        return row.data[:, None] * sims


class UserKNNConfig(RecommenderConfig):
    """Config of :class:`UserKNN`: neighbours per user."""

    k: int = Field(default=50, ge=1)


class UserKNN(Recommender):
    """User-based k nearest neighbours (cosine between users' rows).

    A user's score for item ``i`` is ``sum_v cos(u, v) * r_vi`` over the ``k`` most similar
    other users ``v``. Users unseen at fit time are compared with every fitted user (a
    fitted user is never its own neighbour). Contributions of the user's items are the
    exact split of the cosine over shared items.
    """

    name: ClassVar[str] = "user_knn"
    config_class = UserKNNConfig
    config: UserKNNConfig
    supports_fold_in: ClassVar[bool] = True
    supports_explain: ClassVar[bool] = True
    supports_similar_items: ClassVar[bool] = False
    search_space: ClassVar[dict[str, list[Any]]] = {"k": [25, 50, 100, 200]}

    def _fit(self, dataset: InteractionDataset) -> None:
        self._after_load()

    def _after_load(self) -> None:
        assert self.user_items_ is not None
        self._normed = _row_normalise(self.user_items_)
        self._normed_t = sp.csr_matrix(self._normed.T)

    def _neighbours(self, rows: sp.csr_matrix, self_idx: np.ndarray | None) -> sp.csr_matrix:
        normed = _row_normalise(rows)
        sims = dense(normed @ self._normed_t).astype(np.float32)
        if self_idx is not None:
            sims[np.arange(len(self_idx)), self_idx] = 0.0
        n_users = sims.shape[1]
        kk = min(self.config.k, n_users)
        if kk < n_users:
            idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        else:
            idx = np.tile(np.arange(n_users), (sims.shape[0], 1))
        vals = np.take_along_axis(sims, idx, axis=1)
        keep = vals > 0
        r = np.repeat(np.arange(sims.shape[0]), keep.sum(axis=1))
        return sp.csr_matrix((vals[keep], (r, idx[keep])), shape=sims.shape)

    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> sp.csr_matrix:
        assert self.user_items_ is not None
        return sp.csr_matrix(self._neighbours(user_rows, user_idx) @ self.user_items_)

    def _score_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        assert self.user_items_ is not None
        return sp.csr_matrix(self._neighbours(rows, None) @ self.user_items_)

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        assert self.user_items_ is not None
        self_idx = None if user_idx is None else np.asarray([user_idx])
        nb = self._neighbours(row, self_idx)
        neighbours = nb.indices
        # cos(u, v) = sum_j (x_uj / |u|) (x_vj / |v|): split it over u's items j
        u_norm = float(np.sqrt((row.data**2).sum())) or 1.0
        xu = row.data / u_norm  # [nnz]
        xv = dense(self._normed[neighbours][:, row.indices])  # [n_nb, nnz]
        rv = dense(self.user_items_[neighbours][:, item_idx])  # [n_nb, n_targets]
        return xu[:, None] * (xv.T @ rv)


def _row_normalise(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.ravel(m.multiply(m).sum(axis=1)))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ m)
