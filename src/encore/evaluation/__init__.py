"""Encore evaluation: leak-free splits, full-ranking metrics, model comparison, reports.

Modules: :mod:`~encore.evaluation.splits` (global temporal, last-n, random holdout, files
made elsewhere), :mod:`~encore.evaluation.metrics` (per-user top-k metrics),
:mod:`~encore.evaluation.stats` (paired bootstrap), :mod:`~encore.evaluation.runner`
(fit and score models on one split), :mod:`~encore.evaluation.tuning` (grid search on a
validation split), :mod:`~encore.evaluation.report` (Markdown/CSV/JSON and charts) and
:mod:`~encore.evaluation.cli` (``encore evaluate``, ``encore recommend``).
"""
