"""The shared torch training loop: learning, early stopping, best weights, seeding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from encore.errors import ConfigError
from encore.nn import TrainConfig, index_batches, train

X = torch.from_numpy(np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32))
Y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


def _loss(model: Any, idx: np.ndarray) -> Any:
    b = torch.from_numpy(idx)
    return ((model(X[b]) - Y[b]) ** 2).mean()


def _batches(rng: np.random.Generator) -> Any:
    return index_batches(len(X), 32, rng)


def _fit(seed: int, **cfg: Any) -> tuple[Any, Any]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    hist = train(
        model, _loss, _batches, lambda: index_batches(len(X), 64), TrainConfig(seed=seed, **cfg)
    )
    return model, hist


def test_learns_a_linear_map_and_records_the_curve(tmp_path: Path) -> None:
    model, hist = _fit(0, epochs=60, lr=0.05, patience=60)
    w = model.weight.detach().numpy().ravel()
    np.testing.assert_allclose(w, [1.0, -2.0, 0.5], atol=0.05)
    df = hist.frame()
    assert list(df["epoch"]) == list(range(1, len(df) + 1))
    assert df["train_loss"].iloc[-1] < df["train_loss"].iloc[0] / 10
    assert df["val_loss"].min() <= hist.best_loss <= df["val_loss"].min() + 1e-4  # min_delta
    assert (
        hist.save_csv(tmp_path / "c.csv").exists()
        and hist.plot(tmp_path / "c.png").stat().st_size > 0
    )


def test_early_stopping_restores_the_best_weights() -> None:
    # a learning rate far too high makes the validation loss rise: training must stop early
    model, hist = _fit(0, epochs=50, lr=5.0, patience=2, grad_clip=None)
    assert hist.stopped_early and len(hist.rows) < 50
    with torch.no_grad():
        final = float(_loss(model, np.arange(len(X))))
    assert final == pytest.approx(
        hist.best_loss, rel=0.5
    )  # weights of the best epoch, not the last


def test_same_seed_same_result() -> None:
    a, ha = _fit(3, epochs=5, lr=0.01)
    b, hb = _fit(3, epochs=5, lr=0.01)
    assert ha.frame()["train_loss"].tolist() == hb.frame()["train_loss"].tolist()
    assert torch.equal(a.weight, b.weight)


def test_bad_config() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(epochs=0)


def test_monitor_a_validation_metric() -> None:
    def loss_with_metric(model: Any, idx: np.ndarray) -> Any:
        loss = _loss(model, idx)
        with torch.no_grad():
            mae = float((model(X[torch.from_numpy(idx)]) - Y[torch.from_numpy(idx)]).abs().mean())
        return loss, {"mae": mae}

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    hist = train(
        model,
        loss_with_metric,
        _batches,
        lambda: index_batches(len(X), 64),
        TrainConfig(seed=0, epochs=5, lr=0.05, monitor="mae"),
    )
    df = hist.frame()
    assert {"train_mae", "val_mae"} <= set(df.columns)
    assert hist.best_loss == df["val_mae"].iloc[hist.best_epoch - 1]
    with pytest.raises(KeyError):
        train(
            torch.nn.Linear(3, 1),
            _loss,
            _batches,
            lambda: index_batches(len(X), 64),
            TrainConfig(seed=0, epochs=2, monitor="nope"),
        )


def test_keep_last_trains_every_epoch_and_keeps_the_last_weights() -> None:
    # the same diverging run that early-stops above: with keep_last every epoch runs and the
    # weights are the last epoch's, while the history still names the best epoch
    model, hist = _fit(0, epochs=8, lr=5.0, patience=2, grad_clip=None, keep_last=True)
    assert not hist.stopped_early and len(hist.rows) == 8
    with torch.no_grad():
        final = float(_loss(model, np.arange(len(X))))
    assert hist.best_epoch < 8
    assert final > hist.best_loss  # not the best epoch's weights
    assert final == pytest.approx(hist.rows[-1]["val_loss"], rel=0.05)
