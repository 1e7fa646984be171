"""The estimated logging (behaviour) policy: propensities for logs that have none.

Nobody recorded why a listener heard a track (their own choice, a playlist, Spotify's
autoplay), so the probability ``mu(a | x)`` with which the logged track was chosen is
unknown. Encore **estimates** it, and every off-policy number computed from the real logs
rests on that estimate:

    mu(a | x) = softmax_a( t_u * (w_pop log(1 + plays_a) + w_cf cf(u, a)
                                   + w_fam log(1 + n_u(a)) + w_last [a among u's last 5]) )

over the whole action space, mixed with :data:`FLOOR` (5 %) of uniform, where ``cf(u, a)`` is an ALS score fitted on the train
rounds, ``n_u(a)`` the listener's earlier rounds of ``a`` (repeats dominate real
listening) and ``t_u`` a per-listener temperature (the calibration). The weights are
maximum-likelihood on a seeded sample of train rounds (full softmax, no sampled
negatives); ``t_u`` is then fitted per listener on the same sample. Held-out fit (negative
log-likelihood per round on test rounds, against uniform and popularity-only) is reported
by :meth:`BehaviourPolicy.heldout_fit`.

The assumption: the listener's choice depends on the context only through these
features, and the softmax family is right. Propensities Encore's own policies serve are
exact (``encore recommend --propensities``), so future logs need no such estimate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import DataError
from encore.rl.logs import RLData

log = logging.getLogger(__name__)

#: Names of the behaviour model's features, in weight order.
FEATURES: tuple[str, ...] = ("log_popularity", "cf_score", "log_familiarity", "recent")
#: Share of uniform mixed into the softmax (a floor under every propensity).
FLOOR = 0.05
#: Rounds back that the ``recent`` feature reads.
LAST = 5


@dataclass
class Embeddings:
    """ALS user and item factors fitted on the train rounds (full listens, log1p)."""

    user_index: pd.Index
    user_factors: np.ndarray
    item_factors: np.ndarray
    popularity: np.ndarray  # train rounds per item

    @classmethod
    def fit(cls, data: RLData, *, factors: int = 32, seed: int = 0) -> Embeddings:
        """Fit ALS (``encore.recommenders.als``) on the train side of ``data``."""
        from encore.data.dataset import InteractionDataset
        from encore.recommenders.als import ALS

        inter = data.interactions("train")
        dataset = InteractionDataset.from_interactions(
            inter, item_level="track", items=data.item_ids
        )
        model = ALS(factors=factors, iterations=10, random_state=seed).fit(dataset)
        pop = np.bincount(data.train["item"].to_numpy(), minlength=data.n_items).astype(float)
        # the dataset keeps the given item order (items=...), so factors align with items
        order = dataset.item_map.to_internal(list(data.item_ids))
        return cls(
            user_index=pd.Index(dataset.user_map.external_ids.astype(str)),
            user_factors=np.asarray(model.user_factors_, dtype=np.float64),
            item_factors=np.asarray(model.item_factors_, dtype=np.float64)[order],
            popularity=pop,
        )

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        """Factors of each user (zeros for a user unseen in train)."""
        pos = self.user_index.get_indexer(pd.Index(np.asarray(users).astype(str)))
        out = np.zeros((len(pos), self.user_factors.shape[1]))
        out[pos >= 0] = self.user_factors[pos[pos >= 0]]
        return out

    def cf_scores(self, users: np.ndarray) -> np.ndarray:
        """``[n, n_items]`` ALS scores."""
        return self.user_vectors(users) @ self.item_factors.T


def history_counts(data: RLData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rounds ``rows`` (positions in ``data.rounds``): the listener's earlier rounds
    of every item ``[n, n_items]`` and whether each item is among their last :data:`LAST`."""
    rounds = data.rounds
    users = rounds["user_id"].to_numpy()
    items = rounds["item"].to_numpy()
    rows = np.asarray(rows, dtype=np.int64)
    counts = np.zeros((len(rows), data.n_items), dtype=np.float32)
    recent = np.zeros((len(rows), data.n_items), dtype=np.float32)
    starts = pd.Series(np.arange(len(users))).groupby(users).min()
    for j, r in enumerate(rows):
        lo = int(starts[users[r]])
        np.add.at(counts[j], items[lo:r], 1.0)
        recent[j, items[max(lo, r - LAST) : r]] = 1.0
    return counts, recent


