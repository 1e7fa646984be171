"""Shared PyTorch utilities: a seeded training loop with early stopping (:mod:`encore.nn.trainer`).

torch is imported lazily inside the functions, so importing this package is cheap.
"""

from encore.nn.trainer import History, TrainConfig, index_batches, seed_everything, train

__all__ = ["History", "TrainConfig", "index_batches", "seed_everything", "train"]
