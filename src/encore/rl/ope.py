"""Off-policy estimators with bootstrap intervals, and their check on synthetic logs.

Each logged round ``i`` holds the context's action ``a_i`` chosen by the logging
(behaviour) policy ``mu`` with propensity ``mu_i = mu(a_i | x_i)`` and its reward ``r_i``.
For a target policy ``pi`` let ``w_i = pi(a_i | x_i) / mu_i`` (the importance weight),
``q_i`` a reward model's prediction for the logged action and ``v_i = sum_a pi(a | x_i)
q(x_i, a)`` the reward model's value of ``pi`` in the context. Then

- **IPS** ``mean(w r)`` (unbiased when ``mu`` is right and covers ``pi``; high variance),
- **SNIPS** ``sum(w r) / sum(w)`` (self-normalised: slightly biased, far less variance),
- **DM** ``mean(v)`` (the reward model alone: biased as the model is),
- **DR** ``mean(v + w (r - q))`` (Dudik et al. 2011: unbiased if either ``mu`` or the
  reward model is right),
- **switch-DR** ``mean(v + 1[w <= tau] w (r - q))`` (Wang et al. 2017: DR where the weight is
  at most ``tau``, the reward model beyond).

Intervals are percentile bootstraps over rounds, or over groups of rounds (``groups``:
e.g. users, whose rounds are not independent). The effective sample size of the weights is
``(sum w)^2 / sum(w^2)``: how many rounds of on-policy data the estimate is worth.

:func:`synthetic_check` runs every estimator on many seeded synthetic logs whose true policy
value is known exactly and reports each one's bias, standard deviation, RMSE and interval
coverage: the estimators are trusted on real logs only as far as they pass there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

#: Estimators in report order.
ESTIMATORS: tuple[str, ...] = ("ips", "snips", "dm", "dr", "switch_dr")
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "estimator",
    "value",
    "low",
    "high",
    "ess",
    "n_rounds",
    "max_weight",
)


@dataclass(frozen=True)
class LoggedRounds:
    """What the estimators need from logged rounds, for one target policy.

    Attributes
    ----------
    reward:
        ``r_i``.
    propensity:
        ``mu(a_i | x_i)`` of the logging policy (estimated when the logs have none).
    target:
        ``pi(a_i | x_i)`` of the target policy.
    q_logged:
        The reward model's prediction for the logged action (DM, DR, switch-DR); None:
        only IPS and SNIPS can be computed.
    q_policy:
        ``sum_a pi(a | x_i) q(x_i, a)``; None as ``q_logged``.
    groups:
        Optional group of each round (user): the bootstrap resamples whole groups.
    """

    reward: np.ndarray
    propensity: np.ndarray
    target: np.ndarray
    q_logged: np.ndarray | None = None
    q_policy: np.ndarray | None = None
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.reward)
        for name in ("propensity", "target", "q_logged", "q_policy", "groups"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DataError(f"{name} has {len(value)} rounds, reward has {n}", field=name)
        if n == 0:
            raise DataError("no logged rounds to estimate from")
        p = np.asarray(self.propensity, dtype=np.float64)
        if not np.isfinite(p).all() or (p <= 0).any() or (p > 1).any():
            raise DataError(
                "propensities must be in (0, 1]",
                field="propensity",
                hint="a zero propensity "
                "means the logging policy could not have chosen the logged action",
            )
        t = np.asarray(self.target, dtype=np.float64)
        if not np.isfinite(t).all() or (t < 0).any() or (t > 1 + 1e-9).any():
            raise DataError("target probabilities must be in [0, 1]", field="target")

    @property
    def weights(self) -> np.ndarray:
        """Importance weights ``pi / mu``."""
        return np.asarray(self.target, np.float64) / np.asarray(self.propensity, np.float64)


def effective_sample_size(weights: np.ndarray) -> float:
    """``(sum w)^2 / sum(w^2)`` (0 when every weight is 0)."""
    w = np.asarray(weights, dtype=np.float64)
    denom = float((w * w).sum())
    return float(w.sum() ** 2 / denom) if denom > 0 else 0.0


def _point(
    name: str,
    r: np.ndarray,
    w: np.ndarray,
    q: np.ndarray | None,
    v: np.ndarray | None,
    tau: float,
) -> float:
    if name == "ips":
        return float(np.mean(w * r))
    if name == "snips":
        s = float(w.sum())
        return float((w * r).sum() / s) if s > 0 else float("nan")
    if q is None or v is None:
        return float("nan")
    if name == "dm":
        return float(np.mean(v))
    if name == "dr":
        return float(np.mean(v + w * (r - q)))
    if name == "switch_dr":
        return float(np.mean(v + np.where(w <= tau, w, 0.0) * (r - q)))
    raise ConfigError(f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")


def estimate(
    rounds: LoggedRounds,
    estimators: Sequence[str] = ESTIMATORS,
    *,
    n_boot: int = 200,
    confidence: float = 0.95,
    tau: float = 10.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Every estimator's value with a bootstrap interval, the ESS and the largest weight.

    Parameters
    ----------
    rounds:
        Logged rounds with the target policy's probabilities.
    estimators:
        Names from :data:`ESTIMATORS` (DM, DR and switch-DR need the reward model).
    n_boot:
        Bootstrap resamples (0: no interval).
    tau:
        Switch-DR's weight threshold.

    Returns
    -------
    pandas.DataFrame
        :data:`ESTIMATE_COLUMNS`, one row per estimator.

    Raises
    ------
    ConfigError
        An unknown estimator or a bad ``n_boot`` / ``confidence``.
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ConfigError(
            f"unknown estimator {unknown[0]!r}", hint=f"choose from {', '.join(ESTIMATORS)}"
        )
    if n_boot < 0 or not 0 < confidence < 1:
        raise ConfigError("n_boot must be >= 0 and confidence in (0, 1)")
    r = np.asarray(rounds.reward, dtype=np.float64)
    w = rounds.weights
    q = None if rounds.q_logged is None else np.asarray(rounds.q_logged, dtype=np.float64)
    v = None if rounds.q_policy is None else np.asarray(rounds.q_policy, dtype=np.float64)
    n = len(r)
    rng = np.random.default_rng(seed)
    if rounds.groups is not None:
        codes, uniq = pd.factorize(pd.Series(rounds.groups))
        members = [np.flatnonzero(codes == g) for g in range(len(uniq))]
    else:
        members = []
    samples: list[np.ndarray] = []
    for _ in range(n_boot):
        if members:
            pick = rng.integers(0, len(members), len(members))
            samples.append(np.concatenate([members[g] for g in pick]))
        else:
            samples.append(rng.integers(0, n, n))
    alpha = (1.0 - confidence) / 2.0
    rows = []
    for name in estimators:
        value = _point(name, r, w, q, v, tau)
        low = high = float("nan")
        if samples and np.isfinite(value):
            boots = np.array(
                [
                    _point(
                        name,
                        r[s],
                        w[s],
                        None if q is None else q[s],
                        None if v is None else v[s],
                        tau,
                    )
                    for s in samples
                ]
            )
            boots = boots[np.isfinite(boots)]
            if len(boots):
                low, high = (float(x) for x in np.quantile(boots, [alpha, 1.0 - alpha]))
        rows.append(
            {
                "estimator": name,
                "value": value,
                "low": low,
                "high": high,
                "ess": effective_sample_size(w),
                "n_rounds": n,
                "max_weight": float(w.max()),
            }
        )
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


# --------------------------------------------------------------------------- synthetic logs
@dataclass(frozen=True)
class SyntheticBandit:
    """A seeded contextual bandit whose policy values are known exactly.

    Contexts ``x ~ N(0, I_d)``; the expected reward of action ``a`` is
    ``sigmoid(theta_a . x + b_a)`` and rewards are Bernoulli. The logging policy is a
    softmax of ``logging_beta`` times a *noisy* copy of the true scores (it knows part of
    what works, as a real service does); the target policy is a softmax of ``target_beta``
    times the true logits, mixed with ``target_eps`` uniform exploration, so that it is
    better than the logging policy and not fully covered by its mass.
    """

    n_actions: int = 20
    dim: int = 5
    logging_beta: float = 1.0
    target_beta: float = 1.5
    target_eps: float = 0.1
    logging_noise: float = 1.0
    seed: int = 0

    def _params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        theta = rng.normal(0.0, 1.0, (self.n_actions, self.dim))
        bias = rng.normal(-0.5, 0.5, self.n_actions)
        noise = rng.normal(0.0, self.logging_noise, (self.n_actions, self.dim))
        return theta, bias, noise

    def expected_reward(self, x: np.ndarray) -> np.ndarray:
        """``[n, n_actions]`` true expected rewards."""
        theta, bias, _ = self._params()
        return 1.0 / (1.0 + np.exp(-(x @ theta.T + bias)))

    def logging_policy(self, x: np.ndarray) -> np.ndarray:
        """``[n, n_actions]`` action probabilities of the logging policy."""
        theta, bias, noise = self._params()
        return _softmax(self.logging_beta * (x @ (theta + noise).T + bias))

    def target_policy(self, x: np.ndarray) -> np.ndarray:
        """``[n, n_actions]`` action probabilities of the target policy."""
        theta, bias, _ = self._params()
        soft = _softmax(self.target_beta * (x @ theta.T + bias))
        return (1.0 - self.target_eps) * soft + self.target_eps / self.n_actions

    def true_value(self, n: int = 200_000, seed: int = 12_345) -> float:
        """The target policy's value, ``E_x sum_a pi(a|x) q(x, a)`` (Monte Carlo over
        ``n`` contexts of expectations, so its error is tiny: about 1e-4 at the default)."""
        x = np.random.default_rng(seed).normal(size=(n, self.dim))
        return float((self.target_policy(x) * self.expected_reward(x)).sum(axis=1).mean())

    def logging_value(self, n: int = 200_000, seed: int = 12_345) -> float:
        """The logging policy's value (what the logs' mean reward estimates)."""
        x = np.random.default_rng(seed).normal(size=(n, self.dim))
        return float((self.logging_policy(x) * self.expected_reward(x)).sum(axis=1).mean())

    def sample(self, n: int, seed: int) -> tuple[LoggedRounds, np.ndarray]:
        """``n`` logged rounds for the target policy, with a reward model fitted on them
        (a ridge regression per action on the context: linear, so misspecified against the
        logistic truth, as real reward models are). Also returns the contexts."""
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, self.dim))
        mu = self.logging_policy(x)
        cum = mu.cumsum(axis=1)
        a = np.minimum((cum < rng.random(n)[:, None]).sum(axis=1), self.n_actions - 1)
        q_true = self.expected_reward(x)
        r = (rng.random(n) < q_true[np.arange(n), a]).astype(np.float64)
        q_hat = _ridge_per_action(x, a, r, self.n_actions)
        pi = self.target_policy(x)
        idx = np.arange(n)
        rounds = LoggedRounds(
            reward=r,
            propensity=mu[idx, a],
            target=pi[idx, a],
            q_logged=q_hat[idx, a],
            q_policy=(pi * q_hat).sum(axis=1),
        )
        return rounds, x


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _ridge_per_action(
    x: np.ndarray, a: np.ndarray, r: np.ndarray, n_actions: int, l2: float = 1.0
) -> np.ndarray:
    """Predicted reward ``[n, n_actions]`` of one ridge regression per action."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    out = np.empty((n, n_actions))
    prior = float(r.mean()) if len(r) else 0.0
    for k in range(n_actions):
        m = a == k
        xa = xb[m]
        coef = np.linalg.solve(xa.T @ xa + l2 * np.eye(d + 1), xa.T @ (r[m] - prior))
        out[:, k] = prior + xb @ coef
    return np.clip(out, 0.0, 1.0)


