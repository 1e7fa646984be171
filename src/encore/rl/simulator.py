"""A listener simulator calibrated on the real histories, and its held-out fit.

A simulated listener is one of the real listeners (their train history, ALS embedding and
genre shares). A policy offers one track at a time (radio / autoplay); the listener

- **listens fully** with probability ``sigmoid(c . f)``, a logistic regression fitted on the
  train rounds with features ``f``: ALS score of the track for the listener (the choice
  model's "taste"), log familiarity (earlier plays), log position in the session, the
  listener's share of the track's genre, log popularity, the recent-skip rate and the hour;
  otherwise skips (minutes heard: the median of real skips);
- **ends the session** after each track with a probability fitted the same way on
  (reward, log position) from the train sessions, at most ``max_steps`` tracks.

Before a number measured in it is trusted, :func:`heldout_fit` compares it with the
held-out (test) rounds and sessions: the predicted against the real skip rate and the AUC of
the listen model on test rounds, and sessions simulated under the estimated logging policy
against the real test sessions (length, skip rate, genre mix of full listens).

The simulator shares the ALS embedding with the ALS policy and the bandit's features: a
policy that scores by that embedding is favoured by construction, and the doc says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from encore.rl.logging_policy import BehaviourPolicy, Embeddings
from encore.rl.logs import RLData, hour_features

log = logging.getLogger(__name__)

LISTEN_FEATURES: tuple[str, ...] = (
    "cf_score",
    "log_familiarity",
    "log_position",
    "genre_share",
    "log_popularity",
    "recent_skip",
    "hour_sin",
    "hour_cos",
)
SESSION_COLUMNS: tuple[str, ...] = (
    "policy",
    "user_id",
    "session",
    "tracks",
    "full_listens",
    "skips",
    "minutes",
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class SessionState:
    """What a policy may read at a step of a simulated session."""

    user: int  # index into Simulator.users
    user_id: str
    hour: float
    step: int
    played: list[int]  # this session's tracks
    history_items: list[int]  # the listener's events (train + simulated), items
    history_rewards: list[float]
    counts: np.ndarray  # plays per item so far

    @property
    def recent_skip(self) -> float:
        r = self.history_rewards[-20:]
        return float((sum(1.0 - x for x in r) + 0.3) / (len(r) + 1.0))


class Policy(Protocol):
    """A policy the simulator can run."""

    name: str

    def choose(self, state: SessionState, rng: np.random.Generator) -> int: ...

    def observe(self, state: SessionState, item: int, reward: float) -> None: ...


@dataclass
class Simulator:
    """The fitted simulator (see the module docstring)."""

    data: RLData
    emb: Embeddings
    users: list[str]
    genre_share: np.ndarray  # [n_users, n_genres]
    train_counts: list[np.ndarray]
    user_hours: list[np.ndarray]
    listen_coef: np.ndarray
    stop_coef: np.ndarray
    skip_minutes: float
    max_steps: int = 50
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, data: RLData, emb: Embeddings, *, max_steps: int = 50) -> Simulator:
        """Fit the listen and stop models on the train rounds."""
        from sklearn.linear_model import LogisticRegression

        train = data.train
        users = sorted(train["user_id"].unique())
        upos = {u: i for i, u in enumerate(users)}
        n_genres = len(data.genres)
        share = np.zeros((len(users), n_genres))
        full = train[train["reward"] > 0]
        np.add.at(
            share,
            (full["user_id"].map(upos).to_numpy(), data.item_genre[full["item"].to_numpy()]),
            1.0,
        )
        share /= np.maximum(share.sum(axis=1, keepdims=True), 1.0)
        counts = []
        hours = []
        for u in users:
            rows = train[train["user_id"] == u]
            counts.append(
                np.bincount(rows["item"].to_numpy(), minlength=data.n_items).astype(float)
            )
            starts = rows[rows["position"] == 0]["hour"].to_numpy()
            hours.append(starts if len(starts) else np.array([12.0]))
        sim = cls(
            data=data,
            emb=emb,
            users=users,
            genre_share=share,
            train_counts=counts,
            user_hours=hours,
            listen_coef=np.zeros(len(LISTEN_FEATURES) + 1),
            stop_coef=np.zeros(3),
            skip_minutes=float(train.loc[train["reward"] == 0, "minutes"].median())
            if (train["reward"] == 0).any()
            else 0.5,
            max_steps=max_steps,
        )
        x = sim.round_features(train)
        y = train["reward"].to_numpy()
        listen = LogisticRegression(C=1.0, max_iter=500).fit(x, y)
        sim.listen_coef = np.r_[listen.intercept_, listen.coef_.ravel()]
        ends = np.r_[train["session"].to_numpy()[1:] != train["session"].to_numpy()[:-1], True]
        xs = np.column_stack([train["reward"].to_numpy(), np.log1p(train["position"].to_numpy())])
        stop = LogisticRegression(C=1.0, max_iter=500).fit(xs, ends.astype(int))
        sim.stop_coef = np.r_[stop.intercept_, stop.coef_.ravel()]
        sim.stats = {
            "listen_coef": dict(
                zip(("intercept", *LISTEN_FEATURES), sim.listen_coef.round(4).tolist(), strict=True)
            ),
            "stop_coef": dict(
                zip(
                    ("intercept", "reward", "log_position"),
                    sim.stop_coef.round(4).tolist(),
                    strict=True,
                )
            ),
            "skip_minutes": sim.skip_minutes,
        }
        return sim

    # ------------------------------------------------------------------ models
    def round_features(self, rounds: pd.DataFrame) -> np.ndarray:
        """Listen-model features of logged rounds (``[n, len(LISTEN_FEATURES)]``)."""
        users = rounds["user_id"].to_numpy()
        items = rounds["item"].to_numpy()
        uvec = self.emb.user_vectors(users)
        cf = (uvec * self.emb.item_factors[items]).sum(axis=1)
        upos = pd.Index(self.users).get_indexer(pd.Index(users.astype(str)))
        share = np.where(
            upos >= 0, self.genre_share[np.maximum(upos, 0), self.data.item_genre[items]], 0.0
        )
        return np.column_stack(
            [
                cf,
                np.log1p(rounds["familiarity"].to_numpy()),
                np.log1p(rounds["position"].to_numpy()),
                share,
                np.log1p(self.emb.popularity[items]),
                rounds["recent_skip"].to_numpy(),
                hour_features(rounds["hour"].to_numpy()),
            ]
        )

    def listen_probability(self, rounds: pd.DataFrame) -> np.ndarray:
        """P(full listen) of logged rounds."""
        return _sigmoid(self.listen_coef[0] + self.round_features(rounds) @ self.listen_coef[1:])

    def state_probabilities(
        self, state: SessionState, items: np.ndarray | None = None
    ) -> np.ndarray:
        """P(full listen) of each item (every item by default) offered in ``state``."""
        items = np.arange(self.data.n_items) if items is None else np.asarray(items)
        u = state.user
        uvec = self.emb.user_vectors(np.array([state.user_id]))[0]
        cf = self.emb.item_factors[items] @ uvec
        hs = hour_features(np.array([state.hour]))[0]
        x = np.column_stack(
            [
                cf,
                np.log1p(state.counts[items]),
                np.full(len(items), np.log1p(state.step)),
                self.genre_share[u, self.data.item_genre[items]],
                np.log1p(self.emb.popularity[items]),
                np.full(len(items), state.recent_skip),
                np.full(len(items), hs[0]),
                np.full(len(items), hs[1]),
            ]
        )
        return _sigmoid(self.listen_coef[0] + x @ self.listen_coef[1:])

    def stop_probability(self, reward: float, step: int) -> float:
        """P(the session ends after a track) given its reward and position."""
        z = self.stop_coef[0] + self.stop_coef[1] * reward + self.stop_coef[2] * np.log1p(step)
        return float(_sigmoid(np.array(z)))

    # ------------------------------------------------------------------ running
    def run(
        self,
        policy: Policy,
        *,
        sessions: int = 10,
        users: list[str] | None = None,
        seed: int = 0,
        progress: Callable[[], None] | None = None,
    ) -> pd.DataFrame:
        """``sessions`` simulated sessions per listener under ``policy`` (in order, so a
        learning policy carries what it learnt from one session to the next).

        Returns
        -------
        pandas.DataFrame
            :data:`SESSION_COLUMNS`, one row per session.
        """
        rows = []
        for user_id in users or self.users:
            u = self.users.index(user_id)
            rng = np.random.default_rng([seed, u])
            train = self.data.train
            hist = train[train["user_id"] == user_id]
            items_hist = hist["item"].tolist()
            rewards_hist = hist["reward"].tolist()
            counts = self.train_counts[u].copy()
            for s in range(sessions):
                state = SessionState(
                    user=u,
                    user_id=user_id,
                    hour=float(rng.choice(self.user_hours[u])),
                    step=0,
                    played=[],
                    history_items=items_hist,
                    history_rewards=rewards_hist,
                    counts=counts,
                )
                full = skips = 0
                minutes = 0.0
                while state.step < self.max_steps:
                    item = int(policy.choose(state, rng))
                    p = float(self.state_probabilities(state, np.array([item]))[0])
                    reward = float(rng.random() < p)
                    policy.observe(state, item, reward)
                    full += int(reward)
                    skips += int(1 - reward)
                    minutes += float(self.data.item_minutes[item]) if reward else self.skip_minutes
                    state.played.append(item)
                    items_hist.append(item)
                    rewards_hist.append(reward)
                    counts[item] += 1.0
                    stop = rng.random() < self.stop_probability(reward, state.step)
                    state.step += 1
                    if stop:
                        break
                rows.append(
                    {
                        "policy": policy.name,
                        "user_id": user_id,
                        "session": s,
                        "tracks": state.step,
                        "full_listens": full,
                        "skips": skips,
                        "minutes": minutes,
                    }
                )
                if progress is not None:
                    progress()
        return pd.DataFrame(rows, columns=list(SESSION_COLUMNS))


# --------------------------------------------------------------------------- policies
class ScorePolicy:
    """Plays the best-scored track not yet played in the session (static scores per user)."""

    def __init__(self, name: str, scores: Callable[[str], np.ndarray]) -> None:
        self.name = name
        self._scores = scores
        self._cache: dict[str, np.ndarray] = {}

    def choose(self, state: SessionState, rng: np.random.Generator) -> int:
        if state.user_id not in self._cache:
            self._cache[state.user_id] = np.asarray(self._scores(state.user_id), dtype=np.float64)
        s = self._cache[state.user_id].copy()
        s[state.played] = -np.inf
        return int(np.argmax(s))

    def observe(self, state: SessionState, item: int, reward: float) -> None:
        return None


class BehaviourSimPolicy:
    """The estimated logging policy: samples a track from ``mu`` (its features read from the
    simulated state), never one already played in the session."""

    name = "logging policy"

    def __init__(self, behaviour: BehaviourPolicy, seed: int = 0) -> None:
        self.b = behaviour
        self._cf: dict[str, np.ndarray] = {}
        # its own random stream: the listener's draws stay those of every other policy
        self._rng = np.random.default_rng([seed, 7])

    def choose(self, state: SessionState, rng: np.random.Generator) -> int:
        b = self.b
        if state.user_id not in self._cf:
            self._cf[state.user_id] = b.emb.cf_scores(np.array([state.user_id]))[0]
        recent = np.zeros(len(state.counts))
        recent[state.history_items[-5:]] = 1.0
        z = (
            b.weights[0] * np.log1p(b.emb.popularity)
            + b.weights[1] * self._cf[state.user_id]
            + b.weights[2] * np.log1p(state.counts)
            + b.weights[3] * recent
        ) * b.temperature.get(state.user_id, 1.0)
        z[state.played] = -np.inf
        p = np.exp(z - z.max())
        p /= p.sum()
        return int(self._rng.choice(len(p), p=p))

    def observe(self, state: SessionState, item: int, reward: float) -> None:
        return None


def heldout_fit(
    sim: Simulator,
    behaviour: BehaviourPolicy,
    *,
    sessions_per_user: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """How well the simulator reproduces held-out listening (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        ``measure, real, simulated``: skip rate, listen-model AUC, session length (mean,
        median, 90th percentile), skips per session, and the total-variation distance of the
        genre mix of full listens (simulated under the estimated logging policy).
    """
    from sklearn.metrics import roc_auc_score

    test = sim.data.test
    p = sim.listen_probability(test)
    y = test["reward"].to_numpy()
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    real_sessions = test.groupby("session").agg(
        tracks=("item", "size"), skips=("reward", lambda r: float((1 - r).sum()))
    )
    users = [u for u in sim.users if u in set(test["user_id"])]
    runs = sim.run(
        BehaviourSimPolicy(behaviour), sessions=sessions_per_user, users=users, seed=seed
    )
    full = test[test["reward"] > 0]
    real_mix = np.bincount(
        sim.data.item_genre[full["item"].to_numpy()], minlength=len(sim.data.genres)
    )
    real_mix = real_mix / max(real_mix.sum(), 1)
    sim_mix = _sim_genre_mix(sim, behaviour, users, sessions_per_user, seed)
    rows = [
        ("skip rate (test rounds, logged tracks)", 1 - float(y.mean()), 1 - float(p.mean())),
        ("listen model AUC on test rounds", float("nan"), auc),
        (
            "skip rate (sessions under the logging policy)",
            1 - float(y.mean()),
            float(runs["skips"].sum() / max(runs["tracks"].sum(), 1)),
        ),
        (
            "session length, mean",
            float(real_sessions["tracks"].mean()),
            float(runs["tracks"].mean()),
        ),
        (
            "session length, median",
            float(real_sessions["tracks"].median()),
            float(runs["tracks"].median()),
        ),
        (
            "session length, 90th percentile",
            float(real_sessions["tracks"].quantile(0.9)),
            float(runs["tracks"].quantile(0.9)),
        ),
        (
            "skips per session, mean",
            float(real_sessions["skips"].mean()),
            float(runs["skips"].mean()),
        ),
        (
            "genre mix of full listens, total variation distance",
            0.0,
            float(0.5 * np.abs(real_mix - sim_mix).sum()),
        ),
    ]
    return pd.DataFrame(rows, columns=["measure", "real", "simulated"])


def _sim_genre_mix(
    sim: Simulator, behaviour: BehaviourPolicy, users: list[str], sessions: int, seed: int
) -> np.ndarray:
    """Genre shares of the full listens of sessions simulated under the logging policy."""

    class Recorder(BehaviourSimPolicy):
        def __init__(self, b: BehaviourPolicy) -> None:
            super().__init__(b)
            self.full: list[int] = []

        def observe(self, state: SessionState, item: int, reward: float) -> None:
            if reward > 0:
                self.full.append(item)

    rec = Recorder(behaviour)
    sim.run(rec, sessions=sessions, users=users, seed=seed + 1)
    mix = np.bincount(
        sim.data.item_genre[np.asarray(rec.full, dtype=np.int64)], minlength=len(sim.data.genres)
    ).astype(float)
    return mix / max(mix.sum(), 1.0)
