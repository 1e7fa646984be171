"""SASRec: causal self-attention over a listener's latest events (Kang & McAuley, 2018).

Each event is embedded as item + event kind (play, partial play, skip, like) + a bucketed
time gap to the previous event + position; a stack of causal transformer layers reads the
latest ``max_len`` events and the last position's state scores every item through the
(tied) item embeddings.

The loss (``loss``): a **full softmax** over the catalogue (``softmax``), or, for large
catalogues, gSASRec's (Petrov & Macdonald, RecSys 2023) **sampled** objective with many
uniform negatives (``negatives``, shared by the targets of a batch, a negative equal to a
target left out): ``gbce`` is the generalised binary cross-entropy
``-beta * log sigmoid(s+) - sum log(1 - sigmoid(s-))`` with
``beta = alpha * (t * (1 - 1/alpha) + 1/alpha)``, ``alpha = negatives / (n_items - 1)`` and
calibration ``t = gbce_t`` (which undoes the overconfidence that sampling negatives
teaches), ``sampled_softmax`` a softmax over the target and the negatives. ``auto`` (the
default) is the full softmax up to :data:`FULL_SOFTMAX_ITEMS` items and the sampled softmax
above (measured on JODIE, 15 epochs: sampled softmax 0.082 next-new NDCG@10 against the full
softmax's 0.089, gBCE 0.035; docs/sequence-models.md).

Training targets are the next event's item when the listener wanted it (play, like;
partial plays weigh ``partial_weight``). A **skip** is negative feedback: the next item
was offered and refused, so its probability is pushed down by an unlikelihood term
``-skip_weight * log(1 - p(item))``. With ``targets="new"`` only items the listener had
not had before in the sequence are targets (the "next new track" task Encore evaluates
by default); ``"all"`` also learns repeats (the "next play" task). ``"future:K"`` is
PinnerFormer's dense all-action objective (Pancha et al., KDD 2022): every position learns
every wanted item of the user's next ``K`` events, not only the next one (a softmax term
per item, the sum divided by the total weight; an item repeated in the window counts each
time); ``"future-new:K"`` keeps only those the listener had not had before, the horizon a
"what will they discover over the next weeks" test asks about (docs/sequence-models.md).

Validation is carved by time from train: the targets in the last ``val_share`` of the
events (one global time cut) are held out from the loss, and early stopping watches
their loss; NDCG@10 of the next new item there is recorded per epoch (the curve is kept
with the model, ``curve_``).

PyTorch is imported lazily; training is seeded and deterministic on CPU (a GPU is used
when present and ``device="auto"``, never required). Weights are saved as arrays through
the common model file (no pickle).
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from encore.data.dataset import InteractionDataset
from encore.errors import DataError
from encore.nn.weights import flat_weights, load_flat_weights
from encore.recommenders.base import RecommenderConfig
from encore.recommenders.sequence import (
    KIND_CODE,
    KINDS,
    N_GAP_BUCKETS,
    SEQUENCE_ATTRS,
    Encoded,
    SequenceRecommender,
)

log = logging.getLogger(__name__)

CURVE_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "val_ndcg10", "seconds")
#: ``loss="auto"`` uses the full softmax up to this many items, the sampled softmax above.
FULL_SOFTMAX_ITEMS = 20_000
#: Validation NDCG scores the full catalogue for this many targets at a time.
_SCORE_CHUNK = 512


class SASRecConfig(RecommenderConfig):
    """Config of :class:`SASRec` (see the module docstring)."""

    max_len: int = Field(default=50, ge=2, le=1024)
    dim: int = Field(default=64, ge=8)
    layers: int = Field(default=2, ge=1)
    heads: int = Field(default=2, ge=1)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    epochs: int = Field(default=40, ge=1)
    patience: int = Field(default=4, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    #: ``all``, ``new``, ``future:K`` or ``future-new:K`` (the module docstring).
    targets: str = Field(default="all", pattern=r"^(all|new|future(-new)?:[1-9][0-9]{0,3})$")
    loss: Literal["auto", "softmax", "gbce", "sampled_softmax"] = "auto"
    negatives: int = Field(default=256, ge=1)
    gbce_t: float = Field(default=0.75, ge=0, le=1)
    monitor: Literal["loss", "ndcg"] = "loss"
    skip_weight: float = Field(default=0.5, ge=0)
    partial_weight: float = Field(default=0.5, ge=0)
    use_kinds: bool = True
    use_gaps: bool = True
    val_share: float = Field(default=0.1, ge=0, lt=1)
    #: Train on each user's latest this many windows only (None: every window of the
    #: history; 1 is RecTools' regime: each user's latest ``max_len`` events).
    windows_per_user: int | None = Field(default=None, ge=1)
    seed: int = 0
    threads: int | None = Field(default=1, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    device: Literal["cpu", "auto"] = "cpu"


def build_module(cfg: SASRecConfig, n_items: int) -> Any:
    """The torch module for ``n_items`` items (item code 0 pads)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
            self.kinds = nn.Embedding(len(KINDS) + 1, cfg.dim, padding_idx=0)
            self.gaps = nn.Embedding(N_GAP_BUCKETS, cfg.dim)
            self.pos = nn.Embedding(cfg.max_len, cfg.dim)
            layer = nn.TransformerEncoderLayer(
                cfg.dim,
                cfg.heads,
                dim_feedforward=cfg.dim * 2,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.dim)
            self.drop = nn.Dropout(cfg.dropout)
            nn.init.normal_(self.items.weight, std=cfg.dim**-0.5)
            with torch.no_grad():
                self.items.weight[0].zero_()

        def forward(self, items: Any, kinds: Any, gaps: Any) -> Any:
            length = items.shape[1]
            x = self.items(items) * math.sqrt(cfg.dim)
            if cfg.use_kinds:
                x = x + self.kinds(kinds)
            if cfg.use_gaps:
                x = x + self.gaps(gaps)
            x = x + self.pos(torch.arange(length, device=items.device))[None]
            x = self.drop(x)
            causal = torch.triu(
                torch.ones((length, length), dtype=torch.bool, device=items.device), diagonal=1
            )
            eye = torch.eye(length, dtype=torch.bool, device=items.device)
            # no attention to the future nor to padding; every position sees itself, so
            # no row is fully masked (that would make NaNs)
            blocked = (causal[None] | (items == 0)[:, None, :]) & ~eye[None]
            blocked = blocked.repeat_interleave(cfg.heads, dim=0)
            h = self.encoder(x, mask=blocked)
            return self.norm(h)

        def logits(self, h: Any) -> Any:
            return h @ self.items.weight[1:].T

    return Net()


