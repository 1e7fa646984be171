"""Classical genre classifiers over the feature groups: logistic regression and LightGBM."""

from __future__ import annotations

import logging
import warnings
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from encore.genre.base import GenreModel
from encore.genre.features import GROUPS, FeatureBuilder, GenreData
from encore.persistence import array_text, estimator_from_state, estimator_state, text_array

log = logging.getLogger(__name__)


def fit_quietly(clf: Any, x: Any, y: np.ndarray) -> Any:
    """``clf.fit(x, y)``; a fit that stops at its iteration limit is one INFO log line (the
    fitted model is the same) instead of scikit-learn's multi-line ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    limit = getattr(clf, "max_iter", None)
    used = getattr(clf, "n_iter_", None)
    if isinstance(limit, int) and used is not None and int(np.max(used)) >= limit:
        log.info(
            "%s stopped at its limit of %d iterations before converging (tol %g)",
            type(clf).__name__,
            limit,
            getattr(clf, "tol", float("nan")),
        )
    return clf


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
        self.clf_ = fit_quietly(self._make_clf(), x, y)

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

    def _state(self) -> dict[str, Any]:
        assert self.features_ is not None
        return {"features": self.features_.state(), "clf": self._clf_state()}

    def _restore(self, state: dict[str, Any]) -> None:
        self.features_ = FeatureBuilder.from_state(state["features"])
        self.clf_ = self._clf_from_state(state["clf"])

    @abstractmethod
    def _clf_state(self) -> dict[str, Any]:
        """The fitted classifier as plain values and arrays."""

    @abstractmethod
    def _clf_from_state(self, state: dict[str, Any]) -> Any:
        """A classifier with ``classes_`` and ``predict_proba`` rebuilt from ``_clf_state``."""


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

    _CLF_FITTED = ("coef_", "intercept_", "classes_", "n_iter_", "n_features_in_")

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "scale": self.scale_}

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        self.scale_ = state["scale"]

    def _clf_state(self) -> dict[str, Any]:
        return estimator_state(self.clf_, self._CLF_FITTED)

    def _clf_from_state(self, state: dict[str, Any]) -> Any:
        from sklearn.linear_model import LogisticRegression

        return estimator_from_state(LogisticRegression, state)


class _Booster:
    """A fitted LightGBM booster with the two things :class:`GradientBoosting` reads.

    ``LGBMClassifier`` has no public way to wrap an existing booster, so a loaded model
    keeps the booster (rebuilt from its text dump) and predicts as ``LGBMClassifier``
    does: class probabilities from ``Booster.predict`` with the same thread count.
    """

    def __init__(self, booster: Any, classes: np.ndarray, n_jobs: int) -> None:
        self.booster_ = booster
        self.classes_ = classes
        self.n_jobs = n_jobs

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.asarray(self.booster_.predict(x, num_threads=self.n_jobs))
        return p if p.ndim == 2 else np.vstack((1.0 - p, p)).transpose()


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

    def _clf_state(self) -> dict[str, Any]:
        return {
            "booster": text_array(self.clf_.booster_.model_to_string()),
            "classes": np.asarray(self.clf_.classes_),
        }

    def _clf_from_state(self, state: dict[str, Any]) -> Any:
        import lightgbm as lgb

        booster = lgb.Booster(model_str=array_text(state["booster"]))
        return _Booster(booster, state["classes"], self.n_jobs)
