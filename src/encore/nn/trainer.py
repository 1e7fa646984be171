"""A small, seeded PyTorch training loop with early stopping and a recorded loss curve.

The genre VAE trains with :func:`train`, and any later torch model can: it only needs a
``loss_fn(model, batch) -> loss`` (or ``(loss, metrics)``) and callables that yield
batches. Written here instead of using a framework (Lightning,
Ignite) because those would be a heavy dependency for a loop of a few dozen lines, and
Encore needs exactly this: CPU, a fixed seed, early stopping, the best weights restored,
and a history saved as CSV and chart.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError

log = logging.getLogger(__name__)

LossOut = Any  # torch.Tensor or (torch.Tensor, dict[str, float])


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`train`.

    Parameters
    ----------
    epochs:
        Maximum number of passes over the training batches.
    lr, weight_decay:
        Adam's learning rate and weight decay.
    patience:
        Stop after this many epochs without improving the monitored loss by ``min_delta``.
    seed:
        Seeds Python, NumPy and torch; the batch generator gets its own NumPy RNG from it.
    max_seconds:
        Stop after this wall-clock time (None: no limit).
    threads:
        torch intra-op threads during training (None: leave torch's setting); the previous
        setting is restored afterwards.
    grad_clip:
        Clip gradient norm to this value (None: no clipping).
    monitor:
        Early-stop on this validation metric (a key of the metrics ``loss_fn`` returns)
        instead of the validation loss, e.g. the classification term of a joint loss.
    one_cycle_steps:
        Total optimizer steps of a OneCycle learning-rate schedule peaking at ``lr``
        (``epochs`` x batches per epoch); None keeps ``lr`` constant.
    keep_last:
        Train every epoch and keep the last epoch's weights: no early stopping and no
        restoring of the best ones (``patience`` and ``monitor`` then only choose the
        ``best_epoch`` the history reports). For objectives whose loss is no measure of
        quality, such as a policy gradient (``recommenders/reinforce.py``).
    """

    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    min_delta: float = 1e-4
    seed: int = 0
    max_seconds: float | None = None
    threads: int | None = None
    grad_clip: float | None = 5.0
    monitor: str | None = None
    one_cycle_steps: int | None = None
    keep_last: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.patience < 1:
            raise ConfigError("epochs and patience must be >= 1 and lr > 0")


@dataclass
class History:
    """What happened during training: one row per epoch."""

    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_loss: float = math.inf
    stopped_early: bool = False
    seconds: float = 0.0

    def frame(self) -> pd.DataFrame:
        """Columns ``epoch, train_loss, val_loss`` (when validated) and any extra metrics."""
        return pd.DataFrame(self.rows)

    def save_csv(self, path: Path) -> Path:
        """Write the curve as CSV."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(path, index=False)
        return path

    def plot(self, path: Path, title: str = "Training curve") -> Path:
        """PNG of train (and validation) loss per epoch, best epoch marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        df = self.frame()
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(df["epoch"], df["train_loss"], label="train loss", marker=".")
        if "val_loss" in df:
            ax.plot(df["epoch"], df["val_loss"], label="validation loss", marker=".")
        ax.axvline(
            self.best_epoch, color="grey", linestyle="--", label=f"best epoch {self.best_epoch}"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (mean per item)")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU) and ask torch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _split(out: LossOut) -> tuple[Any, dict[str, float]]:
    if isinstance(out, tuple):
        return out[0], dict(out[1])
    return out, {}


def train(
    model: Any,
    loss_fn: Callable[[Any, Any], LossOut],
    train_batches: Callable[[np.random.Generator], Iterable[Any]],
    val_batches: Callable[[], Iterable[Any]] | None = None,
    config: TrainConfig | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> History:
    """Train ``model`` (a ``torch.nn.Module``) with Adam; restore the best weights.

    Parameters
    ----------
    model:
        The module; trained in place.
    loss_fn:
        ``loss_fn(model, batch)`` returns the mean loss of the batch (a scalar tensor), or
        ``(loss, {"metric": value})``; metrics are averaged per epoch into the history.
    train_batches:
        Called once per epoch with a seeded NumPy generator; yields batches.
    val_batches:
        Yields validation batches; early stopping monitors their mean loss, or the metric
        ``config.monitor`` (without validation batches: the training loss).
    config:
        Training options.
    on_epoch:
        Called with each epoch's row (e.g. to update a progress bar).

    Returns
    -------
    History
        The loss curve and the best epoch.
    """
    import torch

    cfg = config or TrainConfig()
    seed_everything(cfg.seed)
    before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(model, loss_fn, train_batches, val_batches, cfg, on_epoch)
    finally:
        torch.set_num_threads(before)


def _train(
    model: Any,
    loss_fn: Callable[[Any, Any], LossOut],
    train_batches: Callable[[np.random.Generator], Iterable[Any]],
    val_batches: Callable[[], Iterable[Any]] | None,
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> History:
    import torch

    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.one_cycle_steps)
        if cfg.one_cycle_steps
        else None
    )
    steps = 0
    hist = History()
    best_state = None if cfg.keep_last else copy.deepcopy(model.state_dict())
    bad = 0
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        tot, n = 0.0, 0
        extra: dict[str, float] = {}
        for batch in train_batches(rng):
            opt.zero_grad()
            loss, metrics = _split(loss_fn(model, batch))
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            steps += 1
            if sched is not None and steps < (cfg.one_cycle_steps or 0):
                sched.step()
            tot += float(loss.detach())
            n += 1
            for k, v in metrics.items():
                extra[k] = extra.get(k, 0.0) + float(v)
        if n == 0:
            raise ConfigError("train_batches yielded no batch")
        row: dict[str, float] = {"epoch": float(epoch), "train_loss": tot / n}
        row.update({f"train_{k}": v / n for k, v in extra.items()})
        monitored = row["train_loss"]
        if val_batches is not None:
            model.eval()
            vt, vn = 0.0, 0
            vextra: dict[str, float] = {}
            with torch.no_grad():
                for batch in val_batches():
                    loss, metrics = _split(loss_fn(model, batch))
                    vt += float(loss)
                    vn += 1
                    for k, v in metrics.items():
                        vextra[k] = vextra.get(k, 0.0) + float(v)
            if vn:
                row["val_loss"] = vt / vn
                row.update({f"val_{k}": v / vn for k, v in vextra.items()})
                monitored = row["val_loss"] if cfg.monitor is None else row[f"val_{cfg.monitor}"]
        row["seconds"] = time.perf_counter() - t0
        hist.rows.append(row)
        if on_epoch is not None:
            on_epoch(row)
        log.debug("epoch %d: %s", epoch, row)
        if monitored < hist.best_loss - cfg.min_delta:
            hist.best_loss, hist.best_epoch, bad = monitored, epoch, 0
            if not cfg.keep_last:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience and not cfg.keep_last:
                hist.stopped_early = True
                break
        if cfg.max_seconds is not None and row["seconds"] > cfg.max_seconds:
            hist.stopped_early = True
            log.info("stopping after %.0f s (max_seconds)", row["seconds"])
            break
    if not cfg.keep_last:
        model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist


def index_batches(
    n: int, batch_size: int, rng: np.random.Generator | None = None
) -> Iterable[np.ndarray]:
    """Positions ``0..n-1`` in batches, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]
