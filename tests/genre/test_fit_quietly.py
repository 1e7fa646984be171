"""A classifier that stops at its iteration limit says so in one log line, instead of
scikit-learn's ten-line ConvergenceWarning in the middle of `make demo` (the genre
resolution in the analytics step printed it)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from encore.genre.classifier import fit_quietly


def test_iteration_limit_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    y = rng.integers(0, 4, size=200)
    clf = LogisticRegression(max_iter=2, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes fails the test
        with caplog.at_level(logging.INFO, logger="encore.genre.classifier"):
            fitted = fit_quietly(clf, x, y)
    assert fitted is clf and hasattr(clf, "coef_")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "stopped at its limit of 2 iterations" in lines[0]


def test_converged_fit_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    with caplog.at_level(logging.INFO, logger="encore.genre.classifier"):
        fit_quietly(LogisticRegression(max_iter=200), x, y)
    assert not caplog.records
