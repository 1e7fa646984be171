"""EASE: embarrassingly shallow autoencoder (Steck 2019), lean in memory and time.

``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` and the diagonal of ``B`` zero.
Where RecTools builds a dense float64 Gram matrix and calls ``np.linalg.inv`` (on HetRec
Last.fm 2K: 8.3 GB, 74 s), Encore

- builds the Gram matrix in float32 from the sparse product (half the memory);
- inverts it through its Cholesky factor, in place (LAPACK ``potrf`` then ``potri``
  through ``scipy.linalg.lapack``): one ``n x n`` float32 array is the whole peak, and
  the Cholesky route does about half the arithmetic of a general inverse;
- turns ``P`` into ``B`` in place, block by block;
- keeps only the items that ``min_item_users`` users or more interacted with (default 2:
  an item one user has carries no co-occurrence evidence; on HetRec this drops 60 % of the
  artists, the fit is ~15x faster and nDCG@10 is unchanged, 0.2425 vs 0.2427), and at
  most ``max_items`` of them (the most popular; default 20,000 ≈ 1.6 GB). Dropped items
  are never recommended and are logged; ``n_model_items`` and ``matrix_bytes_`` report
  what was kept and the size of the dense matrix.

Scores split exactly over the user's items (``r_uj * B[j, i]``), and a new user's row is
scored without a refit.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.errors import DataError
from encore.recommenders.base import Recommender, RecommenderConfig
from encore.recommenders.linalg import dense

log = logging.getLogger(__name__)

#: Rows handled at once when symmetrising and scaling the inverse.
_BLOCK = 1024


class EASEConfig(RecommenderConfig):
    """Config of :class:`EASE`.

    ``l2`` is Steck's lambda (added to the Gram diagonal). ``min_item_users`` and
    ``max_items`` prune the catalogue (see the module docstring; ``max_items=None``
    keeps every item however large).
    """

    l2: float = Field(default=500.0, gt=0)
    min_item_users: int = Field(default=2, ge=1)
    max_items: int | None = Field(default=20_000, ge=1)


def gram_inverse_cholesky(gram: np.ndarray) -> np.ndarray:
    """Invert a symmetric positive definite float32 matrix in place via Cholesky.

    Parameters
    ----------
    gram:
        ``n x n`` float32, C- or F-ordered; it is overwritten.

    Returns
    -------
    numpy.ndarray
        The full symmetric inverse, C-contiguous, in the memory of ``gram`` where LAPACK
        allows (no second ``n x n`` array).

    Raises
    ------
    DataError
        The matrix is not positive definite (should not happen with ``l2 > 0``).
    """
    from scipy.linalg import lapack

    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
    # the Gram matrix is symmetric: its C-order buffer is its own F-order transpose, so
    # LAPACK can work on it in place (lower in F order is upper in C order)
    a = gram.T if gram.flags.c_contiguous else gram
    c, info = potrf(a, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise DataError(
            f"EASE: the regularised Gram matrix is not positive definite (potrf info {info})"
        )
    inv, info = potri(c, lower=True, overwrite_c=True)
    if info != 0:
        raise DataError(f"EASE: inverting the Cholesky factor failed (potri info {info})")
    # only the lower triangle (F order) is valid: mirror it block by block
    n = inv.shape[0]
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        # in F-order lower storage, column j holds rows >= j; copy them into row j
        inv[lo:hi, hi:] = inv[hi:, lo:hi].T
        blk = inv[lo:hi, lo:hi]
        inv[lo:hi, lo:hi] = np.tril(blk) + np.tril(blk, -1).T
    # symmetric: the transpose is the same matrix, and C-contiguous when inv is F-ordered
    return inv.T if inv.flags.f_contiguous and not inv.flags.c_contiguous else np.asarray(inv)


class EASE(Recommender):
    """EASE linear item-item model (Steck 2019), float32 with a Cholesky inverse."""

    name: ClassVar[str] = "ease"
    config_class = EASEConfig
    config: EASEConfig
    supports_fold_in: ClassVar[bool] = True
    supports_explain: ClassVar[bool] = True
    state_attrs: ClassVar[tuple[str, ...]] = ("weights_", "model_items_", "matrix_bytes_")
    search_space: ClassVar[dict[str, list[Any]]] = {"l2": [100.0, 500.0, 1000.0, 3000.0, 10000.0]}
    item_limit: ClassVar[int | None] = 40_000

    def _fit(self, dataset: InteractionDataset) -> None:
        x = sp.csc_matrix(dataset.matrix, dtype=np.float32)
        users_per_item = np.diff(x.indptr)
        keep = np.flatnonzero(users_per_item >= self.config.min_item_users)
        if self.config.max_items is not None and len(keep) > self.config.max_items:
            order = np.lexsort((keep, -users_per_item[keep]))  # most popular, then by index
            keep = np.sort(keep[order[: self.config.max_items]])
        if len(keep) == 0:
            raise DataError(
                f"EASE: no item has {self.config.min_item_users} or more users",
                hint="lower min_item_users",
            )
        if len(keep) < dataset.n_items:
            log.info(
                "EASE keeps %d of %d items (min_item_users=%d, max_items=%s)",
                len(keep),
                dataset.n_items,
                self.config.min_item_users,
                self.config.max_items,
            )
        xk = sp.csc_matrix(x[:, keep])
        n = len(keep)
        self.matrix_bytes_: int = int(n) * int(n) * 4
        log.info("EASE: dense %d x %d float32 matrix, %.1f MB", n, n, self.matrix_bytes_ / 1e6)
        gram = dense(xk.T @ xk).astype(np.float32, copy=False)
        gram = np.ascontiguousarray(gram)
        gram[np.diag_indices(n)] += np.float32(self.config.l2)
        p = gram_inverse_cholesky(gram)
        del gram
        diag = np.ascontiguousarray(np.diag(p)).copy()
        # B[:, j] = -P[:, j] / P[j, j], diagonal 0, in place row block by row block
        scale = (-1.0 / diag).astype(np.float32)
        for lo in range(0, n, _BLOCK):
            hi = min(lo + _BLOCK, n)
            p[lo:hi] *= scale[None, :]
        p[np.diag_indices(n)] = 0.0
        self.weights_: np.ndarray = np.ascontiguousarray(p, dtype=np.float32)
        self.model_items_: np.ndarray = keep.astype(np.int64)

    def _after_load(self) -> None:
        self.weights_ = np.ascontiguousarray(self.weights_, dtype=np.float32)

    @property
    def n_model_items(self) -> int:
        """Items the model can recommend (after pruning)."""
        return len(self.model_items_)

    def _score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        sub = sp.csr_matrix(rows[:, self.model_items_], dtype=np.float32)
        out = np.full((rows.shape[0], self.n_items), -np.inf, dtype=np.float32)
        out[:, self.model_items_] = dense(sub @ self.weights_)
        return out

    def _positions(self, item_idx: np.ndarray) -> np.ndarray:
        """Positions of items in the pruned model (-1 where dropped)."""
        pos = np.searchsorted(self.model_items_, item_idx)
        pos = np.clip(pos, 0, max(len(self.model_items_) - 1, 0))
        return np.where(self.model_items_[pos] == item_idx, pos, -1)

    def _similar(self, item_idx: np.ndarray) -> np.ndarray:
        out = np.full((len(item_idx), self.n_items), -np.inf, dtype=np.float32)
        pos = self._positions(item_idx)
        ok = pos >= 0
        out[np.ix_(ok, self.model_items_)] = self.weights_[pos[ok]]
        return out

    def _contributions(
        self, row: sp.csr_matrix, item_idx: np.ndarray, user_idx: int | None = None
    ) -> np.ndarray:
        src = self._positions(row.indices)
        dst = self._positions(item_idx)
        out = np.zeros((row.nnz, len(item_idx)), dtype=np.float64)
        ok_s, ok_d = src >= 0, dst >= 0
        out[np.ix_(ok_s, ok_d)] = self.weights_[np.ix_(src[ok_s], dst[ok_d])]
        return row.data[:, None] * out
