"""A torch module's weights as one flat array: round trip and a clear error on a mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encore.errors import DataError
from encore.nn.weights import flat_weights, load_flat_weights


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Linear(3, 2))


def test_round_trip_into_a_fresh_module() -> None:
    torch.manual_seed(0)
    a = _net()
    flat = flat_weights(a)
    assert flat.dtype == np.float32 and len(flat) == 5 * 3 + 3 * 2 + 2
    torch.manual_seed(1)
    b = load_flat_weights(_net(), flat, "test")
    assert not b.training
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_wrong_size_names_the_model_and_both_counts() -> None:
    flat = flat_weights(_net())
    with pytest.raises(
        DataError, match=r"saved sasrec weights hold 22 numbers, the config needs 23"
    ):
        load_flat_weights(_net(), flat[:-1], "sasrec")