@dataclass
class BehaviourPolicy:
    """The fitted behaviour model (see the module docstring)."""

    weights: np.ndarray
    temperature: dict[str, float]
    emb: Embeddings
    fit_rounds: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    def logits(self, data: RLData, rows: np.ndarray) -> np.ndarray:
        """``[n, n_items]`` calibrated logits of rounds ``rows``."""
        feats = _features(data, self.emb, rows)
        z = np.tensordot(feats, self.weights, axes=([0], [0]))
        users = data.rounds["user_id"].to_numpy()[rows]
        t = np.array([self.temperature.get(str(u), 1.0) for u in users])
        return z * t[:, None]

    def probabilities(self, data: RLData, rows: np.ndarray) -> np.ndarray:
        """``[n, n_items]`` action probabilities ``mu(. | x)`` of rounds ``rows``: the
        softmax mixed with :data:`FLOOR` of uniform (every track keeps some chance, which
        bounds the importance weights)."""
        return (1.0 - FLOOR) * _softmax(self.logits(data, rows)) + FLOOR / data.n_items

    def propensities(self, data: RLData, rows: np.ndarray) -> np.ndarray:
        """``mu(a_i | x_i)`` of the logged action of each round."""
        p = self.probabilities(data, rows)
        items = data.rounds["item"].to_numpy()[rows]
        return np.clip(p[np.arange(len(rows)), items], 1e-12, 1.0)

    def heldout_fit(self, data: RLData, rows: np.ndarray) -> dict[str, float]:
        """Mean negative log-likelihood per round on ``rows`` for this model, the uniform
        policy and popularity alone; and the share of logged items in the model's top 10."""
        items = data.rounds["item"].to_numpy()[rows]
        logits = self.logits(data, rows)
        logp = np.log(self.probabilities(data, rows))
        pop = np.log1p(self.emb.popularity)
        pop_logp = pop - _logsumexp(pop[None])[0]
        top = np.argsort(-logits, axis=1)[:, :10]
        return {
            "rounds": float(len(rows)),
            "nll_model": float(-logp[np.arange(len(rows)), items].mean()),
            "nll_popularity": float(-pop_logp[items].mean()),
            "nll_uniform": float(np.log(data.n_items)),
            "top10_hit": float((top == items[:, None]).any(axis=1).mean()),
        }


def _features(data: RLData, emb: Embeddings, rows: np.ndarray) -> np.ndarray:
    """``[4, n, n_items]`` features in :data:`FEATURES` order."""
    users = data.rounds["user_id"].to_numpy()[rows]
    counts, recent = history_counts(data, rows)
    pop = np.broadcast_to(np.log1p(emb.popularity)[None], counts.shape)
    return np.stack([pop, emb.cf_scores(users), np.log1p(counts), recent])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=1))


def fit_behaviour(
    data: RLData, emb: Embeddings, *, sample: int = 3000, seed: int = 0
) -> BehaviourPolicy:
    """Fit the behaviour model's weights and per-listener temperatures on a seeded sample of
    train rounds (see the module docstring).

    Raises
    ------
    DataError
        No train rounds.
    """
    from scipy.optimize import minimize, minimize_scalar

    train_rows = np.flatnonzero(~data.rounds["test"].to_numpy())
    if len(train_rows) == 0:
        raise DataError("no train rounds to fit the behaviour policy on")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(train_rows, size=min(sample, len(train_rows)), replace=False))
    feats = _features(data, emb, rows)
    items = data.rounds["item"].to_numpy()[rows]
    idx = np.arange(len(rows))

    def nll(w: np.ndarray, t: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        z = np.tensordot(feats, w, axes=([0], [0]))
        if t is not None:
            z = z * t[:, None]
        p = _softmax(z)
        loss = -(np.log(np.clip(p[idx, items], 1e-300, None))).mean()
        # gradient: E_p[f] - f(a)
        expected = np.einsum("fna,na->fn", feats, p)
        grad = (expected - feats[:, idx, items]).mean(axis=1)
        return float(loss), grad

    res = minimize(lambda w: nll(w), x0=np.array([1.0, 1.0, 1.0, 1.0]), jac=True, method="L-BFGS-B")
    weights = np.asarray(res.x, dtype=np.float64)
    z = np.tensordot(feats, weights, axes=([0], [0]))
    users = data.rounds["user_id"].to_numpy()[rows]
    temperature: dict[str, float] = {}
    for user in np.unique(users):
        m = users == user
        zu, au = z[m], items[m]

        def user_nll(t: float, zu: np.ndarray = zu, au: np.ndarray = au) -> float:
            lz = t * zu
            return float(-(lz[np.arange(len(au)), au] - _logsumexp(lz)).mean())

        temperature[str(user)] = float(
            minimize_scalar(user_nll, bounds=(0.2, 5.0), method="bounded").x
        )
    log.info("behaviour policy weights %s (NLL %.3f)", weights, res.fun)
    return BehaviourPolicy(
        weights=weights,
        temperature=temperature,
        emb=emb,
        fit_rounds=len(rows),
        stats={"train_nll": float(res.fun), **dict(zip(FEATURES, weights.tolist(), strict=True))},
    )
