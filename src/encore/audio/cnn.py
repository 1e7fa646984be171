"""A small convolutional network on log-mel spectrograms: genre, an embedding, and mood.

Four blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling, then global average
pooling over frequency and time: the pooled vector (``channels[-1]`` values) is the clip's
**embedding**, and a dropout + linear head gives the genre. Training (through
:func:`encore.nn.trainer.train`, seeded, OneCycle learning rate) sees random crops of
``crop_frames`` frames (a time shift), SpecAugment masks (frequency and time bands set to
the mean) and mixup of pairs of clips; prediction uses the whole clip, since global pooling
takes any length. Training runs on the first CUDA GPU when torch sees one
(``CNNConfig.device = "auto"``) and on the CPU otherwise; the trained network is moved to the
CPU for inference and saving, so a model trained on a GPU loads anywhere. The same seed gives
the same network on the same device (a GPU's kernels give slightly different numbers than
the CPU's).

Mood is a ridge regression from the embedding to each emotion's share of listeners and to
the like rate (fitted by :meth:`AudioModel.fit_mood` where the labels exist). The model is
saved through :mod:`encore.persistence` (family ``encore-audio-model``; arrays only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from encore.errors import ConfigError, DataError, MissingDependencyError, NotFittedError
from encore.persistence import load_archive, save_archive

log = logging.getLogger(__name__)

FAMILY = "encore-audio-model"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CNNConfig:
    """Network and training options (defaults: the setting measured in docs/audio.md)."""

    channels: tuple[int, ...] = (12, 24, 48, 96)
    crop_frames: int = 128
    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    dropout: float = 0.3
    mixup_alpha: float = 0.2
    freq_masks: int = 2
    freq_width: int = 8
    time_masks: int = 2
    time_width: int = 16
    seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, not {self.device!r}")
        if len(self.channels) < 1 or min(self.channels) < 1:
            raise ConfigError("channels must be positive")
        if self.crop_frames < 16 or self.batch_size < 2 or self.epochs < 1:
            raise ConfigError("crop_frames >= 16, batch_size >= 2 and epochs >= 1 are needed")
        if self.mixup_alpha < 0:
            raise ConfigError("mixup_alpha must be >= 0")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("torch", "ml") from exc
    return torch


def resolve_device(name: str) -> Any:
    """The ``torch.device`` to train on: ``auto`` is the first CUDA GPU when torch sees one,
    else the CPU.

    Raises
    ------
    ConfigError
        ``cuda`` asked for where torch sees no CUDA device.
    """
    torch = _torch()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r}: torch sees no CUDA GPU here",
            hint="use --device auto (GPU when present) or --device cpu",
        )
    return torch.device(name)


def build_network(n_classes: int, channels: Sequence[int], dropout: float) -> Any:
    """The ``torch.nn.Module``: ``forward(x)`` -> logits, ``embed(x)`` -> pooled vector.

    ``x`` is ``(batch, 1, mels, frames)``, already normalised.
    """
    torch = _torch()
    nn = torch.nn

    class AudioCNN(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            blocks: list[Any] = []
            c_in = 1
            for c in channels:
                blocks += [
                    nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2, ceil_mode=True),
                ]
                c_in = c
            self.features = nn.Sequential(*blocks)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(c_in, n_classes)

        def embed(self, x: Any) -> Any:
            return self.features(x).mean(dim=(2, 3))

        def forward(self, x: Any) -> Any:
            return self.head(self.drop(self.embed(x)))

    return AudioCNN()


def _crop(spec: np.ndarray, frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """``frames`` columns of ``spec``: a random window (time shift), else the centre."""
    t = spec.shape[1]
    if t <= frames:
        pad = np.full((spec.shape[0], frames - t), spec.min(), dtype=spec.dtype)
        return np.concatenate([spec, pad], axis=1)
    start = int(rng.integers(0, t - frames + 1)) if rng is not None else (t - frames) // 2
    return spec[:, start : start + frames]


def spec_augment(x: np.ndarray, cfg: CNNConfig, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment on a normalised ``(mels, frames)`` crop: bands set to 0 (the mean)."""
    x = x.copy()
    mels, frames = x.shape
    for _ in range(cfg.freq_masks):
        w = int(rng.integers(0, cfg.freq_width + 1))
        f0 = int(rng.integers(0, max(1, mels - w)))
        x[f0 : f0 + w, :] = 0.0
    for _ in range(cfg.time_masks):
        w = int(rng.integers(0, cfg.time_width + 1))
        t0 = int(rng.integers(0, max(1, frames - w)))
        x[:, t0 : t0 + w] = 0.0
    return x


