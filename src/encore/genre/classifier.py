"""Classical genre classifiers over the feature groups: logistic regression and LightGBM."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from encore.genre.base import GenreModel
from encore.genre.features import GROUPS, FeatureBuilder, GenreData


class _FeatureModel(GenreModel):
    """A classifier on :class:`FeatureBuilder` output restricted to ``groups``."""

    text_svd: int | None = None

    def __init__(self, seed: int = 0, groups: Sequence[str] = GROUPS, n_factors: int = 32) -> None:
        super().__init__(seed)
        self.groups = tuple(groups)
        self.n_factors = n_factors
        self.features_: FeatureBuilder | None = None
        self.clf_: Any = None

    def _fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None
    ) -> None:
        fb = FeatureBuilder(
            groups=self.groups, n_factors=self.n_factors, text_svd=self.text_svd, seed=self.seed
        )
        fb.fit(data, train_idx, self.classes_)
        self.features_ = fb
        x = self._prepare(fb.transform(data, train_idx, train_idx=train_idx))
        cpos = {c: i for i, c in enumerate(self.classes_)}
        y = np.array([cpos[v] for v in data.labels[train_idx]])
        self.clf_ = self._make_clf()
        self.clf_.fit(x, y)

    @abstractmethod
    def _make_clf(self) -> Any:
        """A fresh scikit-learn style classifier."""

    def _prepare(self, x: sp.csr_matrix) -> Any:
        return x

    def _predict_proba(self, data: GenreData, idx: np.ndarray) -> np.ndarray:
        assert self.features_ is not None
        x = self._prepare(self.features_.transform(data, idx, train_idx=None))
        p = self.clf_.predict_proba(x)
        out = np.zeros((len(idx), len(self.classes_)))
        out[:, np.asarray(self.clf_.classes_, dtype=int)] = p
        return out


class Logistic(_FeatureModel):
    """Multinomial logistic regression on max-abs-scaled sparse features.

    Name n-grams are many weak, noisy columns: after scaling they are multiplied by
    ``text_weight`` (< 1), which under the L2 penalty regularises them more strongly than
    the few dense collaborative and metadata columns.
    """

    name = "logreg"

    def __init__(
        self,
        seed: int = 0,
        groups: Sequence[str] = GROUPS,
        n_factors: int = 32,
        c: float = 2.0,
        text_weight: float = 0.25,
    ) -> None:
        super().__init__(seed, groups, n_factors)
        self.c = c
        self.text_weight = text_weight
        self.scale_: np.ndarray | None = None

    def _prepare(self, x: sp.csr_matrix) -> Any:
        assert self.features_ is not None
        if self.scale_ is None:
            peak = np.asarray(abs(x).max(axis=0).todense()).ravel()
            scale = np.where(peak > 0, 1.0 / np.where(peak > 0, peak, 1.0), 1.0)
            cols = self.features_.group_columns().get("text", [])
            if cols and len(self.groups) > 1:
                scale[cols] *= self.text_weight
            self.scale_ = scale.astype(np.float32)
        return (x @ sp.diags(self.scale_)).tocsr()

    def _make_clf(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.c, max_iter=200, tol=1e-3, random_state=self.seed)


class GradientBoosting(_FeatureModel):
    """LightGBM on dense features (text n-grams reduced by truncated SVD)."""

    name = "lightgbm"
    text_svd = 48

    def _prepare(self, x: sp.csr_matrix) -> Any:
        return x.toarray()

    def __init__(
        self,
        seed: int = 0,
        groups: Sequence[str] = GROUPS,
        n_factors: int = 32,
        n_estimators: int = 150,
        n_jobs: int = 2,
    ) -> None:
        super().__init__(seed, groups, n_factors)
        self.n_estimators = n_estimators
        self.n_jobs = n_jobs

    def _make_clf(self) -> Any:
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=0.08,
            num_leaves=15,
            min_child_samples=10,
            colsample_bytree=0.5,
            subsample=0.8,
            subsample_freq=1,
            reg_lambda=1.0,
            max_bin=63,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            verbose=-1,
        )
