"""Linear-algebra helpers shared by the models: dense views, cosine rows, BLAS threads."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def dense(x: np.ndarray | sp.spmatrix | np.matrix) -> np.ndarray:
    """A dense ndarray view of a sparse / matrix product result."""
    if sp.issparse(x):
        return np.asarray(x.toarray())  # type: ignore[union-attr]
    return np.asarray(x)


def cosine_rows(vectors: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``vectors[idx]`` with every row of ``vectors``."""
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    return (vectors[idx] @ vectors.T) / (norms[idx, None] * norms[None, :])


def limit_blas() -> Any:
    """Single-threaded BLAS while ``implicit`` runs its own threads (it warns otherwise).

    Returns a context manager (``threadpoolctl.threadpool_limits``).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, "blas")