@dataclass
class AudioModel:
    """A trained CNN with its normalisation, genre names and (optionally) a mood head."""

    genres: list[str]
    config: CNNConfig
    mean: float
    std: float
    network: Any
    n_mels: int
    mood_names: list[str] = field(default_factory=list)
    mood_coef: np.ndarray | None = None  # (len(mood_names), emb_dim)
    mood_intercept: np.ndarray | None = None
    history: Any = None

    # ---------------------------------------------------------------- training
    @classmethod
    def fit(
        cls,
        specs: Sequence[np.ndarray],
        y: np.ndarray,
        genres: Sequence[str],
        config: CNNConfig | None = None,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> AudioModel:
        """Train on log-mel spectrograms ``specs`` with genre indices ``y``.

        Raises
        ------
        DataError
            Fewer than two genres among ``y``, or spectrograms with different mel counts.
        """
        from encore.nn.trainer import TrainConfig, seed_everything, train

        torch = _torch()
        cfg = config or CNNConfig()
        y = np.asarray(y, dtype=np.int64)
        if len(specs) != len(y) or len(specs) < 2:
            raise DataError("need at least two clips, each with one label")
        if len(np.unique(y)) < 2:
            raise DataError("training clips hold fewer than two genres")
        mels = {s.shape[0] for s in specs}
        if len(mels) != 1:
            raise DataError(f"spectrograms with different mel counts: {sorted(mels)}")
        allv = np.concatenate([s.ravel() for s in specs])
        mean, std = float(allv.mean()), float(allv.std() + 1e-6)
        device = resolve_device(cfg.device)
        seed_everything(cfg.seed)
        net = build_network(len(genres), cfg.channels, cfg.dropout).to(device)
        model = cls(list(genres), cfg, mean, std, net, next(iter(mels)))
        normed = [((s - mean) / std).astype(np.float32) for s in specs]
        n = len(normed)
        steps_per_epoch = max(1, n // cfg.batch_size)
        ce = torch.nn.functional.cross_entropy

        def batches(rng: np.random.Generator) -> Iterator[Any]:
            order = rng.permutation(n)
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                xs = np.stack(
                    [spec_augment(_crop(normed[i], cfg.crop_frames, rng), cfg, rng) for i in idx]
                )
                lam = (
                    float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
                    if cfg.mixup_alpha > 0
                    else 1.0
                )
                perm = rng.permutation(len(idx))
                yield (
                    torch.from_numpy(xs[:, None]),
                    torch.from_numpy(y[idx]),
                    lam,
                    torch.from_numpy(perm),
                )

        def loss_fn(net: Any, batch: Any) -> Any:
            x, yy, lam, perm = batch
            x, yy, perm = x.to(device), yy.to(device), perm.to(device)
            if lam < 1.0:
                x = lam * x + (1.0 - lam) * x[perm]
            logits = net(x)
            return lam * ce(logits, yy) + (1.0 - lam) * ce(logits, yy[perm])

        model.history = train(
            net,
            loss_fn,
            batches,
            None,
            TrainConfig(
                epochs=cfg.epochs,
                lr=cfg.lr,
                weight_decay=cfg.weight_decay,
                patience=cfg.epochs,
                seed=cfg.seed,
                threads=cfg.threads,
                one_cycle_steps=cfg.epochs * steps_per_epoch,
            ),
            on_epoch,
        )
        net.cpu().eval()  # inference, saving and the embedding run on the CPU
        return model

    # ---------------------------------------------------------------- inference
    def _forward(self, specs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, genre probabilities) of whole clips, batched by length."""
        torch = _torch()
        n = len(specs)
        emb = np.zeros((n, self.embedding_dim), dtype=np.float32)
        prob = np.zeros((n, len(self.genres)), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(specs):
            if s.ndim != 2 or s.shape[0] != self.n_mels:
                raise DataError(
                    f"spectrogram of shape {s.shape}; this model reads {self.n_mels} mel bands"
                )
            by_len.setdefault(max(s.shape[1], 16), []).append(i)
        self.network.eval()
        with torch.no_grad():
            for length, idx in by_len.items():
                for start in range(0, len(idx), 64):
                    part = idx[start : start + 64]
                    xs = np.stack([_crop(specs[i], length, None) for i in part])
                    x = torch.from_numpy(((xs - self.mean) / self.std).astype(np.float32)[:, None])
                    e = self.network.embed(x)
                    p = torch.softmax(self.network.head(e), dim=1)
                    emb[part] = e.numpy()
                    prob[part] = p.numpy()
        return emb, prob

    @property
    def embedding_dim(self) -> int:
        return int(self.config.channels[-1])

    def embed(self, specs: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings ``(n, embedding_dim)`` of whole clips."""
        return self._forward(specs)[0]

    def predict_proba(self, specs: Sequence[np.ndarray]) -> np.ndarray:
        """Genre probabilities ``(n, len(genres))``."""
        return self._forward(specs)[1]

    # ---------------------------------------------------------------- mood
    def fit_mood(
        self, emb: np.ndarray, targets: np.ndarray, names: Sequence[str], alpha: float = 10.0
    ) -> None:
        """Ridge from standardised embeddings to each target column (shares in [0, 1])."""
        from sklearn.linear_model import Ridge

        ridge = Ridge(alpha=alpha).fit(emb, targets)
        self.mood_names = list(names)
        self.mood_coef = np.asarray(ridge.coef_, dtype=np.float64).reshape(len(names), -1)
        self.mood_intercept = np.asarray(ridge.intercept_, dtype=np.float64).reshape(len(names))

    def predict_mood(self, emb: np.ndarray) -> np.ndarray:
        """Predicted shares ``(n, len(mood_names))``, clipped to [0, 1]."""
        if self.mood_coef is None or self.mood_intercept is None:
            raise NotFittedError("this audio model has no mood head (trained without mood labels)")
        return np.clip(emb @ self.mood_coef.T + self.mood_intercept, 0.0, 1.0)

    # ---------------------------------------------------------------- files
    def save(self, path: Path) -> Path:
        """Write the model as one ``.npz`` archive (arrays + JSON header, no pickle)."""
        arrays = {
            f"net.{k}": v.detach().cpu().numpy() for k, v in self.network.state_dict().items()
        }
        if self.mood_coef is not None and self.mood_intercept is not None:
            arrays["mood.coef"] = self.mood_coef
            arrays["mood.intercept"] = self.mood_intercept
        cfg = asdict(self.config)
        cfg["channels"] = list(self.config.channels)
        header = {
            "genres": self.genres,
            "config": cfg,
            "mean": self.mean,
            "std": self.std,
            "n_mels": self.n_mels,
            "mood_names": self.mood_names,
        }
        return save_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, header=header, arrays=arrays
        )

    @classmethod
    def load(cls, path: Path) -> AudioModel:
        """Read a model written by :meth:`save` (family and version checked).

        Raises
        ------
        DataError
            Not an audio model file, or its weights do not fit its own settings.
        """
        torch = _torch()
        header, arrays = load_archive(
            path, family=FAMILY, format_version=FORMAT_VERSION, what="audio model"
        )
        try:
            raw = dict(header["config"])
            raw["channels"] = tuple(raw["channels"])
            cfg = CNNConfig(**raw)
            net = build_network(len(header["genres"]), cfg.channels, cfg.dropout)
            state = {
                k[4:]: torch.from_numpy(np.array(v))
                for k, v in arrays.items()
                if k.startswith("net.")
            }
            net.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise DataError(f"damaged audio model ({exc})", file=str(path)) from exc
        net.eval()
        model = cls(
            list(header["genres"]),
            cfg,
            float(header["mean"]),
            float(header["std"]),
            net,
            int(header["n_mels"]),
        )
        if "mood.coef" in arrays:
            model.mood_names = list(header.get("mood_names", []))
            model.mood_coef = arrays["mood.coef"]
            model.mood_intercept = arrays["mood.intercept"]
        return model
