"""``encore rl evaluate``: the RL policies against the CF models, three ways, one table.

On the rewarded rounds of :mod:`encore.rl.logs` (per-listener time split):

1. **Ranking** on the test side: NDCG@10 and recall@10 of new tracks (the metric code of
   ``encore evaluate``; the test side's full listens are the relevant items);
2. **Off-policy estimates** of each policy's full-listen rate on a seeded sample of test
   rounds: each policy serves a top-``k`` slate (repeats allowed: the task is "what to play
   next"), the listener is assumed to pick from it uniformly, so ``pi(a | x) = 1/k`` for the
   slate's tracks; propensities come from the estimated logging policy, the reward model
   of DM / DR / switch-DR is the simulator's listen model; intervals resample listeners;
3. **Simulated long-run reward**: sessions in the calibrated simulator, each policy playing
   one track at a time (the bandit keeps learning online), minutes and skips per session
   with intervals over listeners.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError
from encore.rl import ope
from encore.rl.logging_policy import BehaviourPolicy, Embeddings, fit_behaviour
from encore.rl.logs import RLData
from encore.rl.simulator import (
    BehaviourSimPolicy,
    ScorePolicy,
    SessionState,
    Simulator,
    heldout_fit,
)

log = logging.getLogger(__name__)

#: Policies compared by default (registry names; ``logging`` is the estimated behaviour).
DEFAULT_POLICIES: tuple[str, ...] = ("popular", "als", "bandit", "reinforce")
COMPARISON_COLUMNS: tuple[str, ...] = (
    "policy",
    "ndcg@10",
    "recall@10",
    "rank_users",
    "ope_snips",
    "ope_snips_low",
    "ope_snips_high",
    "ope_dr",
    "ope_dr_low",
    "ope_dr_high",
    "ess",
    "sim_minutes",
    "sim_minutes_low",
    "sim_minutes_high",
    "sim_skips",
    "sim_listen_rate",
    "fit_s",
)


@dataclass(frozen=True)
class Settings:
    """Sizes of one evaluation (``small()`` for tests and a quick look)."""

    min_item_plays: int = 10
    max_users: int | None = None
    max_rounds_per_user: int | None = None
    ope_rounds: int = 2000
    slate: int = 10
    n_boot: int = 200
    sessions: int = 20
    behaviour_sample: int = 3000
    reinforce_epochs: int = 20
    seed: int = 0

    @classmethod
    def small(cls) -> Settings:
        """About a minute on two shared cores."""
        return cls(
            min_item_plays=20,
            max_users=8,
            max_rounds_per_user=2500,
            ope_rounds=400,
            n_boot=100,
            sessions=5,
            behaviour_sample=800,
            reinforce_epochs=2,
        )


@dataclass
class RLResult:
    """Everything ``encore rl evaluate`` measured."""

    table: pd.DataFrame
    ope: pd.DataFrame
    sessions: pd.DataFrame
    simulator_fit: pd.DataFrame
    behaviour_fit: dict[str, float]
    data_stats: dict[str, Any]
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    logged_value: float = float("nan")


def fit_policies(
    data: RLData, names: list[str], settings: Settings, *, say: Callable[[str], None]
) -> dict[str, Any]:
    """Fit each named recommender on the train rounds (events attached, genres for the
    bandit); returns name -> model."""
    from encore.data.dataset import InteractionDataset
    from encore.recommenders.bandit import Bandit
    from encore.recommenders.registry import get_model

    dataset = InteractionDataset.from_interactions(
        data.interactions("train"), item_level="track", items=data.item_ids
    )
    from encore.recommenders.sequence import attach_events

    dataset = attach_events(dataset, data.events("train"))
    genres = pd.Series([data.genres[g] for g in data.item_genre], index=pd.Index(data.item_ids))
    models: dict[str, Any] = {}
    for name in names:
        say(f"fitting {name}")
        config: dict[str, Any] = {}
        if name == "reinforce":
            config = {"epochs": settings.reinforce_epochs, "seed": settings.seed}
        model = get_model(name, **config)
        if isinstance(model, Bandit):
            model.set_item_genres(genres)
        model.fit(dataset)
        models[name] = model
    return models


def _item_index(model: Any, data: RLData) -> np.ndarray:
    """Position in the model's items of each of ``data``'s items."""
    return np.asarray(model.item_map_.to_internal(list(data.item_ids)))


def round_slates(model: Any, data: RLData, rows: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` item indices (``data``'s) each policy serves at each test round."""
    from encore.recommenders.bandit import Bandit
    from encore.recommenders.reinforce import Reinforce

    rounds = data.rounds
    users = rounds["user_id"].to_numpy()
    items = rounds["item"].to_numpy()
    rewards = rounds["reward"].to_numpy()
    to_model = _item_index(model, data)
    out = np.zeros((len(rows), k), dtype=np.int64)
    starts = pd.Series(np.arange(len(users))).groupby(users).min()
    if isinstance(model, Bandit | Reinforce):
        for j, r in enumerate(rows):
            lo = int(starts[users[r]])
            hist_items = items[lo:r]
            hist_rewards = rewards[lo:r]
            if isinstance(model, Bandit):
                assert model.user_map_ is not None
                counts = np.zeros(model.n_items)
                np.add.at(counts, to_model[hist_items], 1.0)
                upos = model.user_map_.to_internal([users[r]], strict=False)[0]
                uvec = model.user_factors_[upos] if upos >= 0 else model._solve_user(counts)
                share = model.user_genre_[upos] if upos >= 0 else np.zeros(int(model.n_genres_))
                recent = hist_rewards[-20:]
                skip = float(((1 - recent).sum() + 0.3) / (len(recent) + 1.0))
                s = model.context_scores(
                    uvec, share, skip, float(rounds["hour"].iloc[r]), counts, draw=int(r)
                )
            else:
                length = model.history_length
                it = np.zeros((1, length), dtype=np.int64)
                kd = np.zeros((1, length), dtype=np.int64)
                m = min(length, len(hist_items))
                if m:
                    it[0, -m:] = to_model[hist_items[-m:]] + 1
                    kd[0, -m:] = np.where(hist_rewards[-m:] > 0, 1, 3)
                s = model.policy_logits(it, kd)[0]
            out[j] = np.argsort(-s[to_model], kind="stable")[:k]
        return out
    # static per user: the model's own top-k with seen tracks allowed
    uniq = pd.unique(users[rows])
    recs = model.recommend(list(uniq), k=k, exclude_seen=False)
    pos = pd.Index(data.item_ids).get_indexer(recs["item_id"].to_numpy())
    table = {u: pos[(recs["user_id"] == u).to_numpy()][:k] for u in uniq}
    for j, r in enumerate(rows):
        top = table[users[r]]
        out[j, : len(top)] = top
    return out


