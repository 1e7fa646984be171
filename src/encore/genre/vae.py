"""A semi-supervised VAE genre predictor (PyTorch, CPU, seeded).

The encoder reads an item's listener vector (who played/liked it, as a distribution over
users) together with its side features (listeners' favourite genres, name n-grams reduced
by SVD, metadata) and outputs a Gaussian latent code ``z``. Two decoders reconstruct the
listener vector (multinomial likelihood, as in Mult-VAE, Liang et al. 2018) and the side
features (Gaussian); a genre head reads ``z``.

Loss per item = listener reconstruction + side reconstruction + beta * KL
+ alpha * cross-entropy (labelled items only). Unlabelled items (genre unknown) contribute
the first three terms, so they shape the latent space: the "VAE embeddings + classifier,
trained jointly" variant of semi-supervised learning (Kingma et al. 2014, M1+M2 spirit;
the full M2, where the label is a latent variable of the generative model, is not
implemented). Training uses :func:`encore.nn.train` with early stopping on the
cross-entropy of a held-out 10 % of the labelled training items (the reconstruction terms
keep falling long after the genre head starts to overfit); the curve is kept in
``history_``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from encore.genre.base import GenreModel
from encore.genre.features import FeatureBuilder, GenreData
from encore.nn.trainer import History, TrainConfig, index_batches, seed_everything, train
from encore.persistence import TRUNCATED_SVD_FITTED, estimator_from_state, estimator_state

#: Dropout of the encoder's listener input.
_DROPOUT = 0.5


def _build_net(
    n_users: int, n_side: int, n_classes: int, hidden: int, latent: int, dropout: float
) -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.enc = nn.Sequential(nn.Linear(n_users + n_side, hidden), nn.Tanh())
            self.mu = nn.Linear(hidden, latent)
            self.logvar = nn.Linear(hidden, latent)
            self.dec_listen = nn.Sequential(
                nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, max(n_users, 1))
            )
            self.dec_side = nn.Sequential(
                nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, max(n_side, 1))
            )
            self.head = nn.Sequential(
                nn.Linear(latent, hidden // 2),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(hidden // 2, n_classes),
            )

        def encode(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.enc(torch.cat([self.drop(x), s], dim=1))
            return self.mu(h), self.logvar(h).clamp(-8, 8)

        def forward(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, ...]:
            mu, logvar = self.encode(x, s)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
            return self.dec_listen(z), self.dec_side(z), self.head(z), mu, logvar

    return Net()


class VAEClassifier(GenreModel):
    """Semi-supervised VAE over listener vector + side features with a genre head.

    Parameters
    ----------
    seed:
        Seeds torch, NumPy and the feature builder.
    latent, hidden:
        Sizes of the latent code and hidden layers.
    beta, alpha:
        Weights of the KL term and of the classification loss.
    epochs, batch_size, lr, patience:
        Training options (early stopping on held-out labelled items).
    use_side:
        Feed side features (listeners' genres, text SVD, metadata) to the encoder too.
    max_seconds:
        Wall-clock cap of training.
    """

    name = "vae"
    uses_unlabelled = True

    def __init__(
        self,
        seed: int = 0,
        latent: int = 32,
        hidden: int = 256,
        beta: float = 0.2,
        alpha: float = 5.0,
        epochs: int = 60,
        batch_size: int = 256,
        lr: float = 2e-3,
        patience: int = 6,
        use_side: bool = True,
        max_seconds: float | None = 540.0,
    ) -> None:
        super().__init__(seed)
        self.latent, self.hidden, self.beta, self.alpha = latent, hidden, beta, alpha
        self.epochs, self.batch_size, self.lr, self.patience = epochs, batch_size, lr, patience
        self.use_side = use_side
        self.max_seconds = max_seconds
        self.history_: History | None = None
        self.features_: FeatureBuilder | None = None
        self.net_: Any = None

    # ------------------------------------------------------------------ inputs
    def _side(self, data: GenreData, idx: np.ndarray, train_idx: np.ndarray | None) -> np.ndarray:
        if self.features_ is None:
            return np.zeros((len(idx), 0), dtype=np.float32)
        x = self.features_.transform(data, idx, train_idx=train_idx)
        dense = self.svd_.transform(x) if self.svd_ is not None else x.toarray()
        return ((dense - self.side_mean_) / self.side_sd_).astype(np.float32)

    @staticmethod
    def _listen_rows(listens: sp.csr_matrix, idx: np.ndarray) -> np.ndarray:
        x = listens[idx].toarray().astype(np.float32)
        s = x.sum(axis=1, keepdims=True)
        s[s == 0] = 1.0
        return x / s

    def _fit(
        self, data: GenreData, train_idx: np.ndarray, unlabelled_idx: np.ndarray | None
    ) -> None:
        import torch
        import torch.nn.functional as F

        rng = np.random.default_rng(self.seed)
        self.svd_ = None
        if self.use_side:
            fb = FeatureBuilder(
                groups=("collab", "text", "meta"), n_factors=0, text_svd=32, seed=self.seed
            )
            self.features_ = fb.fit(data, train_idx, self.classes_)
        unl = np.asarray(unlabelled_idx if unlabelled_idx is not None else [], dtype=np.int64)
        pool = np.concatenate([train_idx, unl])
        # side features of training items use their own-artist-free listener profiles
        side_raw = (
            self.features_.transform(data, train_idx, train_idx=train_idx)
            if self.features_ is not None
            else None
        )
        side_unl = (
            self.features_.transform(data, unl, train_idx=None)
            if self.features_ is not None and len(unl)
            else None
        )
        if side_raw is not None:
            full = side_raw if side_unl is None else sp.vstack([side_raw, side_unl], format="csr")
            if full.shape[1] > 400:
                from sklearn.decomposition import TruncatedSVD

                self.svd_ = TruncatedSVD(128, random_state=self.seed).fit(full)
                dense = self.svd_.transform(full)
            else:
                dense = full.toarray()
            self.side_mean_ = dense.mean(axis=0)
            self.side_sd_ = dense.std(axis=0) + 1e-6
            side = ((dense - self.side_mean_) / self.side_sd_).astype(np.float32)
        else:
            side = np.zeros((len(pool), 0), dtype=np.float32)
        listens = self._listen_rows(data.listens, pool)
        has_listen = (data.listens[pool].getnnz(axis=1) > 0).astype(np.float32)
        cpos = {c: i for i, c in enumerate(self.classes_)}
        y = np.full(len(pool), -1, dtype=np.int64)
        y[: len(train_idx)] = [cpos[v] for v in data.labels[train_idx]]
        # hold out 10 % of the labelled items for early stopping
        lab_pos = rng.permutation(len(train_idx))
        n_val = max(1, len(train_idx) // 10)
        val_pos, fit_lab = lab_pos[:n_val], lab_pos[n_val:]
        fit_pos = np.concatenate([fit_lab, np.arange(len(train_idx), len(pool))])
        self.n_users_ = data.listens.shape[1]
        seed_everything(self.seed)  # the initial weights depend on the seed too
        self.net_ = _build_net(
            self.n_users_, side.shape[1], len(self.classes_), self.hidden, self.latent, _DROPOUT
        )
        X, S = torch.from_numpy(listens), torch.from_numpy(side)
        H, Y = torch.from_numpy(has_listen), torch.from_numpy(y)

        def loss_fn(net: Any, b: np.ndarray) -> tuple[Any, dict[str, float]]:
            bt = torch.from_numpy(b)
            x, s, h, yy = X[bt], S[bt], H[bt], Y[bt]
            rx, rs, logits, mu, logvar = net(x, s)
            rec_l = (
                (-(F.log_softmax(rx, dim=1) * x).sum(dim=1) * h).mean()
                if self.n_users_
                else 0.0 * mu.sum()
            )
            rec_s = ((rs - s) ** 2).mean(dim=1).mean() if s.shape[1] else 0.0 * mu.sum()
            kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()
            lab = yy >= 0
            ce = F.cross_entropy(logits[lab], yy[lab]) if bool(lab.any()) else 0.0 * mu.sum()
            loss = rec_l + rec_s + self.beta * kl + self.alpha * ce
            return loss, {
                "ce": float(ce.detach()) if hasattr(ce, "detach") else float(ce),
                "kl": float(kl.detach()),
            }

        bs = self.batch_size

        def train_batches(g: np.random.Generator) -> Any:
            for b in index_batches(len(fit_pos), bs, g):
                yield fit_pos[b]

        def val_batches() -> Any:
            for b in index_batches(len(val_pos), 1024):
                yield val_pos[b]

        cfg = TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            patience=self.patience,
            seed=self.seed,
            weight_decay=1e-5,
            max_seconds=self.max_seconds,
            monitor="ce",
            threads=1,
        )  # small batches: extra threads only spin on a shared 2-core box
        self.history_ = train(self.net_, loss_fn, train_batches, val_batches, cfg)

    def _predict_proba(self, data: GenreData, idx: np.ndarray) -> np.ndarray:
        import torch

        side = (
            self._side(data, idx, None)
            if self.features_ is not None
            else np.zeros((len(idx), 0), np.float32)
        )
        listens = self._listen_rows(data.listens, idx)
        if listens.shape[1] != self.n_users_:
            raise ValueError("listener columns differ from the training users")
        with torch.no_grad():
            self.net_.eval()
            _, _, logits, _, _ = self.net_(torch.from_numpy(listens), torch.from_numpy(side))
            return torch.softmax(logits, dim=1).numpy()

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        assert self.net_ is not None
        side = getattr(self, "side_mean_", None) is not None
        weights = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {
            "n_users": int(self.n_users_),
            "n_side": int(weights["enc.0.weight"].shape[1]) - int(self.n_users_),
            "weights": weights,
            "features": None if self.features_ is None else self.features_.state(),
            "svd": None if self.svd_ is None else estimator_state(self.svd_, TRUNCATED_SVD_FITTED),
            "side_mean": self.side_mean_ if side else None,
            "side_sd": self.side_sd_ if side else None,
            "history": None if self.history_ is None else dataclasses.asdict(self.history_),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        import torch
        from sklearn.decomposition import TruncatedSVD

        self.n_users_ = int(state["n_users"])
        self.features_ = (
            None if state["features"] is None else FeatureBuilder.from_state(state["features"])
        )
        self.svd_ = (
            None if state["svd"] is None else estimator_from_state(TruncatedSVD, state["svd"])
        )
        if state["side_mean"] is not None:
            self.side_mean_, self.side_sd_ = state["side_mean"], state["side_sd"]
        self.history_ = None if state["history"] is None else History(**state["history"])
        with torch.random.fork_rng(devices=[]):  # building the net draws initial weights
            net = _build_net(
                self.n_users_,
                int(state["n_side"]),
                len(self.classes_),
                self.hidden,
                self.latent,
                _DROPOUT,
            )
        net.load_state_dict({k: torch.from_numpy(v) for k, v in state["weights"].items()})
        net.eval()
        self.net_ = net

    def save_curve(self, out_dir: Path, stem: str = "vae") -> list[Path]:
        """Write the training curve as CSV and PNG; return the paths."""
        if self.history_ is None:
            return []
        return [
            self.history_.save_csv(out_dir / f"{stem}-training-curve.csv"),
            self.history_.plot(
                out_dir / f"{stem}-training-curve.png",
                title=f"Genre VAE training ({self.dataset_})",
            ),
        ]
