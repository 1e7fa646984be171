"""Baselines: the majority class and the artist prior."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from encore.genre.base import GenreModel
from encore.genre.features import GenreData


def class_shares(labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Each class's share of ``labels`` (the training genre frequencies), in class order."""
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    counts /= counts.sum()
    return counts


def _artist(value: Any) -> int | None:
    """An item's artist id, None where it has none (None or NaN in the items frame)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


class Majority(GenreModel):
    """Predicts the training genre frequencies for every item."""

    name = "majority"

    def _fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None
    ) -> None:
        self.prior_ = class_shares(data.labels[train_idx], self.classes_)

    def _predict_proba(self, data: GenreData, idx: np.ndarray) -> np.ndarray:
        return np.tile(self.prior_, (len(idx), 1))

    def _state(self) -> dict[str, Any]:
        return {"prior": self.prior_}

    def _restore(self, state: dict[str, Any]) -> None:
        self.prior_ = state["prior"]


class ArtistPrior(GenreModel):
    """Genre distribution of the artist's *other* training items, else the majority prior.

    On an artist-disjoint split no test artist has training items, so this baseline falls
    back to the majority class everywhere (``coverage_`` says how often it had an artist).
    With artist-level items (HetRec) an item *is* its artist: there is nothing to borrow.
    """

    name = "artist_prior"

    def _fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None
    ) -> None:
        self.prior_ = class_shares(data.labels[train_idx], self.classes_)
        cpos = {c: i for i, c in enumerate(self.classes_)}
        counts: dict[int, np.ndarray] = {}
        items: dict[int, set[int]] = {}
        arts = data.items["artist_id"].to_numpy()
        ids = data.items["item_id"].to_numpy()
        all_labels = data.labels
        for pos in train_idx:
            a = _artist(arts[pos])
            if a is None:
                continue
            vec = counts.setdefault(a, np.zeros(len(self.classes_)))
            vec[cpos[all_labels[pos]]] += 1
            items.setdefault(a, set()).add(int(ids[pos]))
        self.counts_ = counts
        self.items_ = items
        self.coverage_ = float("nan")

    def _predict_proba(self, data: GenreData, idx: np.ndarray) -> np.ndarray:
        out = np.tile(self.prior_, (len(idx), 1))
        arts = data.items["artist_id"].to_numpy()
        ids = data.items["item_id"].to_numpy()
        all_labels = data.labels
        covered = 0
        for r, pos in enumerate(idx):
            a = _artist(arts[pos])
            if a is None or a not in self.counts_:
                continue
            vec = self.counts_[a].copy()
            own = all_labels[pos]
            if int(ids[pos]) in self.items_[a] and own is not None and own in self.classes_:
                # the item itself was a training item: leave its own label out
                vec[self.classes_.index(own)] -= 1
            if vec.sum() <= 0:
                continue
            covered += 1
            out[r] = (vec + 0.1 * self.prior_) / (vec.sum() + 0.1)
        self.coverage_ = covered / max(len(idx), 1)
        return out

    def _state(self) -> dict[str, Any]:
        artists = np.fromiter(self.counts_, dtype=np.int64, count=len(self.counts_))
        pairs = [(a, i) for a, items in self.items_.items() for i in sorted(items)]
        return {
            "prior": self.prior_,
            "artists": artists,
            "counts": np.array([self.counts_[int(a)] for a in artists]).reshape(
                len(artists), len(self.classes_)
            ),
            "item_artists": np.array([a for a, _ in pairs], dtype=np.int64),
            "item_ids": np.array([i for _, i in pairs], dtype=np.int64),
            "coverage": self.coverage_,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.prior_ = state["prior"]
        self.counts_ = {
            int(a): np.array(row, dtype=np.float64)
            for a, row in zip(state["artists"], state["counts"], strict=True)
        }
        items: dict[int, set[int]] = {}
        for a, i in zip(state["item_artists"].tolist(), state["item_ids"].tolist(), strict=True):
            items.setdefault(int(a), set()).add(int(i))
        self.items_ = items
        self.coverage_ = float(state["coverage"])