def parse_targets(targets: str) -> tuple[int, bool]:
    """``(horizon, new_only)`` of a ``targets`` setting: ``all`` is (1, False), ``new``
    (1, True), ``future:K`` (K, False), ``future-new:K`` (K, True)."""
    kind, _, k = targets.partition(":")
    return (int(k) if k else 1), kind in ("new", "future-new")


def _windows(enc: Encoded, length: int, per_user: int | None = None) -> np.ndarray:
    """(start, end) of training windows: each user's events cut from the end into chunks
    of ``length + 1`` overlapping by one (the last event of a chunk is only a target); the
    latest ``per_user`` of them per user when given."""
    out = []
    for u in range(len(enc.users)):
        lo, hi = int(enc.starts[u]), int(enc.starts[u + 1])
        end = hi
        count = 0
        while end - lo >= 2 and (per_user is None or count < per_user):
            count += 1
            start = max(lo, end - length - 1)
            out.append((start, end))
            end = start + 1
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


class SASRec(SequenceRecommender):
    """Transformer next-item model over plays, likes and skips (module docstring)."""

    name: ClassVar[str] = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig
    state_attrs: ClassVar[tuple[str, ...]] = (*SEQUENCE_ATTRS, "weights_", "curve_")
    item_limit: ClassVar[int | None] = 20_000  # full softmax: --models all skips it above
    search_space: ClassVar[dict[str, list[Any]]] = {
        "dim": [32, 64],
        "dropout": [0.1, 0.3],
        "targets": ["new", "all"],
    }

    def resolved_loss(self, n_items: int) -> str:
        """The loss used for ``n_items`` items (``auto`` resolved)."""
        if self.config.loss != "auto":
            return self.config.loss
        return "softmax" if n_items <= FULL_SOFTMAX_ITEMS else "sampled_softmax"

    # ------------------------------------------------------------------ training
    def _fit_events(self, enc: Encoded, dataset: InteractionDataset) -> None:
        import torch

        from encore.nn.trainer import TrainConfig, seed_everything, train

        cfg = self.config
        seed_everything(cfg.seed)
        n_items = dataset.n_items
        length = cfg.max_len
        # targets: weight per event (as the *next* event of its prefix)
        kinds = enc.kinds
        weight = np.zeros(len(kinds), dtype=np.float32)
        weight[kinds == KIND_CODE["play"]] = 1.0
        weight[kinds == KIND_CODE["like"]] = 1.0
        weight[kinds == KIND_CODE["partial"]] = cfg.partial_weight
        weight[kinds == KIND_CODE["skip"]] = -cfg.skip_weight
        horizon, new_only = parse_targets(cfg.targets)
        future = cfg.targets.startswith("future")
        # the end of each event's user (future targets never cross into the next user)
        user_end = np.repeat(enc.starts[1:], np.diff(enc.starts))
        if new_only:
            seen_before = np.zeros(len(kinds), dtype=bool)
            for u in range(len(enc.users)):
                lo, hi = int(enc.starts[u]), int(enc.starts[u + 1])
                items = enc.items[lo:hi]
                _, first = np.unique(items, return_index=True)
                rep = np.ones(hi - lo, dtype=bool)
                rep[first] = False
                seen_before[lo:hi] = rep
            weight[seen_before & (weight > 0)] = 0.0
        # validation: targets at or after a global time cut carved from train
        val = np.zeros(len(kinds), dtype=bool)
        if cfg.val_share > 0 and np.isfinite(enc.secs).any():
            cut = float(np.nanquantile(enc.secs, 1.0 - cfg.val_share))
            val = np.isfinite(enc.secs) & (enc.secs >= cut)
        windows = _windows(enc, length, cfg.windows_per_user)
        if len(windows) == 0:
            raise DataError(f"{self.name}: every user has fewer than two events")

        def tensors(rows: np.ndarray, use_val: bool) -> tuple[Any, ...]:
            n = len(rows)
            it = np.zeros((n, length), dtype=np.int64)
            kd = np.zeros_like(it)
            gp = np.zeros_like(it)
            tg = np.zeros_like(it)
            tw = np.zeros((n, length), dtype=np.float32)
            for r, (s, e) in enumerate(windows[rows]):
                m = e - s - 1
                it[r, -m:] = enc.items[s : e - 1]
                kd[r, -m:] = enc.kinds[s : e - 1]
                gp[r, -m:] = enc.gaps[s : e - 1]
                tg[r, -m:] = enc.items[s + 1 : e]
                w = weight[s + 1 : e].copy()
                w[val[s + 1 : e] != use_val] = 0.0
                tw[r, -m:] = w
            if future:  # every target of the next `horizon` events: [n, length, horizon]
                tg = np.zeros((n, length, horizon), dtype=np.int64)
                tw = np.zeros((n, length, horizon), dtype=np.float32)
                for r, (s, e) in enumerate(windows[rows]):
                    m = e - s - 1
                    idx = np.arange(s, e - 1)[:, None] + np.arange(1, horizon + 1)[None, :]
                    ok = idx < user_end[s]
                    idx = np.where(ok, idx, s)
                    w = np.where(ok, weight[idx], 0.0)
                    w[val[idx] != use_val] = 0.0
                    tg[r, -m:] = np.where(ok, enc.items[idx], 0)
                    tw[r, -m:] = w
            return tuple(torch.from_numpy(a).to(device) for a in (it, kd, gp, tg, tw))

        def target_end(s: int, e: int) -> int:
            """One past the last target index of window (s, e)."""
            return int(min(e - 1 + horizon, user_end[s])) if future else int(e)

        device = torch.device(
            "cuda" if cfg.device == "auto" and torch.cuda.is_available() else "cpu"
        )
        net = build_module(cfg, n_items).to(device)
        val_rows = np.flatnonzero(
            [
                bool(
                    ((weight[s + 1 : target_end(s, e)] != 0) & val[s + 1 : target_end(s, e)]).any()
                )
                for s, e in windows
            ]
        )
        train_rows = np.flatnonzero(
            [
                bool(
                    ((weight[s + 1 : target_end(s, e)] != 0) & ~val[s + 1 : target_end(s, e)]).any()
                )
                for s, e in windows
            ]
        )
        if len(train_rows) == 0:
            raise DataError(f"{self.name}: no training targets before the validation cut")

        loss_kind = self.resolved_loss(n_items)
        n_neg = min(cfg.negatives, max(n_items - 1, 1))
        alpha = n_neg / max(n_items - 1, 1)
        beta = alpha * (cfg.gbce_t * (1.0 - 1.0 / alpha) + 1.0 / alpha)

        def sampled_terms(model: Any, hp: Any, target: Any, negs: Any) -> tuple[Any, Any, Any]:
            """Target logits [T], negative logits [T, N], and which negatives count."""
            emb = model.items.weight[1:]
            s_pos = (hp * emb[target]).sum(-1)
            s_neg = hp @ emb[negs].T
            keep = negs[None, :] != target[:, None]
            return s_pos, s_neg, keep

        def ndcg10(model: Any, hq: Any, tq: Any) -> float:
            """Mean NDCG@10 of targets ``tq`` given states ``hq`` (full catalogue, chunked)."""
            gains = []
            for lo in range(0, len(tq), _SCORE_CHUNK):
                logits = model.logits(hq[lo : lo + _SCORE_CHUNK])
                tl = logits.gather(1, tq[lo : lo + _SCORE_CHUNK, None])
                rank = (logits > tl).sum(dim=1)
                gains.append(torch.where(rank < 10, 1.0 / torch.log2(rank.float() + 2.0), 0.0))
            return float(torch.cat(gains).mean())

        def softmax_loss(tlogp: Any, w: Any, pos: Any, neg: Any) -> Any:
            """Full softmax: ``-w log p`` of each wanted target and ``-|w| log(1 - p)`` of
            each skipped one, summed (``tlogp``: the targets' log-probabilities)."""
            loss = -(w[pos] * tlogp[pos]).sum()
            if neg.any():
                p = tlogp[neg].exp().clamp(max=1 - 1e-6)
                loss = loss - ((-w[neg]) * torch.log1p(-p)).sum()
            return loss

        def sampled_softmax_terms(cat: Any, pos: Any) -> Any:
            """Per target, a softmax over its logit (first along the last axis of ``cat``)
            and its negatives' logits: ``-log p`` where wanted, ``-log(1 - p)`` where skipped."""
            tlogp = torch.log_softmax(cat, dim=-1)[..., 0]
            p = tlogp.exp().clamp(max=1 - 1e-6)
            return torch.where(pos, -tlogp, -torch.log1p(-p))

        def finish(
            model: Any, loss: Any, w: Any, hp: Any, target: Any, pos: Any
        ) -> tuple[Any, dict[str, float]]:
            """The loss per unit of weight; in evaluation, the NDCG@10 of every wanted target
            (each from its own position's state: unsampled, full catalogue, in chunks)."""
            loss = loss / w.abs().sum().clamp(min=1e-6)
            metrics: dict[str, float] = {}
            if not model.training and pos.any():
                at = pos.nonzero(as_tuple=True)
                ndcg = ndcg10(model, hp[at[0]], target[at])
                metrics["ndcg10"] = ndcg
                metrics["neg_ndcg10"] = -ndcg
            return loss, metrics

        def future_loss_fn(model: Any, batch: tuple[Any, ...]) -> tuple[Any, dict[str, float]]:
            """The dense all-action loss: tg and tw are [n, length, horizon]."""
            it, kd, gp, tg, tw, negs = batch
            h = model(it, kd, gp)
            has = (tw != 0).any(-1)
            hp = h[has]  # [T, d]
            target = (tg[has] - 1).clamp(min=0)  # [T, horizon]
            w = tw[has]
            pos = w > 0
            neg = w < 0
            if loss_kind == "softmax":
                tlogp = torch.log_softmax(model.logits(hp), dim=-1).gather(1, target)
                loss = softmax_loss(tlogp, w, pos, neg)
            else:
                emb = model.items.weight[1:]
                s_pos = torch.einsum("td,thd->th", hp, emb[target])
                s_neg = hp @ emb[negs].T  # [T, N]
                keep = negs[None, None, :] != target[:, :, None]  # [T, horizon, N]
                logsig = torch.nn.functional.logsigmoid
                if loss_kind == "gbce":
                    neg_terms = (-logsig(-s_neg)[:, None, :] * keep).sum(-1)
                    per = torch.where(pos, -beta * logsig(s_pos) + neg_terms, -logsig(-s_pos))
                else:
                    cat = torch.cat(
                        [
                            s_pos[..., None],
                            s_neg[:, None, :]
                            .expand(-1, target.shape[1], -1)
                            .masked_fill(~keep, float("-inf")),
                        ],
                        dim=-1,
                    )
                    per = sampled_softmax_terms(cat, pos)
                loss = (w.abs() * per).sum()
            # NDCG@10 of every wanted item of the horizon, each from its position
            return finish(model, loss, w, hp, target, pos)

        def loss_fn(model: Any, batch: tuple[Any, ...]) -> tuple[Any, dict[str, float]]:
            if future:
                return future_loss_fn(model, batch)
            it, kd, gp, tg, tw, negs = batch
            h = model(it, kd, gp)
            has = tw != 0
            hp = h[has]
            target = tg[has] - 1
            w = tw[has]
            pos = w > 0
            neg = ~pos
            if loss_kind == "softmax":
                logits = model.logits(hp)
                logp = torch.log_softmax(logits, dim=-1)
                tlogp = logp.gather(1, target[:, None])[:, 0]
                loss = softmax_loss(tlogp, w, pos, neg)
            else:
                s_pos, s_neg, keep = sampled_terms(model, hp, target, negs)
                logsig = torch.nn.functional.logsigmoid
                if loss_kind == "gbce":
                    # a wanted target: -beta log s(s+) - sum log(1 - s(s-)); a skipped one:
                    # -log(1 - s(s)) (its negatives are not needed)
                    neg_terms = (-logsig(-s_neg) * keep).sum(1)
                    per = torch.where(pos, -beta * logsig(s_pos) + neg_terms, -logsig(-s_pos))
                else:  # sampled softmax over the target and the negatives
                    cat = torch.cat(
                        [s_pos[:, None], s_neg.masked_fill(~keep, float("-inf"))], dim=1
                    )
                    per = sampled_softmax_terms(cat, pos)
                loss = (w.abs() * per).sum()
            # NDCG@10 of the next wanted item
            return finish(model, loss, w, hp, target, pos)

        bs = cfg.batch_size

        def draw(rng: np.random.Generator) -> Any:
            return torch.from_numpy(rng.integers(0, n_items, size=n_neg, dtype=np.int64)).to(device)

        def train_batches(rng: np.random.Generator) -> Any:
            order = rng.permutation(train_rows)
            for lo in range(0, len(order), bs):
                yield (*tensors(order[lo : lo + bs], False), draw(rng))

        val_rng = np.random.default_rng(cfg.seed + 1)  # the same negatives every epoch
        # early stopping on validation NDCG needs a wanted item among the validation targets
        watch_ndcg = cfg.monitor == "ndcg" and bool(((weight > 0) & val).any())
        val_cache = [
            (*tensors(val_rows[lo : lo + bs], True), draw(val_rng))
            for lo in range(0, len(val_rows), bs)
        ]
        progress = None
        task = None
        if self.show_progress:
            from rich.progress import Progress

            progress = Progress(transient=True)
            progress.start()
            task = progress.add_task(f"{self.name}: epoch 0/{cfg.epochs}", total=cfg.epochs)

        def on_epoch(row: dict[str, float]) -> None:
            log.info(
                "%s epoch %d: train %.4f, val %.4f, val NDCG@10 %.4f",
                self.name,
                int(row["epoch"]),
                row["train_loss"],
                row.get("val_loss", float("nan")),
                row.get("val_ndcg10", float("nan")),
            )
            if progress is not None and task is not None:
                progress.update(
                    task,
                    advance=1,
                    description=(
                        f"{self.name}: epoch {int(row['epoch'])} loss {row['train_loss']:.3f}"
                        f" val {row.get('val_loss', float('nan')):.3f}"
                        f" NDCG@10 {row.get('val_ndcg10', float('nan')):.3f}"
                    ),
                )

        try:
            hist = train(
                net,
                loss_fn,
                train_batches,
                (lambda: iter(val_cache)) if val_cache else None,
                TrainConfig(
                    epochs=cfg.epochs,
                    lr=cfg.lr,
                    weight_decay=cfg.weight_decay,
                    patience=cfg.patience,
                    seed=cfg.seed,
                    threads=cfg.threads,
                    max_seconds=cfg.max_seconds,
                    monitor="neg_ndcg10" if watch_ndcg else None,
                ),
                on_epoch=on_epoch,
            )
        finally:
            if progress is not None:
                progress.stop()
        frame = hist.frame()
        self.curve_ = np.column_stack(
            [
                frame[c].to_numpy(dtype=np.float64) if c in frame else np.full(len(frame), np.nan)
                for c in CURVE_COLUMNS
            ]
        )
        self.best_epoch_ = hist.best_epoch
        self._net = net.to("cpu").eval()
        self.weights_ = flat_weights(self._net)

    def _after_load(self) -> None:
        self._net = load_flat_weights(
            build_module(self.config, self.n_items), self.weights_, self.name
        )

    # ------------------------------------------------------------------ scoring
    def _score_sequences(
        self, items: np.ndarray, kinds: np.ndarray, gaps: np.ndarray
    ) -> np.ndarray:
        import torch

        net = self._net
        out = np.empty((len(items), self.n_items), dtype=np.float32)
        # scoring runs on the training's thread count too: on a busy machine torch's default
        # (every core) oversubscribes it (benchmarks/bench_sequence_serving.py)
        before = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            with torch.no_grad():
                for lo in range(0, len(items), 256):
                    it = torch.from_numpy(np.asarray(items[lo : lo + 256], dtype=np.int64))
                    kd = torch.from_numpy(np.asarray(kinds[lo : lo + 256], dtype=np.int64))
                    gp = torch.from_numpy(np.asarray(gaps[lo : lo + 256], dtype=np.int64))
                    h = net(it, kd, gp)[:, -1]
                    out[lo : lo + 256] = net.logits(h).numpy()
        finally:
            torch.set_num_threads(before)
        empty = ~(np.asarray(items) > 0).any(axis=1)
        out[empty] = 0.0  # no events: no preference (ties broken by item order)
        return out

    def training_curve(self) -> Any:
        """The per-epoch curve (``epoch, train_loss, val_loss, val_ndcg10, seconds``)."""
        import pandas as pd

        self._check_fitted()
        return pd.DataFrame(np.asarray(self.curve_), columns=list(CURVE_COLUMNS))
