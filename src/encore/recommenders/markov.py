"""Sequence baselines: a last-item Markov chain and item kNN over the last items.

``markov``: first-order transitions counted over consecutive wanted events (play,
partial play, like; a skip breaks nothing but is never a source or target), scored from
the user's last wanted item, with a small popularity back-off so that every item gets a
score. ``last_items_knn``: cosine item-item similarity from co-occurrence in users'
histories, scored from the user's latest ``last_n`` wanted items, more recent items
weighing more (``decay`` per step back). Both read the events at request time like
SASRec, so they sit beside it in the same tables.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import RecommenderConfig
from encore.recommenders.sequence import (
    KIND_CODE,
    POSITIVE_KINDS,
    SEQUENCE_ATTRS,
    Encoded,
    SequenceRecommender,
)

_POSITIVE = [KIND_CODE[k] for k in POSITIVE_KINDS]


def _wanted(items: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    return np.isin(kinds, _POSITIVE) & (items > 0)


class MarkovConfig(RecommenderConfig):
    """Config of :class:`Markov`: ``backoff`` is the weight of popularity (share of the
    most popular item's score) added to the transition scores; ``max_len`` the events kept
    per user."""

    backoff: float = Field(default=1e-3, ge=0)
    max_len: int = Field(default=50, ge=1)


class Markov(SequenceRecommender):
    """Last-item Markov chain (transition counts) with a popularity back-off."""

    name: ClassVar[str] = "markov"
    config_class = MarkovConfig
    config: MarkovConfig
    state_attrs: ClassVar[tuple[str, ...]] = (*SEQUENCE_ATTRS, "transitions_", "popularity_")
    search_space: ClassVar[dict[str, list[Any]]] = {"backoff": [1e-3, 0.05]}

    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        n = dataset.n_items
        keep = np.isin(enc.kinds, _POSITIVE)
        user_of = np.repeat(np.arange(len(enc.users)), np.diff(enc.starts))[keep]
        items = enc.items[keep] - 1
        same = (user_of[1:] == user_of[:-1]) & (items[1:] != items[:-1])
        src, dst = items[:-1][same], items[1:][same]
        trans = sp.csr_matrix(
            (np.ones(len(src), dtype=np.float32), (src, dst)), shape=(n, n), dtype=np.float32
        )
        trans.sum_duplicates()
        rowsum = np.asarray(trans.sum(axis=1)).ravel()
        self.transitions_ = sp.csr_matrix(sp.diags(1.0 / np.maximum(rowsum, 1.0)) @ trans)
        pop = np.bincount(items, minlength=n).astype(np.float64)
        self.popularity_ = pop / max(pop.max(), 1.0)

    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        out = np.tile(self.config.backoff * self.popularity_, (len(items), 1))
        wanted = _wanted(items, kinds)
        for r in range(len(items)):
            pos = np.flatnonzero(wanted[r])
            if len(pos):
                last = int(items[r, pos[-1]]) - 1
                row = self.transitions_[last]
                out[r, row.indices] += row.data
        return out


class LastItemsKNNConfig(RecommenderConfig):
    """Config of :class:`LastItemsKNN`."""

    last_n: int = Field(default=5, ge=1)
    decay: float = Field(default=0.7, gt=0, le=1)
    neighbours: int = Field(default=100, ge=1)
    max_len: int = Field(default=50, ge=1)


class LastItemsKNN(SequenceRecommender):
    """Item kNN (cosine over users' item sets) scored from the latest wanted items."""

    name: ClassVar[str] = "last_items_knn"
    config_class = LastItemsKNNConfig
    config: LastItemsKNNConfig
    state_attrs: ClassVar[tuple[str, ...]] = (*SEQUENCE_ATTRS, "similarity_")
    search_space: ClassVar[dict[str, list[Any]]] = {"last_n": [1, 5, 20], "decay": [0.5, 0.9]}

    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        n = dataset.n_items
        keep = np.isin(enc.kinds, _POSITIVE)
        user_of = np.repeat(np.arange(len(enc.users)), np.diff(enc.starts))[keep]
        ui = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=np.float32), (user_of, enc.items[keep] - 1)),
            shape=(len(enc.users), n),
        )
        ui.sum_duplicates()
        ui.data[:] = 1.0
        uic = sp.csc_matrix(ui)
        norm = np.sqrt(np.maximum(np.asarray(ui.sum(axis=0)).ravel(), 1.0))
        k = self.config.neighbours
        rows, cols, vals = [], [], []
        # item-item cosine a block of items at a time, keeping each item's top k: the full
        # co-occurrence of a few long histories over a large catalogue does not fit memory
        block = 1024
        for b0 in range(0, n, block):
            b1 = min(n, b0 + block)
            co = sp.csr_matrix(uic[:, b0:b1].T @ ui, dtype=np.float32)
            co = sp.csr_matrix(sp.diags(1.0 / norm[b0:b1]) @ co @ sp.diags(1.0 / norm))
            for r in range(b1 - b0):
                lo, hi = co.indptr[r], co.indptr[r + 1]
                idx, data = co.indices[lo:hi], co.data[lo:hi]
                other = (idx != b0 + r) & (data != 0)
                idx, data = idx[other], data[other]
                if len(idx) > k:  # the k largest, ties to the lower item index
                    near = data >= np.partition(data, len(data) - k)[len(data) - k]
                    idx, data = idx[near], data[near]
                    top = np.lexsort((idx, -data))[:k]
                    idx, data = idx[top], data[top]
                rows.append(np.full(len(idx), b0 + r))
                cols.append(idx)
                vals.append(data)
        self.similarity_ = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n, n),
            dtype=np.float32,
        )

    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        n = len(items)
        wanted = _wanted(items, kinds)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for r in range(n):
            pos = np.flatnonzero(wanted[r])[::-1]
            recent: list[int] = []
            for p in pos:
                item = int(items[r, p]) - 1
                if item not in recent:
                    recent.append(item)
                if len(recent) == self.config.last_n:
                    break
            rows.extend([r] * len(recent))
            cols.extend(recent)
            vals.extend(self.config.decay ** np.arange(len(recent)))
        profile = sp.csr_matrix((vals, (rows, cols)), shape=(n, self.n_items), dtype=np.float32)
        return np.asarray((profile @ self.similarity_).todense(), dtype=np.float32)
