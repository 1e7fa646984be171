"""Contextual bandit over candidate tracks: LinUCB and linear Thompson sampling.

One shared linear reward model scores every (context, track) pair from the features

- context: the listener's ALS embedding ``u`` (fitted inside, on the train interactions),
  the hour of day (of the listener's latest event; unknown for a bag of items) and the
  recent-skip rate (skips and cut-short plays among the latest :data:`RECENT` events);
- arm: the track's ALS embedding ``v``, its genre (one-hot; set with
  :meth:`Bandit.set_item_genres` before ``fit``, else every track is ``unknown``), its
  log popularity and how often the listener played it;
- crossed: ``u * v`` and ``u . v``, genre x the listener's share of that genre, popularity
  x skip rate, popularity x hour.

The **reward** is 1 for a full listen or a like and 0 for a skip or a play cut short (the
skip is the negative label). ``fit`` replays the logged events through the ridge
posterior ``A = l2 I + sum phi phi'``, ``b = sum r phi`` (the sequential LinUCB update,
whose end state is the batch ridge fit). Recommending scores every track with
``theta . phi + alpha sqrt(phi' A^-1 phi)`` (``algorithm="linucb"``) or with ``theta~ . phi``,
``theta~ ~ N(theta, v^2 A^-1)`` drawn with a seed per user (``"thompson"``, so an answer is
reproducible). :meth:`Bandit.update` adds one observed reward (online learning, as in
``encore rl simulate``).

Learning from logs that another policy chose is biased toward what it chose; the
off-policy estimates of ``encore rl evaluate`` are how the bandit is judged.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.recommenders.base import RecommenderConfig
from encore.recommenders.sequence import KIND_CODE, SEQUENCE_ATTRS, Encoded, SequenceRecommender

log = logging.getLogger(__name__)

#: Latest events that the recent-skip rate reads.
RECENT = 20
_NEGATIVE = (KIND_CODE["skip"], KIND_CODE["partial"])


class BanditConfig(RecommenderConfig):
    """Config of :class:`Bandit` (module docstring)."""

    algorithm: Literal["linucb", "thompson"] = "linucb"
    alpha: float = Field(default=0.5, ge=0)
    l2: float = Field(default=10.0, gt=0)
    noise: float = Field(default=0.5, gt=0)
    factors: int = Field(default=16, ge=2)
    iterations: int = Field(default=10, ge=1)
    max_len: int = Field(default=50, ge=1)
    seed: int = 0


class Bandit(SequenceRecommender):
    """LinUCB / linear Thompson sampling over track and listener features."""

    name: ClassVar[str] = "bandit"
    config_class = BanditConfig
    config: BanditConfig
    state_attrs: ClassVar[tuple[str, ...]] = (
        *SEQUENCE_ATTRS,
        "user_factors_",
        "item_factors_",
        "item_genre_",
        "user_genre_",
        "log_pop_",
        "last_hour_",
        "a_inv_",
        "b_",
        "theta_",
        "n_genres_",
        "genre_names_",
    )
    #: the exploration width reads every track's features per user: --models all skips it above
    item_limit: ClassVar[int | None] = 20_000
    search_space: ClassVar[dict[str, list[Any]]] = {
        "algorithm": ["linucb", "thompson"],
        "alpha": [0.1, 1.0],
    }

    def set_item_genres(self, genres: pd.Series) -> Bandit:
        """Item id -> genre name, used by the next ``fit`` (unknown items: ``unknown``)."""
        self._item_genres = genres
        return self

    # ------------------------------------------------------------------ features
    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        return 2 + self.config.factors + 2 * int(self.n_genres_) + 7

    def features(
        self,
        user_vec: np.ndarray,
        genre_share: np.ndarray,
        skip_rate: float,
        hour: float,
        familiarity: np.ndarray,
        items: np.ndarray | None = None,
    ) -> np.ndarray:
        """``[n_items, n_features]`` (or for ``items`` only) of one context."""
        v = self.item_factors_ if items is None else self.item_factors_[items]
        g = self.item_genre_ if items is None else self.item_genre_[items]
        pop = self.log_pop_ if items is None else self.log_pop_[items]
        fam = np.log1p(familiarity if items is None else familiarity[items])
        n = len(v)
        onehot = np.zeros((n, int(self.n_genres_)))
        onehot[np.arange(n), g] = 1.0
        if np.isfinite(hour):
            hs, hc = np.sin(2 * np.pi * hour / 24.0), np.cos(2 * np.pi * hour / 24.0)
        else:
            hs = hc = 0.0
        cols = [
            np.ones((n, 1)),
            (v @ user_vec)[:, None],
            v * user_vec[None],
            onehot,
            onehot * genre_share[g][:, None],
            pop[:, None],
            (pop * skip_rate)[:, None],
            fam[:, None],
            (fam * skip_rate)[:, None],
            (pop * hs)[:, None],
            (pop * hc)[:, None],
            np.full((n, 1), skip_rate),
        ]
        return np.hstack(cols)

    # ------------------------------------------------------------------ fitting
    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        from encore.recommenders.als import ALS

        cfg = self.config
        als = ALS(factors=cfg.factors, iterations=cfg.iterations, random_state=cfg.seed)
        als.fit(dataset)
        self.user_factors_ = np.asarray(als.user_factors_, dtype=np.float64)
        self.item_factors_ = np.asarray(als.item_factors_, dtype=np.float64)
        genres = getattr(self, "_item_genres", None)
        names = dataset.item_map.external_ids
        if genres is not None and len(genres):
            g = pd.Series(genres).reindex(pd.Index(names)).fillna("unknown").astype(str)
        else:
            g = pd.Series(["unknown"] * len(names))
        vocab = [*sorted(x for x in g.unique() if x != "unknown"), "unknown"]
        self.genre_names_ = np.asarray(vocab, dtype=str)
        self.n_genres_ = len(vocab)
        self.item_genre_ = pd.Index(vocab).get_indexer(g.to_numpy()).astype(np.int64)
        matrix = sp.csr_matrix(dataset.matrix)
        onehot = sp.csr_matrix(
            (np.ones(len(names)), (np.arange(len(names)), self.item_genre_)),
            shape=(len(names), self.n_genres_),
        )
        per_genre = np.asarray((matrix @ onehot).todense())
        self.user_genre_ = per_genre / np.maximum(per_genre.sum(axis=1, keepdims=True), 1e-9)
        pop = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
        self.log_pop_ = np.log1p(pop)
        # replay the logged events: rewards and the context each was chosen in
        d = self.n_features
        a = cfg.l2 * np.eye(d)
        b = np.zeros(d)
        user_pos = pd.Index(dataset.user_map.external_ids.astype(str)).get_indexer(
            enc.users.astype(str)
        )
        self.last_hour_ = np.full(dataset.n_users, np.nan)
        for u in range(len(enc.users)):
            lo, hi = int(enc.starts[u]), int(enc.starts[u + 1])
            pos = user_pos[u]
            items = enc.items[lo:hi] - 1
            kinds = enc.kinds[lo:hi]
            reward = (~np.isin(kinds, _NEGATIVE)).astype(np.float64)
            neg = 1.0 - reward
            prev = np.r_[0.0, np.cumsum(neg)]
            idx = np.arange(hi - lo)
            start = np.maximum(idx - RECENT, 0)
            skip = (prev[idx] - prev[start] + 0.3) / (idx - start + 1.0)
            fam = pd.Series(items).groupby(items).cumcount().to_numpy(dtype=np.float64)
            hours = _hours(enc.secs[lo:hi])
            if pos >= 0 and len(hours):
                self.last_hour_[pos] = hours[-1]
            uvec = self.user_factors_[pos] if pos >= 0 else np.zeros(cfg.factors)
            share = self.user_genre_[pos] if pos >= 0 else np.zeros(self.n_genres_)
            phi = self._event_features(uvec, share, skip, hours, fam, items)
            a += phi.T @ phi
            b += phi.T @ reward
        self.a_inv_ = np.linalg.inv(a)
        self.b_ = b
        self.theta_ = self.a_inv_ @ b

    def _event_features(
        self,
        uvec: np.ndarray,
        share: np.ndarray,
        skip: np.ndarray,
        hours: np.ndarray,
        fam: np.ndarray,
        items: np.ndarray,
    ) -> np.ndarray:
        """Features of a listener's logged events (each in its own context)."""
        out = np.empty((len(items), self.n_features))
        for h in np.unique(np.where(np.isfinite(hours), np.floor(hours), -1)):
            m = np.where(np.isfinite(hours), np.floor(hours), -1) == h
            hour = float(h) + 0.5 if h >= 0 else float("nan")
            base = self.features(uvec, share, 0.0, hour, np.zeros(self.n_items), items[m])
            # the skip- and familiarity-dependent columns, per event
            k = 2 + self.config.factors + 2 * int(self.n_genres_)
            pop = self.log_pop_[items[m]]
            lf = np.log1p(fam[m])
            base[:, k + 1] = pop * skip[m]
            base[:, k + 2] = lf
            base[:, k + 3] = lf * skip[m]
            base[:, k + 6] = skip[m]
            out[m] = base
        return out

    # ------------------------------------------------------------------ scoring
    def _score(self, user_idx: np.ndarray, user_rows: sp.csr_matrix) -> np.ndarray:
        rows = sp.csr_matrix(user_rows)
        out = np.empty((len(user_idx), self.n_items), dtype=np.float32)
        for r, u in enumerate(user_idx):
            kinds = self.seq_kinds_[u]
            out[r] = self.context_scores(
                self.user_factors_[u],
                self.user_genre_[u],
                _skip_rate(kinds),
                float(self.last_hour_[u]),
                np.asarray(rows[r].todense()).ravel(),
                draw=int(u),
            )
        return out

    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        out = np.empty((len(items), self.n_items), dtype=np.float32)
        for r in range(len(items)):
            have = items[r] > 0
            pos = ~np.isin(kinds[r], _NEGATIVE) & have
            counts = np.bincount(items[r][pos] - 1, minlength=self.n_items).astype(np.float64)
            uvec = self._solve_user(counts)
            share = np.bincount(
                self.item_genre_[items[r][pos] - 1], minlength=int(self.n_genres_)
            ).astype(np.float64)
            share /= max(share.sum(), 1.0)
            out[r] = self.context_scores(
                uvec, share, _skip_rate(kinds[r]), float("nan"), counts, draw=r
            )
        return out

    def context_scores(
        self,
        user_vec: np.ndarray,
        genre_share: np.ndarray,
        skip_rate: float,
        hour: float,
        familiarity: np.ndarray,
        draw: int = 0,
    ) -> np.ndarray:
        """Every track's score in one context (UCB, or one Thompson draw seeded by ``draw``)."""
        phi = self.features(user_vec, genre_share, skip_rate, hour, familiarity)
        if self.config.algorithm == "linucb":
            width = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", phi, self.a_inv_, phi), 0.0))
            return np.asarray(phi @ self.theta_ + self.config.alpha * width)
        rng = np.random.default_rng([self.config.seed, draw])
        cov = (self.config.noise**2) * self.a_inv_
        theta = rng.multivariate_normal(self.theta_, (cov + cov.T) / 2.0, method="cholesky")
        return np.asarray(phi @ theta)

    def expected_reward(
        self,
        user_vec: np.ndarray,
        genre_share: np.ndarray,
        skip_rate: float,
        hour: float,
        familiarity: np.ndarray,
    ) -> np.ndarray:
        """The ridge model's mean reward of every track (no exploration bonus)."""
        phi = self.features(user_vec, genre_share, skip_rate, hour, familiarity)
        return np.asarray(phi @ self.theta_)

    def update(self, phi: np.ndarray, reward: float) -> None:
        """Add one observed reward for a feature row (Sherman-Morrison update)."""
        x = np.asarray(phi, dtype=np.float64).ravel()
        ax = self.a_inv_ @ x
        self.a_inv_ = self.a_inv_ - np.outer(ax, ax) / (1.0 + x @ ax)
        self.b_ = self.b_ + reward * x
        self.theta_ = self.a_inv_ @ self.b_

    def _solve_user(self, counts: np.ndarray) -> np.ndarray:
        """ALS user factors of a bag of items (exact least squares, confidence log1p)."""
        y = self.item_factors_
        idx = np.flatnonzero(counts)
        k = y.shape[1]
        if len(idx) == 0:
            return np.zeros(k)
        conf = np.log1p(counts[idx])
        yj = y[idx]
        a = y.T @ y + 0.1 * np.eye(k) + (yj * (conf - 1.0)[:, None]).T @ yj
        return np.linalg.solve(a, (yj * conf[:, None]).sum(axis=0))


def _skip_rate(kinds: np.ndarray) -> float:
    """Prior-smoothed share of skips among the latest :data:`RECENT` events."""
    k = np.asarray(kinds)
    k = k[k > 0][-RECENT:]
    return float((np.isin(k, _NEGATIVE).sum() + 0.3) / (len(k) + 1.0))


def _hours(secs: np.ndarray) -> np.ndarray:
    """Hour of day (UTC, fractional) of Unix seconds (NaN stays NaN)."""
    s = np.asarray(secs, dtype=np.float64)
    return np.where(np.isfinite(s), (s % 86_400.0) / 3600.0, np.nan)
