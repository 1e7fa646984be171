"""The interface every genre model follows, and saving/loading fitted models (no pickle)."""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError, NotFittedError, UnknownIdError
from encore.genre.features import GenreData
from encore.persistence import SUFFIX, load_archive, pack, save_archive, unpack

log = logging.getLogger(__name__)

#: Family and format version of genre model files (see :mod:`encore.persistence`).
FAMILY = "encore-genre-model"
FORMAT_VERSION = 1


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
    def params(self) -> dict[str, Any]:
        """The constructor arguments of this model (each is kept as an attribute)."""
        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n != "self"}

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """What ``_predict_proba`` needs after ``fit``, as plain values and arrays."""

    @abstractmethod
    def _restore(self, state: dict[str, Any]) -> None:
        """Set the fitted attributes from what :meth:`_state` returned."""

    def save(self, path: Path) -> Path:
        """Write the fitted model to ``path`` (``.npz``, folders created); return the file.

        The file holds arrays and JSON only (see :mod:`encore.persistence`): loading it
        never runs code.

        Raises
        ------
        NotFittedError
            The model has not been fitted.
        """
        if not self.classes_:
            raise NotFittedError(f"genre model {self.name!r} is not fitted, nothing to save")
        arrays: dict[str, np.ndarray] = {}
        tree = {
            "params": self.params(),
            "classes": self.classes_,
            "dataset": self.dataset_,
            "level": self.level_,
            "fit_seconds": self.fit_seconds_,
            "users": self.users_,
            "numeric_columns": self.numeric_columns_,
            "state": self._state(),
        }
        header = {"model": self.name, "tree": pack(tree, arrays)}
        return save_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, header=header, arrays=arrays
        )

    @staticmethod
    def load(path: Path) -> GenreModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        DataError
            Not a genre model file (e.g. a pickle of an older Encore, or another model
            family), a newer format than this Encore reads, or an unknown model name.
        """
        header, arrays = load_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, what="genre model"
        )
        reg = registry()
        name = header.get("model")
        if name not in reg:
            raise DataError(f"unknown genre model {name!r} in the file", file=str(path))
        try:
            tree = unpack(header["tree"], arrays)
            model = reg[name](**tree["params"])
            model.classes_ = list(tree["classes"])
            model.dataset_, model.level_ = tree["dataset"], tree["level"]
            model.fit_seconds_ = float(tree["fit_seconds"])
            model.users_ = np.asarray(tree["users"], dtype=object)
            model.numeric_columns_ = list(tree["numeric_columns"])
            model._restore(tree["state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"damaged genre model file ({type(exc).__name__}: {exc})", file=str(path)
            ) from exc
        return model


def model_path(model_dir: Path, name: str, dataset: str) -> Path:
    """Where ``encore genre train`` keeps a fitted model."""
    return model_dir / f"{name}-{dataset}{SUFFIX}"


def refuse_pickle(path: Path, train: str) -> None:
    """Raise :class:`DataError` when a pickle of an older Encore stands where ``path``
    (a missing ``.npz``) would be; ``train`` is the command that saves it again."""
    old = path.with_suffix(".pkl")
    if old.exists():
        raise DataError(
            "this genre model was saved by an older Encore as a pickle, which this "
            "version no longer loads (a pickle can run code when loaded)",
            file=str(old),
            hint=f"train it again: `{train}`",
        )


def load_model(model_dir: Path, name: str, dataset: str) -> GenreModel:
    """Load a model saved by ``encore genre train``.

    Raises
    ------
    NotFittedError
        No saved model of that name and dataset.
    DataError
        Only a model of an older Encore (a pickle, ``.pkl``) is there, or the file is not
        a readable genre model of this Encore.
    """
    path = model_path(model_dir, name, dataset)
    train = f"encore genre train --model {name} --dataset {dataset}"
    if not path.exists():
        refuse_pickle(path, train)
        raise NotFittedError(
            f"no trained genre model {name!r} for dataset {dataset!r} in {model_dir}",
            hint=f"run `{train}`",
        )
    return GenreModel.load(path)


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
