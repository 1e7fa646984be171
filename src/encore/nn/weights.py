"""A torch module's weights as one flat float32 array, the form a model file keeps.

The saved-model format (:mod:`encore.persistence`) stores NumPy arrays, no pickle: a torch
recommender keeps its ``state_dict`` flattened in ``state_dict`` order and, on load, pours
it back into a freshly built module of the same config.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from encore.errors import DataError


def flat_weights(module: Any) -> np.ndarray:
    """Every tensor of ``module.state_dict()``, raveled in order, as one float32 array."""
    return np.concatenate(
        [p.detach().numpy().ravel() for p in module.state_dict().values()]
    ).astype(np.float32)


def load_flat_weights(module: Any, flat: np.ndarray, owner: str) -> Any:
    """Load what :func:`flat_weights` wrote into ``module`` (built with the same config).

    Parameters
    ----------
    module:
        A ``torch.nn.Module`` of the saved shape; loaded in place.
    flat:
        The saved array.
    owner:
        The model's name, for the error message.

    Returns
    -------
    Any
        ``module``, in eval mode.

    Raises
    ------
    DataError
        If the array does not hold exactly the module's number of weights.
    """
    import torch

    state = module.state_dict()
    values = np.asarray(flat, dtype=np.float32)
    total = sum(int(v.numel()) for v in state.values())
    if total != len(values):
        raise DataError(
            f"the saved {owner} weights hold {len(values)} numbers, the config needs {total}"
        )
    off = 0
    new = {}
    for key, value in state.items():
        n = int(value.numel())
        new[key] = torch.from_numpy(values[off : off + n].copy()).reshape(value.shape)
        off += n
    module.load_state_dict(new)
    return module.eval()
