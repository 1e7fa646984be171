"""Splits, metrics and the model comparison table for genre prediction.

Splits (see ``docs/genre-prediction.md``):

- ``artist``: grouped by artist, no artist in both train and test (``GroupShuffleSplit``);
- ``time``: by release year, train on the oldest 80 % of dated items, test on the newest
  (artists may appear on both sides: this is where the artist prior can help).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError
from encore.genre.base import GenreModel, make_model
from encore.genre.features import GenreData

log = logging.getLogger(__name__)

SplitName = Literal["artist", "time"]


@dataclass(frozen=True)
class ModelSpec:
    """One row of the comparison: a model name, its options and a label."""

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def title(self) -> str:
        """The label shown in tables."""
        return self.label or self.model


#: The default comparison: baselines, classical models with feature-group ablations, VAEs.
DEFAULT_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("majority"),
    ModelSpec("artist_prior"),
    ModelSpec("logreg", {"groups": ("collab",)}, "logreg [collab]"),
    ModelSpec("logreg", {"groups": ("text",)}, "logreg [text]"),
    ModelSpec("logreg", {"groups": ("meta",)}, "logreg [meta]"),
    ModelSpec("logreg", {}, "logreg [all]"),
    ModelSpec("lightgbm", {}, "lightgbm [all]"),
    ModelSpec("vae", {"use_side": False}, "vae [listeners only]"),
    ModelSpec("vae", {}, "vae [listeners + side]"),
)


def artist_split(
    data: GenreData, test_size: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Labelled items split so that no artist is in both train and test.

    Raises
    ------
    DataError
        Fewer than 10 labelled items or fewer than 2 artists.
    """
    from sklearn.model_selection import GroupShuffleSplit

    lab = data.labelled
    arts = data.items["artist_id"].to_numpy()[lab]
    groups = np.array(
        [
            a if a is not None and not (isinstance(a, float) and np.isnan(a)) else -1 - i
            for i, a in enumerate(arts)
        ],
        dtype=np.int64,
    )
    if len(lab) < 10 or len(np.unique(groups)) < 2:
        raise DataError(f"too few labelled items ({len(lab)}) or artists to split {data.name!r}")
    tr, te = next(
        GroupShuffleSplit(1, test_size=test_size, random_state=seed).split(lab, groups=groups)
    )
    return np.sort(lab[tr]), np.sort(lab[te])


def time_split(data: GenreData, test_share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Labelled, dated items: train on release years up to the cut-off, test after it.

    Raises
    ------
    DataError
        Fewer than 50 dated labelled items.
    """
    lab = data.labelled
    years = data.items["release_year"].to_numpy(dtype=float)[lab]
    dated = lab[~np.isnan(years)]
    years = years[~np.isnan(years)]
    if len(dated) < 50:
        raise DataError(
            f"{data.name!r} has only {len(dated)} labelled items with a release year: no time split"
        )
    cut = np.quantile(years, 1 - test_share)
    tr, te = dated[years <= cut], dated[years > cut]
    if len(te) == 0 or len(tr) == 0:
        cut = np.quantile(years, 1 - test_share, method="lower") - 0.5
        tr, te = dated[years <= cut], dated[years > cut]
    log.info("time split at release year %.0f: %d train, %d test", cut, len(tr), len(te))
    return np.sort(tr), np.sort(te)


def make_split(data: GenreData, split: SplitName, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions for the named split."""
    if split == "artist":
        return artist_split(data, seed=seed)
    if split == "time":
        return time_split(data)
    raise ConfigError(f"unknown split {split!r}", hint="use 'artist' or 'time'")


def scores(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], k: int = 3
) -> dict[str, float]:
    """Accuracy, macro-F1 (over the genres present in truth or prediction) and top-k accuracy."""
    from sklearn.metrics import f1_score

    cls = np.asarray(classes, dtype=object)
    y = np.asarray(y_true, dtype=object)
    pred = cls[proba.argmax(axis=1)]
    topk = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    in_top = np.array([y[i] in set(cls[topk[i]]) for i in range(len(y))])
    return {
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        f"top{k}_accuracy": float(in_top.mean()),
    }


