"""Session kNN with a decaying session vector (V-SKNN; Ludewig & Jannach, 2018).

A listener's events are cut into **sessions** wherever the time gap to the previous event
exceeds ``session_gap_minutes`` (rounded to the log2 gap bucket of
:func:`~encore.recommenders.sequence.gap_buckets`, the same buckets SASRec embeds, so fit
and request time cut identically). Training keeps every past session as the set of items
wanted in it (plays, partial plays, likes; skips cut nothing and count nowhere).

At request time the **current session** is the user's latest session. Its items weigh
``position / length`` (linear decay: the latest item 1, the first ``1 / length``).
Candidate neighbours are the past sessions sharing an item with it; of those, the
``sample`` most recent (by their last event) are kept, and the ``neighbours`` most similar
among them vote: similarity is the sum of the weights of the items the two sessions share
(V-SKNN's vector similarity), and an item's score is the summed similarity of the
neighbour sessions that contain it, times the item's inverse session frequency when
``idf`` is on (rarer items count more, as in the session-rec framework's variants).
Items no neighbour contains get a small popularity back-off so that every list is full.

Ludewig & Jannach ("Evaluation of session-based recommendation algorithms", UMUAI 2018)
found this simple method level with or above GRU4Rec on music playlist and listening
session data; it is the session baseline the sequence models are compared with.
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
    gap_buckets,
)

_POSITIVE = [KIND_CODE[k] for k in POSITIVE_KINDS]


class SessionKNNConfig(RecommenderConfig):
    """Config of :class:`SessionKNN` (see the module docstring)."""

    session_gap_minutes: float = Field(default=30.0, gt=0)
    neighbours: int = Field(default=100, ge=1)
    sample: int = Field(default=1000, ge=1)
    idf: bool = True
    backoff: float = Field(default=1e-4, ge=0)
    max_len: int = Field(default=50, ge=1)


class SessionKNN(SequenceRecommender):
    """V-SKNN: neighbour sessions of the user's current session vote for items."""

    name: ClassVar[str] = "session_knn"
    config_class = SessionKNNConfig
    config: SessionKNNConfig
    state_attrs: ClassVar[tuple[str, ...]] = (
        *SEQUENCE_ATTRS,
        "sessions_",
        "session_end_",
        "item_weight_",
        "popularity_",
    )
    search_space: ClassVar[dict[str, list[Any]]] = {
        "neighbours": [50, 200],
        "session_gap_minutes": [30.0, 240.0],
        "idf": [True, False],
    }

    @property
    def boundary_bucket(self) -> int:
        """A gap in this bucket or above starts a new session."""
        minutes = self.config.session_gap_minutes
        return int(gap_buckets(np.array([minutes * 60.0]))[0]) + 1

    def _session_ids(self, gaps: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Running session number of each event (``first``: an event that starts a user)."""
        return np.cumsum(first | (gaps >= self.boundary_bucket)) - 1

    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        n_items = dataset.n_items
        first = np.zeros(len(enc.items), dtype=bool)
        first[enc.starts[:-1][np.diff(enc.starts) > 0]] = True
        sess = self._session_ids(enc.gaps, first)
        wanted = np.isin(enc.kinds, _POSITIVE)
        rows, cols = sess[wanted], enc.items[wanted] - 1
        # renumber the sessions that hold a wanted item
        kept, rows = np.unique(rows, return_inverse=True)
        mat = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(kept), n_items)
        )
        mat.sum_duplicates()
        mat.data[:] = 1.0
        self.sessions_ = mat
        secs = np.where(np.isfinite(enc.secs), enc.secs, -np.inf)
        end = np.full(int(sess.max()) + 1 if len(sess) else 0, -np.inf)
        np.maximum.at(end, sess, secs)
        # sessions without times keep their order: later sessions count as more recent
        order = np.arange(len(end), dtype=np.float64)
        end = np.where(np.isfinite(end), end, order * 1e-9 - 1e18)
        self.session_end_ = end[kept]
        freq = np.asarray(mat.sum(axis=0)).ravel()
        self.item_weight_ = (
            np.log(max(len(kept), 1) / np.maximum(freq, 1.0)) + 1.0
            if self.config.idf
            else np.ones(n_items)
        )
        self.popularity_ = freq / max(freq.max(), 1.0) if len(freq) else freq

    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        cfg = self.config
        n_q = len(items)
        out = np.tile(cfg.backoff * self.popularity_, (n_q, 1))
        # the current session: events after the last session boundary in the window
        boundary = gaps >= self.boundary_bucket
        wanted = np.isin(kinds, _POSITIVE) & (items > 0)
        q_rows: list[np.ndarray] = []
        q_cols: list[np.ndarray] = []
        q_vals: list[np.ndarray] = []
        for r in range(n_q):
            starts = np.flatnonzero(boundary[r])
            lo = int(starts[-1]) if len(starts) else 0
            pos = lo + np.flatnonzero(wanted[r, lo:])
            if not len(pos):
                continue
            its = items[r, pos] - 1
            # the latest position of each item: weight position / length (linear decay)
            _, last = np.unique(its[::-1], return_index=True)
            keep = len(its) - 1 - last
            q_rows.append(np.full(len(keep), r))
            q_cols.append(its[keep])
            q_vals.append((keep + 1) / len(its))
        if not q_rows:
            return out
        query = sp.csr_matrix(
            (np.concatenate(q_vals), (np.concatenate(q_rows), np.concatenate(q_cols))),
            shape=(n_q, self.n_items),
            dtype=np.float64,
        )
        sessions = sp.csr_matrix(self.sessions_)
        sims = sp.csr_matrix(query @ sessions.T)
        end = np.asarray(self.session_end_)
        weight = np.asarray(self.item_weight_)
        for r in range(n_q):
            lo, hi = sims.indptr[r], sims.indptr[r + 1]
            if hi == lo:
                continue
            cand, sim = sims.indices[lo:hi], sims.data[lo:hi]
            if len(cand) > cfg.sample:  # the most recent sessions (later index on ties)
                recent = np.lexsort((cand, end[cand]))[-cfg.sample :]
                cand, sim = cand[recent], sim[recent]
            if len(cand) > cfg.neighbours:
                top = np.lexsort((cand, -sim))[: cfg.neighbours]
                cand, sim = cand[top], sim[top]
            votes = np.asarray(sessions[cand].T @ sim).ravel()
            out[r] += votes * weight
        return out
