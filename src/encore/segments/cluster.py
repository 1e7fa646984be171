"""Clustering users into segments: preparation, choice of k, stability across seeds.

The raw feature table (NaN where a user lacks a source) is prepared in three steps that are
learnt once and reused for new users, so a new user is assigned without refitting:

1. keep columns that at least ``min_coverage`` of the fitted users have and that vary;
2. impute missing values with the fitted mean and standardise (z-scores);
3. weight every column by ``1 / sqrt(columns in its group)``, so each feature group
   (e.g. the 21 genre shares of plays, or the single skip rate) carries the same total
   variance and no group dominates the distances just by having more columns.

Clusterers are scikit-learn's: KMeans (k chosen by the silhouette score),
a diagonal-covariance Gaussian mixture (k chosen by BIC) and HDBSCAN (k found by the
algorithm; noise points get segment -1). Segments are renumbered by size, largest first.
HDBSCAN has no ``predict`` in scikit-learn, so a new user gets the label of the nearest
fitted user (1-NN in the prepared space).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError, NotFittedError
from encore.persistence import estimator_from_state, estimator_state, frame_from_tree, frame_tree
from encore.segments.features import group_of

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("kmeans", "gmm", "hdbscan")


@dataclass
class Segmenter:
    """Prepares features and clusters users.

    Parameters
    ----------
    method:
        ``"kmeans"``, ``"gmm"`` or ``"hdbscan"``.
    k:
        A fixed number of segments (kmeans/gmm); ``None`` chooses it from ``k_range``.
    k_range:
        Smallest and largest k tried (inclusive).
    seed:
        Random seed of the final fit; stability refits use ``seed + 1``, ...
    n_seeds:
        Fits compared for the adjusted Rand index (including the final one).
    min_coverage:
        Least share of users that must have a column for it to be used.
    min_cluster_size:
        HDBSCAN's smallest segment (default: 1 % of users, at least 10).
    silhouette_sample:
        Users sampled (seeded) to compute silhouette scores.
    n_jobs:
        Threads for the BLAS/OpenMP pools while clustering. 1 is the default because
        on a shared machine more threads than free cores make OpenMP spin: k-means on
        HetRec took 69 s with 2 threads against 2 s with 1 on the busy 2-core build host.
    """

    method: str = "kmeans"
    k: int | None = None
    k_range: tuple[int, int] = (2, 10)
    seed: int = 0
    n_seeds: int = 5
    min_coverage: float = 0.3
    min_cluster_size: int | None = None
    silhouette_sample: int = 3000
    n_jobs: int = 1
    # learnt
    columns: list[str] = field(default_factory=list)
    means: np.ndarray | None = None
    scales: np.ndarray | None = None
    weights: np.ndarray | None = None
    model: Any = None
    relabel: dict[int, int] = field(default_factory=dict)
    train_z: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    curve: pd.DataFrame | None = None
    chosen_k: int = 0
    silhouette: float | None = None
    ari: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown clustering method {self.method!r}",
                hint="use one of: " + ", ".join(METHODS),
            )
        lo, hi = self.k_range
        if self.k is not None and self.k < 2:
            raise ConfigError(f"--k must be at least 2, got {self.k}")
        if lo < 2 or hi < lo:
            raise ConfigError(f"bad k range {lo}..{hi}: need 2 <= min <= max")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"--min-coverage must be between 0 and 1, got {self.min_coverage}")
        if self.n_seeds < 2:
            raise ConfigError("--seeds must be at least 2 to compare fits")

    # ------------------------------------------------------------------ preparation
    def _learn_preparation(self, raw: pd.DataFrame) -> None:
        coverage = raw.notna().mean()
        std = raw.std(ddof=0)
        keep = [c for c in raw.columns if coverage[c] >= self.min_coverage and std[c] > 1e-12]
        dropped = sorted(set(raw.columns) - set(keep))
        if dropped:
            log.info(
                "dropped %d feature columns (coverage < %.0f%% or constant): %s",
                len(dropped),
                100 * self.min_coverage,
                ", ".join(dropped[:20]),
            )
        if not keep:
            raise DataError(
                "no usable features: every column is missing for most users or constant",
                hint="check that the users have plays, tags, likes or profile data",
            )
        self.columns = keep
        sub = raw[keep]
        self.means = sub.mean().to_numpy(dtype=float)
        self.scales = sub.std(ddof=0).to_numpy(dtype=float)
        groups = pd.Series([group_of(c) for c in keep])
        sizes = groups.map(groups.value_counts())
        self.weights = 1.0 / np.sqrt(sizes.to_numpy(dtype=float))

    def prepare(self, raw: pd.DataFrame) -> np.ndarray:
        """The prepared matrix (rows of ``raw``) in the fitted feature space.

        Raises
        ------
        NotFittedError
            The segmenter has not been fitted.
        """
        if self.means is None or self.scales is None or self.weights is None:
            raise NotFittedError(
                "the segmenter is not fitted", hint="run `encore segments fit` first"
            )
        sub = raw.reindex(columns=self.columns).to_numpy(dtype=float)
        sub = np.where(np.isnan(sub), self.means, sub)
        return ((sub - self.means) / self.scales) * self.weights

    # ------------------------------------------------------------------ clustering
    def _new_model(self, k: int, seed: int) -> Any:
        if self.method == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(n_clusters=k, n_init=4, random_state=seed)
        if self.method == "gmm":
            from sklearn.mixture import GaussianMixture

            return GaussianMixture(
                n_components=k, covariance_type="diag", random_state=seed, reg_covar=1e-4
            )
        from sklearn.cluster import HDBSCAN

        return HDBSCAN(
            min_cluster_size=self._min_size(len(self.train_z) if self.train_z is not None else 0),
            copy=True,
        )

    def _min_size(self, n: int) -> int:
        return self.min_cluster_size if self.min_cluster_size else max(10, n // 100)

    def _silhouette(self, z: np.ndarray, labels: np.ndarray) -> float | None:
        from sklearn.metrics import silhouette_score

        mask = labels >= 0
        if len(np.unique(labels[mask])) < 2:
            return None
        n = int(mask.sum())
        sample = min(self.silhouette_sample, n) if n > self.silhouette_sample else None
        return float(
            silhouette_score(z[mask], labels[mask], sample_size=sample, random_state=self.seed)
        )

    def _choose_k(self, z: np.ndarray) -> int:
        lo, hi = self.k_range
        hi = min(hi, len(z) - 1)
        if hi < lo:
            raise DataError(f"too few users ({len(z)}) to try {lo} segments")
        rows = []
        for k in range(lo, hi + 1):
            model = self._new_model(k, self.seed)
            labels = model.fit_predict(z)
            row: dict[str, float | int | None] = {"k": k, "silhouette": self._silhouette(z, labels)}
            if self.method == "gmm":
                row["bic"] = float(model.bic(z))
            else:
                row["inertia"] = float(model.inertia_)
            rows.append(row)
            log.info("k=%d: %s", k, row)
        self.curve = pd.DataFrame(rows)
        if self.method == "gmm":
            best = int(np.argmin(self.curve["bic"].to_numpy(dtype=float)))
        else:
            best = int(np.nanargmax(self.curve["silhouette"].to_numpy(dtype=float)))
        return int(self.curve["k"].to_numpy()[best])

    def fit(self, raw: pd.DataFrame) -> np.ndarray:
        """Prepare, choose k, fit, measure; return the segment of each row of ``raw``.

        Raises
        ------
        DataError
            Too few users or no usable feature.
        """
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_jobs):
            return self._fit(raw)

    def _fit(self, raw: pd.DataFrame) -> np.ndarray:
        if len(raw) < 3:
            raise DataError(f"need at least 3 users to segment, got {len(raw)}")
        self._learn_preparation(raw)
        z = self.prepare(raw)
        self.train_z = z
        if self.method == "hdbscan":
            model = self._new_model(0, self.seed)
            labels = model.fit_predict(z)
            self.curve = pd.DataFrame(
                [
                    {
                        "min_cluster_size": self._min_size(len(z)),
                        "k": len(set(labels) - {-1}),
                        "noise_share": float(np.mean(labels < 0)),
                    }
                ]
            )
        else:
            k = self.k if self.k is not None else self._choose_k(z)
            if k >= len(z):
                raise DataError(f"cannot make {k} segments of {len(z)} users")
            model = self._new_model(k, self.seed)
            labels = model.fit_predict(z)
        self.model = model
        sizes = pd.Series(labels[labels >= 0]).value_counts()
        order = sorted(sizes.index, key=lambda c: (-sizes[c], c))
        self.relabel = {int(c): i for i, c in enumerate(order)}
        self.relabel[-1] = -1
        segs = np.array([self.relabel[int(c)] for c in labels], dtype=np.int64)
        self.train_labels = segs
        self.chosen_k = len(order)
        self.silhouette = self._silhouette(z, segs)
        self.ari = self._stability(z, labels)
        return segs

    def _stability(self, z: np.ndarray, reference: np.ndarray) -> list[float]:
        """Adjusted Rand index between every pair of fits with different seeds.

        HDBSCAN is deterministic, so for it each extra "seed" is a seeded 80 % subsample,
        compared with the full fit on the users it kept.
        """
        from sklearn.metrics import adjusted_rand_score

        if self.method == "hdbscan":
            scores = []
            for s in range(1, self.n_seeds):
                rng = np.random.default_rng(self.seed + s)
                keep = np.sort(rng.choice(len(z), size=max(3, int(0.8 * len(z))), replace=False))
                model = self._new_model(0, self.seed + s)
                scores.append(
                    float(adjusted_rand_score(reference[keep], model.fit_predict(z[keep])))
                )
            return scores
        runs = [reference]
        for s in range(1, self.n_seeds):
            runs.append(self._new_model(self.chosen_k, self.seed + s).fit_predict(z))
        return [float(adjusted_rand_score(a, b)) for a, b in combinations(runs, 2)]

    def predict(self, raw: pd.DataFrame) -> np.ndarray:
        """Segment of each row of ``raw`` without refitting.

        Raises
        ------
        NotFittedError
            The segmenter has not been fitted.
        """
        z = self.prepare(raw)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_jobs):
            return self._predict(z)

    def _predict(self, z: np.ndarray) -> np.ndarray:
        if self.method == "hdbscan":
            from sklearn.neighbors import NearestNeighbors

            assert self.train_z is not None and self.train_labels is not None
            nn = NearestNeighbors(n_neighbors=1).fit(self.train_z)
            idx = nn.kneighbors(z, return_distance=False)[:, 0]
            return self.train_labels[idx]
        labels = self.model.predict(z)
        return np.array([self.relabel.get(int(c), -1) for c in labels], dtype=np.int64)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """The fitted segmenter as plain values and arrays (see :meth:`from_state`)."""
        return {
            "params": {name: getattr(self, name) for name in _PARAMS},
            "columns": self.columns,
            "means": self.means,
            "scales": self.scales,
            "weights": self.weights,
            "model": None if self.model is None else _model_state(self.method, self.model),
            "relabel": [[int(k), int(v)] for k, v in self.relabel.items()],
            "train_z": self.train_z,
            "train_labels": self.train_labels,
            "curve": None if self.curve is None else frame_tree(self.curve),
            "chosen_k": self.chosen_k,
            "silhouette": self.silhouette,
            "ari": self.ari,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Segmenter:
        """The segmenter that :meth:`state` described (no refit)."""
        params = dict(state["params"])
        params["k_range"] = tuple(params["k_range"])
        seg = cls(**params)
        seg.columns = list(state["columns"])
        seg.means, seg.scales, seg.weights = state["means"], state["scales"], state["weights"]
        seg.model = (
            None if state["model"] is None else _model_from_state(seg.method, state["model"])
        )
        seg.relabel = {int(k): int(v) for k, v in state["relabel"]}
        seg.train_z, seg.train_labels = state["train_z"], state["train_labels"]
        seg.curve = None if state["curve"] is None else frame_from_tree(state["curve"])
        seg.chosen_k = int(state["chosen_k"])
        seg.silhouette = state["silhouette"]
        seg.ari = [float(a) for a in state["ari"]]
        return seg


#: The options of :class:`Segmenter` (the rest of its fields are learnt by ``fit``).
_PARAMS: tuple[str, ...] = (
    "method",
    "k",
    "k_range",
    "seed",
    "n_seeds",
    "min_coverage",
    "min_cluster_size",
    "silhouette_sample",
    "n_jobs",
)

#: Fitted attributes kept per method: what ``predict`` reads, plus the fit's own outputs.
#: HDBSCAN has no ``predict`` (new users get their nearest fitted user's segment from
#: ``train_z`` and ``train_labels``), so only its labels are kept, not its linkage tree.
_FITTED: dict[str, tuple[str, ...]] = {
    "kmeans": ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_"),
    "gmm": (
        "weights_",
        "means_",
        "covariances_",
        "precisions_cholesky_",
        "precisions_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "n_features_in_",
    ),
    "hdbscan": ("labels_", "probabilities_", "n_features_in_"),
}


def _model_class(method: str) -> type:
    if method == "kmeans":
        from sklearn.cluster import KMeans

        return KMeans
    if method == "gmm":
        from sklearn.mixture import GaussianMixture

        return GaussianMixture
    from sklearn.cluster import HDBSCAN

    return HDBSCAN


def _model_state(method: str, model: Any) -> dict[str, Any]:
    return estimator_state(model, _FITTED[method])


def _model_from_state(method: str, state: dict[str, Any]) -> Any:
    model = estimator_from_state(_model_class(method), state)
    if method == "kmeans":
        # KMeans.predict reads the OpenMP thread count that fit() records; it is a
        # runtime setting, not state, so it is set here as fit() would set it.
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        model._n_threads = _openmp_effective_n_threads()
    return model
