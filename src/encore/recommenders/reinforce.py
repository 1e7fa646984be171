"""A sequential listening policy: REINFORCE with the top-K off-policy correction.

Chen et al. (2019), "Top-K Off-Policy Correction for a REINFORCE Recommender System". The
state is a GRU over the listener's latest events (track + kind: play, cut short, skip,
like); the policy ``pi(a | s)`` is a softmax over every track (full catalogue, tied item
embeddings). The logged histories were chosen by another policy, so each logged step
weighs its policy-gradient term by

    min(pi(a|s) / beta(a|s), cap)  *  K (1 - pi(a|s))^(K - 1)  *  (G_t - b)

where ``beta`` is the behaviour policy learned by a second softmax head on the same state
(gradients stopped, as in the paper), ``K (1 - pi)^(K-1)`` the top-K correction (a slate
of K tracks is served, not one), ``G_t`` the discounted return of the rest of the session
(reward 1 for a full listen or like, 0 for a skip or cut-short play; sessions break after
30 minutes of silence) and ``b`` its mean when ``baseline`` is on (off by default: with
the rewards non-negative, as in the paper, every logged step is pulled up by how much it
paid; with the baseline, below-average steps are pushed down, which on the listening
histories sent the policy's mass to tracks nobody chose: NDCG@10 0.007, simulated listen
rate 0.02, docs/reinforcement-learning.md). The last ``val_share`` of events
by time are held out; the curve of the held-out behaviour log-likelihood, the mean
importance weight and the loss is kept with the model (``curve_``).

PyTorch is imported lazily; training is seeded and deterministic on CPU.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.errors import DataError
from encore.recommenders.base import RecommenderConfig
from encore.recommenders.sequence import (
    KIND_CODE,
    KINDS,
    SEQUENCE_ATTRS,
    Encoded,
    SequenceRecommender,
)

log = logging.getLogger(__name__)

CURVE_COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "mean_weight",
    "val_behaviour_nll",
    "val_policy_nll",
    "seconds",
)
_NEGATIVE = (KIND_CODE["skip"], KIND_CODE["partial"])
SESSION_GAP_S = 30 * 60.0


class ReinforceConfig(RecommenderConfig):
    """Config of :class:`Reinforce` (module docstring)."""

    max_len: int = Field(default=20, ge=2, le=512)
    dim: int = Field(default=32, ge=4)
    top_k: int = Field(default=10, ge=1)
    gamma: float = Field(default=0.9, ge=0, le=1)
    weight_cap: float = Field(default=10.0, gt=0)
    baseline: bool = False
    epochs: int = Field(default=20, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-2, gt=0)
    val_share: float = Field(default=0.1, ge=0, lt=1)
    max_windows: int | None = Field(default=None, ge=1)
    seed: int = 0
    threads: int = Field(default=1, ge=1)


def build_module(cfg: ReinforceConfig, n_items: int) -> Any:
    """Torch module: embeddings, GRU state, policy and behaviour heads."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
            self.kinds = nn.Embedding(len(KINDS) + 1, cfg.dim, padding_idx=0)
            self.gru = nn.GRU(cfg.dim, cfg.dim, batch_first=True)
            self.beta = nn.Linear(cfg.dim, n_items)
            self.bias = nn.Parameter(torch.zeros(n_items))

        def forward(self, items: Any, kinds: Any) -> Any:
            h, _ = self.gru(self.items(items) + self.kinds(kinds))
            return h

        def policy(self, h: Any) -> Any:
            return h @ self.items.weight[1:].T + self.bias

        def behaviour(self, h: Any) -> Any:
            return self.beta(h.detach())

    return Net()


def session_returns(enc: Encoded, gamma: float) -> np.ndarray:
    """Discounted return of the rest of its session from each event (reward 1 for a
    full listen or like, 0 for a skip or cut-short play)."""
    reward = (~np.isin(enc.kinds, _NEGATIVE)).astype(np.float64)
    user_of = np.repeat(np.arange(len(enc.users)), np.diff(enc.starts))
    gap = np.r_[np.inf, np.diff(enc.secs)]
    new = np.r_[True, user_of[1:] != user_of[:-1]] | ~(gap <= SESSION_GAP_S)
    out = np.zeros(len(reward))
    acc = 0.0
    for i in range(len(reward) - 1, -1, -1):
        end_here = i == len(reward) - 1 or new[i + 1]
        acc = reward[i] + (0.0 if end_here else gamma * acc)
        out[i] = acc
    return out