def off_policy(
    data: RLData,
    slates: np.ndarray,
    rows: np.ndarray,
    behaviour: BehaviourPolicy,
    propensity: np.ndarray,
    sim: Simulator,
    *,
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """Every estimator for a policy serving ``slates`` at rounds ``rows``."""
    rounds = data.rounds.iloc[rows]
    items = rounds["item"].to_numpy()
    k = slates.shape[1]
    target = (slates == items[:, None]).any(axis=1) / k
    q_logged = sim.listen_probability(rounds)
    # reward model's value of the slate: mean P(listen) over its tracks in the context
    from encore.rl.logging_policy import history_counts

    counts, _ = history_counts(data, rows)
    expanded = rounds.loc[rounds.index.repeat(k)].copy()
    expanded["item"] = slates.ravel()
    # each slate track's earlier plays by the listener, as the listen model was fitted
    expanded["familiarity"] = np.take_along_axis(counts, slates, axis=1).ravel()
    q_policy = sim.listen_probability(expanded).reshape(-1, k).mean(axis=1)
    lr = ope.LoggedRounds(
        reward=rounds["reward"].to_numpy(),
        propensity=propensity,
        target=target,
        q_logged=q_logged,
        q_policy=q_policy,
        groups=rounds["user_id"].to_numpy(),
    )
    return ope.estimate(lr, n_boot=n_boot, seed=seed)


class _BanditSim:
    """The bandit in the simulator: scores with its context each step, learns online."""

    def __init__(self, model: Any, data: RLData) -> None:
        self.name = "bandit"
        self.m = model
        self.to_model = _item_index(model, data)
        self.step_rewards: list[float] = []

    def choose(self, state: SessionState, rng: np.random.Generator) -> int:
        m = self.m
        counts = np.zeros(m.n_items)
        counts[self.to_model] = state.counts
        upos = m.user_map_.to_internal([state.user_id], strict=False)[0]
        self._ctx = (
            m.user_factors_[upos] if upos >= 0 else m._solve_user(counts),
            m.user_genre_[upos] if upos >= 0 else np.zeros(int(m.n_genres_)),
            state.recent_skip,
            state.hour,
            counts,
        )
        s = m.context_scores(*self._ctx, draw=len(self.step_rewards))[self.to_model]
        s[state.played] = -np.inf
        return int(np.argmax(s))

    def observe(self, state: SessionState, item: int, reward: float) -> None:
        phi = self.m.features(*self._ctx, items=np.array([self.to_model[item]]))[0]
        self.m.update(phi, reward)
        self.step_rewards.append(reward)


class _ReinforceSim:
    """REINFORCE in the simulator: its state reads the latest events, simulated included."""

    def __init__(self, model: Any, data: RLData) -> None:
        self.name = "reinforce"
        self.m = model
        self.to_model = _item_index(model, data)

    def choose(self, state: SessionState, rng: np.random.Generator) -> int:
        length = self.m.history_length
        hist = np.asarray(state.history_items[-length:], dtype=np.int64)
        rew = np.asarray(state.history_rewards[-length:])
        it = np.zeros((1, length), dtype=np.int64)
        kd = np.zeros((1, length), dtype=np.int64)
        if len(hist):
            it[0, -len(hist) :] = self.to_model[hist] + 1
            kd[0, -len(hist) :] = np.where(rew > 0, 1, 3)
        s = self.m.policy_logits(it, kd)[0][self.to_model].astype(np.float64)
        s[state.played] = -np.inf
        return int(np.argmax(s))

    def observe(self, state: SessionState, item: int, reward: float) -> None:
        return None


def sim_policy(name: str, model: Any, data: RLData) -> Any:
    """The simulator's wrapper of a fitted model."""
    from encore.recommenders.bandit import Bandit
    from encore.recommenders.reinforce import Reinforce

    if isinstance(model, Bandit):
        return _BanditSim(model, data)
    if isinstance(model, Reinforce):
        return _ReinforceSim(model, data)
    to_model = _item_index(model, data)

    def scores(user_id: str) -> np.ndarray:
        recs = model.recommend([user_id], k=model.n_items, exclude_seen=False)
        pos = pd.Index(data.item_ids).get_indexer(recs["item_id"].to_numpy())
        out = np.full(data.n_items, -np.inf)
        out[pos] = -recs["rank"].to_numpy(dtype=np.float64)
        return out

    del to_model
    return ScorePolicy(name, scores)


def _interval(values: pd.Series, n_boot: int, seed: int) -> tuple[float, float]:
    v = values.to_numpy(dtype=np.float64)
    if len(v) < 2 or n_boot == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    boots = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
    return float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def _simulated(
    sim: Any, policy: Any, settings: Settings, users: Any
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The simulator's sessions under ``policy`` and their columns of the comparison: minutes
    per listener (mean, bootstrap interval), skips per session, tracks listened in full."""
    sessions = sim.run(policy, sessions=settings.sessions, users=users, seed=settings.seed)
    per_user = sessions.groupby("user_id")["minutes"].mean()
    lo, hi = _interval(per_user, settings.n_boot, settings.seed)
    return sessions, {
        "sim_minutes": float(per_user.mean()),
        "sim_minutes_low": lo,
        "sim_minutes_high": hi,
        "sim_skips": float(sessions["skips"].mean()),
        "sim_listen_rate": float(sessions["full_listens"].sum() / max(sessions["tracks"].sum(), 1)),
    }


def run_rl_evaluation(
    data: RLData,
    *,
    policies: list[str] | None = None,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> RLResult:
    """Fit the behaviour policy, the simulator and every policy; measure all three ways."""
    from encore.evaluation.metrics import evaluate_recommendations

    settings = settings or Settings()
    say = progress or (lambda _m: None)
    names = list(policies or DEFAULT_POLICIES)
    if not names:
        raise ConfigError("no policy to evaluate")
    say("fitting the ALS embedding and the logging policy")
    emb = Embeddings.fit(data, seed=settings.seed)
    behaviour = fit_behaviour(data, emb, sample=settings.behaviour_sample, seed=settings.seed)
    say("fitting the simulator")
    sim = Simulator.fit(data, emb)
    sim_fit = heldout_fit(sim, behaviour, sessions_per_user=settings.sessions, seed=settings.seed)
    rng = np.random.default_rng(settings.seed)
    test_rows = np.flatnonzero(data.rounds["test"].to_numpy())
    rows = np.sort(rng.choice(test_rows, min(settings.ope_rounds, len(test_rows)), replace=False))
    b_fit = behaviour.heldout_fit(data, rows)
    propensity = behaviour.propensities(data, rows)
    models = fit_policies(data, names, settings, say=say)
    test_inter = data.interactions("test")
    train_inter = data.interactions("train")
    table_rows = []
    ope_frames = []
    session_frames = []
    curves: dict[str, pd.DataFrame] = {}
    sim_users = sim.users
    for name, model in models.items():
        say(f"evaluating {name}")
        start = time.perf_counter()
        users = sorted(set(test_inter["user_id"]) & set(train_inter["user_id"]))
        recs = model.recommend(users, k=10)
        metrics = evaluate_recommendations(
            recs, test_inter, train=train_inter, ks=[10], catalogue_size=data.n_items
        )
        slates = round_slates(model, data, rows, settings.slate)
        est = off_policy(
            data,
            slates,
            rows,
            behaviour,
            propensity,
            sim,
            n_boot=settings.n_boot,
            seed=settings.seed,
        )
        ope_frames.append(est.assign(policy=name))
        sessions, simulated = _simulated(sim, sim_policy(name, model, data), settings, sim_users)
        session_frames.append(sessions)
        snips = est.set_index("estimator").loc["snips"]
        dr = est.set_index("estimator").loc["dr"]
        table_rows.append(
            {
                "policy": name,
                "ndcg@10": metrics.summary.get("ndcg@10", float("nan")),
                "recall@10": metrics.summary.get("recall@10", float("nan")),
                "rank_users": metrics.n_users,
                "ope_snips": snips["value"],
                "ope_snips_low": snips["low"],
                "ope_snips_high": snips["high"],
                "ope_dr": dr["value"],
                "ope_dr_low": dr["low"],
                "ope_dr_high": dr["high"],
                "ess": snips["ess"],
                **simulated,
                "fit_s": float(model.fit_time_s or float("nan")),
            }
        )
        if hasattr(model, "training_curve"):
            curves[name] = model.training_curve()
        log.info("%s done in %.1fs", name, time.perf_counter() - start)
    say("simulating the logging policy")
    logged, simulated = _simulated(sim, BehaviourSimPolicy(behaviour), settings, sim_users)
    session_frames.append(logged)
    logged_value = float(data.rounds["reward"].to_numpy()[rows].mean())
    table_rows.append(
        {
            "policy": "logging policy",
            "ope_snips": logged_value,
            "ope_dr": logged_value,
            "ess": float(len(rows)),
            **simulated,
        }
    )
    return RLResult(
        table=pd.DataFrame(table_rows).reindex(columns=list(COMPARISON_COLUMNS)),
        ope=pd.concat(ope_frames, ignore_index=True),
        sessions=pd.concat(session_frames, ignore_index=True),
        simulator_fit=sim_fit,
        behaviour_fit=b_fit,
        data_stats=data.stats,
        curves=curves,
        logged_value=logged_value,
    )


def write_curve(name: str, curve: pd.DataFrame, out: Path) -> list[Path]:
    """One model's per-epoch learning curve as PNG and HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    out.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    hfig = go.Figure()
    for col in curve.columns:
        if col in ("epoch", "seconds"):
            continue
        ax = left if col == "train_loss" else right
        ax.plot(curve["epoch"], curve[col], marker="o", label=col)
        hfig.add_scatter(x=curve["epoch"], y=curve[col], mode="lines+markers", name=col)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.legend()
    left.set_title("training loss")
    right.set_title("held-out NLL per step, mean importance weight")
    fig.suptitle(f"{name}: learning curve")
    fig.tight_layout()
    png = out / f"rl_curve_{name}.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    hfig.update_layout(title=f"{name}: learning curve", xaxis_title="epoch")
    html = out / f"rl_curve_{name}.html"
    hfig.write_html(html, include_plotlyjs=True)
    return [png, html]


def write_charts(result: RLResult, out: Path) -> list[Path]:
    """Reward over simulated sessions and learning curves, each as PNG and HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    per = result.sessions.groupby(["policy", "session"])["minutes"].mean().reset_index()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    hfig = go.Figure()
    for name, part in per.groupby("policy"):
        ax.plot(part["session"] + 1, part["minutes"], marker="o", label=str(name))
        hfig.add_scatter(
            x=part["session"] + 1, y=part["minutes"], mode="lines+markers", name=str(name)
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("simulated session (per listener)")
    ax.set_ylabel("listening minutes per session")
    ax.set_title("Reward over simulated sessions (mean over listeners)")
    ax.legend()
    fig.tight_layout()
    png = out / "rl_sessions.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    hfig.update_layout(
        title="Reward over simulated sessions", xaxis_title="session", yaxis_title="minutes"
    )
    html = out / "rl_sessions.html"
    hfig.write_html(html, include_plotlyjs=True)
    paths += [png, html]
    for name, curve in result.curves.items():
        paths += write_curve(name, curve, out)
    return paths
