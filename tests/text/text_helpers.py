"""Helpers shared by the text tests."""

from __future__ import annotations

import hashlib

import numpy as np


def hashed_embed(texts: list[str]) -> np.ndarray:
    """A fast stand-in for the sentence encoder: unit-length hashed bags of words, so that
    lines sharing words are similar (deterministic, no model load)."""
    out = np.zeros((len(texts), 64))
    for i, text in enumerate(texts):
        for w in text.lower().split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1)