class Reinforce(SequenceRecommender):
    """Top-K off-policy-corrected REINFORCE over listening sessions (module docstring)."""

    name: ClassVar[str] = "reinforce"
    config_class = ReinforceConfig
    config: ReinforceConfig
    state_attrs: ClassVar[tuple[str, ...]] = (*SEQUENCE_ATTRS, "weights_", "curve_")
    item_limit: ClassVar[int | None] = 20_000
    search_space: ClassVar[dict[str, list[Any]]] = {
        "top_k": [1, 10],
        "gamma": [0.0, 0.9],
        "baseline": [False, True],
    }

    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        import time

        import torch

        from encore.nn.trainer import TrainConfig, seed_everything, train
        from encore.nn.weights import flat_weights

        cfg = self.config
        seed_everything(cfg.seed)
        n_items = dataset.n_items
        length = cfg.max_len
        ret = session_returns(enc, cfg.gamma)
        baseline = float(ret.mean()) if cfg.baseline else 0.0
        val = np.zeros(len(ret), dtype=bool)
        if cfg.val_share > 0 and np.isfinite(enc.secs).any():
            cut = float(np.nanquantile(enc.secs, 1.0 - cfg.val_share))
            val = np.isfinite(enc.secs) & (enc.secs >= cut)
        windows = []
        for u in range(len(enc.users)):
            lo, hi = int(enc.starts[u]), int(enc.starts[u + 1])
            end = hi
            while end - lo >= 2:
                start = max(lo, end - length - 1)
                windows.append((start, end))
                end = start + 1
        if not windows:
            raise DataError(f"{self.name}: every user has fewer than two events")
        win = np.asarray(windows, dtype=np.int64)
        rng = np.random.default_rng(cfg.seed)
        if cfg.max_windows is not None and len(win) > cfg.max_windows:
            win = win[np.sort(rng.choice(len(win), cfg.max_windows, replace=False))]

        def tensors(rows: np.ndarray) -> tuple[Any, ...]:
            n = len(rows)
            it = np.zeros((n, length), dtype=np.int64)
            kd = np.zeros_like(it)
            tg = np.zeros_like(it)
            adv = np.zeros((n, length), dtype=np.float32)
            tr = np.zeros((n, length), dtype=bool)
            va = np.zeros((n, length), dtype=bool)
            for r, (s, e) in enumerate(win[rows]):
                m = e - s - 1
                it[r, -m:] = enc.items[s : e - 1]
                kd[r, -m:] = enc.kinds[s : e - 1]
                tg[r, -m:] = enc.items[s + 1 : e]
                adv[r, -m:] = ret[s + 1 : e] - baseline
                tr[r, -m:] = ~val[s + 1 : e]
                va[r, -m:] = val[s + 1 : e]
            return tuple(torch.from_numpy(a) for a in (it, kd, tg, adv, tr, va))

        trainable = np.r_[0, np.cumsum(~val)]  # targets of window (s, e): events s+1..e-1
        if not (trainable[win[:, 1]] - trainable[win[:, 0] + 1]).any():
            raise DataError(
                f"{self.name}: every event falls in the held-out last {cfg.val_share:.0%} "
                "by time, nothing is left to train on",
                hint="lower val_share (0 trains on every event)",
            )

        def train_batches(_: np.random.Generator) -> Any:
            # the shuffle continues the generator that drew max_windows (fits as before)
            order = rng.permutation(len(win))
            for lo in range(0, len(order), cfg.batch_size):
                batch = tensors(order[lo : lo + cfg.batch_size])
                if batch[4].any():  # windows whose every target is held out train nothing
                    yield batch

        def loss_fn(net: Any, batch: tuple[Any, ...]) -> tuple[Any, dict[str, float]]:
            it, kd, tg, adv, tr, _ = batch
            h = net(it, kd)[tr]
            target = tg[tr] - 1
            logp = torch.log_softmax(net.policy(h), dim=-1).gather(1, target[:, None])[:, 0]
            logb = torch.log_softmax(net.behaviour(h), dim=-1).gather(1, target[:, None])[:, 0]
            with torch.no_grad():
                p = logp.exp()
                w = torch.clamp(torch.exp(logp - logb), max=cfg.weight_cap)
                lam = cfg.top_k * (1.0 - p) ** (cfg.top_k - 1)
            loss = -(w * lam * adv[tr] * logp).mean() - logb.mean()
            return loss, {"weight": float(w.mean())}

        net = build_module(cfg, n_items)
        curve = []
        progress = task = None
        if self.show_progress:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            task = progress.add_task(f"{self.name}: epoch 0/{cfg.epochs}", total=cfg.epochs)
        t0 = time.perf_counter()

        def on_epoch(trained: dict[str, float]) -> None:
            vb, vp = self._validate(net, win, tensors)
            row = {
                "epoch": int(trained["epoch"]),
                "train_loss": trained["train_loss"],
                "mean_weight": trained["train_weight"],
                "val_behaviour_nll": vb,
                "val_policy_nll": vp,
                "seconds": time.perf_counter() - t0,
            }
            curve.append([row[c] for c in CURVE_COLUMNS])
            log.info("%s %s", self.name, row)
            if progress is not None and task is not None:
                progress.update(
                    task,
                    advance=1,
                    description=f"{self.name}: epoch {row['epoch']} loss {row['train_loss']:.3f}",
                )

        try:
            # every epoch runs and the last weights are kept: a policy-gradient loss says
            # nothing about the policy's quality, so there is no best epoch to go back to
            train(
                net,
                loss_fn,
                train_batches,
                config=TrainConfig(
                    epochs=cfg.epochs,
                    lr=cfg.lr,
                    seed=cfg.seed,
                    threads=cfg.threads,
                    grad_clip=None,
                    keep_last=True,
                ),
                on_epoch=on_epoch,
            )
        finally:
            if progress is not None:
                progress.stop()
        self.curve_ = np.asarray(curve, dtype=np.float64)
        self._net = net.eval()
        self.weights_ = flat_weights(net)

    @staticmethod
    def _validate(net: Any, win: np.ndarray, tensors: Any) -> tuple[float, float]:
        import torch

        net.eval()
        tot_b = tot_p = 0.0
        n = 0
        with torch.no_grad():
            for lo in range(0, len(win), 256):
                it, kd, tg, _, _, va = tensors(np.arange(lo, min(lo + 256, len(win))))
                if not va.any():
                    continue
                h = net(it, kd)[va]
                target = tg[va] - 1
                tot_p -= float(
                    torch.log_softmax(net.policy(h), -1).gather(1, target[:, None]).sum()
                )
                tot_b -= float(
                    torch.log_softmax(net.behaviour(h), -1).gather(1, target[:, None]).sum()
                )
                n += int(va.sum())
        return (tot_b / n, tot_p / n) if n else (float("nan"), float("nan"))

    def _after_load(self) -> None:
        from encore.nn.weights import load_flat_weights

        self._net = load_flat_weights(
            build_module(self.config, self.n_items), self.weights_, self.name
        )

    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        return self.policy_logits(items, kinds)

    def policy_logits(
        self, items: np.ndarray, kinds: np.ndarray, behaviour: bool = False
    ) -> np.ndarray:
        """``[n, n_items]`` logits of the policy (or the learned behaviour head) after each
        padded window of events (item codes 1-based)."""
        import torch

        net = self._net
        out = np.empty((len(items), self.n_items), dtype=np.float32)
        with torch.no_grad():
            for lo in range(0, len(items), 256):
                it = torch.from_numpy(np.asarray(items[lo : lo + 256], dtype=np.int64))
                kd = torch.from_numpy(np.asarray(kinds[lo : lo + 256], dtype=np.int64))
                h = net(it, kd)[:, -1]
                head = net.behaviour(h) if behaviour else net.policy(h)
                out[lo : lo + 256] = head.numpy()
        return out

    def training_curve(self) -> pd.DataFrame:
        """Per-epoch curve (:data:`CURVE_COLUMNS`)."""
        self._check_fitted()
        return pd.DataFrame(np.asarray(self.curve_), columns=list(CURVE_COLUMNS))
