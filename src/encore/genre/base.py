"""The interface every genre model follows, and saving/loading fitted models."""

from __future__ import annotations

import logging
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from encore.errors import ConfigError, NotFittedError, UnknownIdError
from encore.genre.features import GenreData

log = logging.getLogger(__name__)


class GenreModel(ABC):
    """Base class: ``fit`` on training positions, ``predict_proba`` on any items.

    Subclasses implement ``_fit`` and ``_predict_proba``. ``classes_`` is the ordered genre
    list of the probability columns (the genres seen in training).
    """

    name: ClassVar[str] = ""
    #: Whether ``fit`` also uses unlabelled items (semi-supervised).
    uses_unlabelled: ClassVar[bool] = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.classes_: list[str] = []
        self.dataset_: str = ""
        self.level_: str = ""
        self.fit_seconds_: float = 0.0
        self.users_: np.ndarray = np.array([], dtype=object)
        self.numeric_columns_: list[str] = []

    def fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None = None
    ) -> GenreModel:
        """Fit on the labelled items at ``train_idx`` (and, if the model wants, unlabelled ones).

        Raises
        ------
        ConfigError
            Fewer than two genres among the training items.
        """
        import time

        train_idx = np.asarray(train_idx)
        labels = data.labels[train_idx]
        if any(v is None for v in labels):
            raise ConfigError("training items must all have a genre")
        self.classes_ = sorted(set(labels))
        if len(self.classes_) < 2:
            raise ConfigError(f"need at least two genres to train, got {self.classes_}")
        self.dataset_, self.level_ = data.name, data.level
        self.users_ = data.users
        self.numeric_columns_ = list(data.numeric.columns)
        t0 = time.perf_counter()
        self._fit(data, train_idx, unlabelled_idx)
        self.fit_seconds_ = time.perf_counter() - t0
        log.info("%s fitted on %d items in %.1f s", self.name, len(train_idx), self.fit_seconds_)
        return self

    def predict_proba(self, data: GenreData, idx: np.ndarray | None = None) -> np.ndarray:
        """Probabilities (n x len(classes_)) for the items at ``idx`` (all when None)."""
        if not self.classes_:
            raise NotFittedError(
                f"genre model {self.name!r} is not fitted", hint="run `encore genre train`"
            )
        idx = np.arange(len(data)) if idx is None else np.asarray(idx)
        p = np.asarray(self._predict_proba(data, idx), dtype=np.float64)
        p = np.clip(p, 0.0, None)
        s = p.sum(axis=1, keepdims=True)
        s[s == 0] = 1.0
        return p / s

    def predict_frame(
        self, data: GenreData, idx: np.ndarray | None = None, k: int = 3
    ) -> pd.DataFrame:
        """Top-``k`` genres per item: columns ``item_id, rank, genre, probability``."""
        idx = np.arange(len(data)) if idx is None else np.asarray(idx)
        p = self.predict_proba(data, idx)
        k = min(k, p.shape[1])
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        rows = []
        ids = data.items["item_id"].to_numpy()[idx]
        for r, item in enumerate(ids):
            for rank, c in enumerate(order[r], start=1):
                rows.append(
                    {
                        "item_id": int(item),
                        "rank": rank,
                        "genre": self.classes_[c],
                        "probability": float(p[r, c]),
                    }
                )
        return pd.DataFrame(rows)

    @abstractmethod
    def _fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None
    ) -> None:
        """Train on ``train_idx`` (and, semi-supervised, ``unlabelled_idx``)."""

    @abstractmethod
    def _predict_proba(self, data: GenreData, idx: np.ndarray) -> np.ndarray:
        """Class probabilities ``[len(idx), n_classes]`` in the order of ``classes_``."""

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> Path:
        """Pickle the fitted model to ``path`` (folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path


def model_path(model_dir: Path, name: str, dataset: str) -> Path:
    """Where ``encore genre train`` keeps a fitted model."""
    return model_dir / f"{name}-{dataset}.pkl"


def load_model(model_dir: Path, name: str, dataset: str) -> GenreModel:
    """Load a model saved by ``encore genre train``.

    Raises
    ------
    NotFittedError
        No saved model of that name and dataset.
    """
    path = model_path(model_dir, name, dataset)
    if not path.exists():
        raise NotFittedError(
            f"no trained genre model {name!r} for dataset {dataset!r} in {model_dir}",
            hint=f"run `encore genre train --model {name} --dataset {dataset}`",
        )
    with path.open("rb") as fh:
        obj: Any = pickle.load(fh)
    if not isinstance(obj, GenreModel):
        raise NotFittedError(f"{path} does not hold a genre model")
    return obj


def registry() -> dict[str, type[GenreModel]]:
    """Model name -> class, for every genre model."""
    from encore.genre.baselines import ArtistPrior, Majority
    from encore.genre.classifier import GradientBoosting, Logistic
    from encore.genre.vae import VAEClassifier

    return {c.name: c for c in (Majority, ArtistPrior, Logistic, GradientBoosting, VAEClassifier)}


def make_model(name: str, seed: int = 0, **kwargs: Any) -> GenreModel:
    """An unfitted model by name.

    Raises
    ------
    UnknownIdError
        Unknown model name.
    """
    reg = registry()
    if name not in reg:
        raise UnknownIdError("genre model", [name], hint="known: " + ", ".join(reg))
    return reg[name](seed=seed, **kwargs)