CHECK_COLUMNS: tuple[str, ...] = (
    "estimator",
    "n_rounds",
    "true_value",
    "mean_estimate",
    "bias",
    "std",
    "rmse",
    "coverage",
    "mean_ess",
)


def synthetic_check(
    bandit: SyntheticBandit | None = None,
    *,
    n_rounds: Sequence[int] = (500, 2000),
    repeats: int = 50,
    n_boot: int = 100,
    tau: float = 10.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, float]:
    """Each estimator's bias, spread, RMSE and 95 % interval coverage on synthetic logs.

    ``repeats`` independent logs of each size are drawn (seeded), every estimator is run on
    each, and its estimates are compared with the exactly known target value.

    Returns
    -------
    (pandas.DataFrame, float)
        :data:`CHECK_COLUMNS` per estimator and log size, and the true value.
    """
    if repeats < 2:
        raise ConfigError("the synthetic check needs at least 2 repeats")
    bandit = bandit or SyntheticBandit(seed=seed)
    truth = bandit.true_value()
    rows = []
    total = len(n_rounds) * repeats
    done = 0
    for n in n_rounds:
        est: dict[str, list[tuple[float, float, float]]] = {e: [] for e in ESTIMATORS}
        ess: list[float] = []
        for rep in range(repeats):
            rounds, _ = bandit.sample(int(n), seed=seed * 100_003 + rep + 7 * int(n))
            table = estimate(rounds, n_boot=n_boot, tau=tau, seed=rep)
            values = table[["value", "low", "high"]].to_numpy(dtype=np.float64)
            for name, (v, lo, hi) in zip(table["estimator"], values, strict=True):
                est[str(name)].append((float(v), float(lo), float(hi)))
            ess.append(float(table["ess"].iloc[0]))
            done += 1
            if progress is not None:
                progress(done, total)
        for name in ESTIMATORS:
            vals = np.array(est[name])
            bias = float(vals[:, 0].mean() - truth)
            std = float(vals[:, 0].std(ddof=1))
            cover = (
                float(np.mean((vals[:, 1] <= truth) & (truth <= vals[:, 2])))
                if n_boot
                else float("nan")
            )
            rows.append(
                {
                    "estimator": name,
                    "n_rounds": int(n),
                    "true_value": truth,
                    "mean_estimate": float(vals[:, 0].mean()),
                    "bias": bias,
                    "std": std,
                    "rmse": float(np.sqrt(bias**2 + std**2)),
                    "coverage": cover,
                    "mean_ess": float(np.mean(ess)),
                }
            )
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS)), truth