def per_genre_f1(y_true: Sequence[str], pred: Sequence[str]) -> pd.DataFrame:
    """Columns ``genre, support, precision, recall, f1``."""
    from sklearn.metrics import precision_recall_fscore_support

    labels = sorted(set(y_true) | set(pred))
    p, r, f, s = precision_recall_fscore_support(
        list(y_true), list(pred), labels=labels, zero_division=0
    )
    return pd.DataFrame({"genre": labels, "support": s, "precision": p, "recall": r, "f1": f})


@dataclass
class EvalResult:
    """The comparison table plus what the charts need."""

    dataset: str
    split: str
    table: pd.DataFrame
    y_test: np.ndarray
    predictions: dict[str, np.ndarray]
    probabilities: dict[str, np.ndarray]
    classes: dict[str, list[str]]
    listeners: np.ndarray
    models: dict[str, GenreModel]

    def per_genre(self) -> pd.DataFrame:
        """Per-genre F1 of every model: columns ``model, genre, support, precision, recall, f1``."""
        parts = []
        for name, pred in self.predictions.items():
            f = per_genre_f1(list(self.y_test), list(pred))
            f.insert(0, "model", name)
            parts.append(f)
        return pd.concat(parts, ignore_index=True)

    def by_listeners(self) -> pd.DataFrame:
        """Accuracy of every model by how many listeners the test item has."""
        bins = [-1, 0, 5, 20, np.inf]
        names = ["0", "1-5", "6-20", ">20"]
        bucket = pd.cut(self.listeners, bins=bins, labels=names)
        rows = []
        for name, pred in self.predictions.items():
            ok = pred == self.y_test
            for b in names:
                m = np.asarray(bucket == b)
                if m.any():
                    rows.append(
                        {
                            "model": name,
                            "listeners": b,
                            "items": int(m.sum()),
                            "accuracy": float(ok[m].mean()),
                        }
                    )
        return pd.DataFrame(rows)


def evaluate(
    data: GenreData,
    specs: Sequence[ModelSpec] = DEFAULT_SPECS,
    split: SplitName = "artist",
    seed: int = 0,
) -> EvalResult:
    """Fit every model on the train split and score it on the test split.

    Unlabelled items (genre unknown) are given to semi-supervised models (the VAE); test
    items are never given to any model during fitting.
    """
    tr, te = make_split(data, split, seed)
    unl = np.flatnonzero(data.items["genre"].isna().to_numpy())
    y = data.labels[te]
    rows, preds, probs, classes, models = [], {}, {}, {}, {}
    tr_arts = set(data.items["artist_id"].to_numpy()[tr].tolist())
    te_arts = data.items["artist_id"].to_numpy()[te]
    for spec in specs:
        model = make_model(spec.model, seed=seed, **spec.options)
        t0 = time.perf_counter()
        model.fit(data, tr, unl if model.uses_unlabelled else None)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        p = model.predict_proba(data, te)
        pred_ms = (time.perf_counter() - t1) * 1000 / max(len(te), 1)
        row: dict[str, Any] = {"model": spec.title, **scores(y, p, model.classes_)}
        row.update({"fit_s": fit_s, "predict_ms_per_item": pred_ms})
        if hasattr(model, "coverage_"):
            row["note"] = f"artist known for {model.coverage_:.0%} of test items"
        hist = getattr(model, "history_", None)
        if hist is not None:
            row["note"] = f"best epoch {hist.best_epoch} of {len(hist.rows)}"
        rows.append(row)
        cls = np.asarray(model.classes_, dtype=object)
        preds[spec.title], probs[spec.title], classes[spec.title] = (
            cls[p.argmax(1)],
            p,
            list(model.classes_),
        )
        models[spec.title] = model
        log.info("%s: %s", spec.title, row)
    table = pd.DataFrame(rows)
    table.insert(1, "split", split)
    table["n_train"], table["n_test"] = len(tr), len(te)
    table["test_artists_in_train"] = float(np.mean([a in tr_arts for a in te_arts]))
    listeners = data.listens[te].getnnz(axis=1)
    return EvalResult(data.name, split, table, y, preds, probs, classes, listeners, models)
