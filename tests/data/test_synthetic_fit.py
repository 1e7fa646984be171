"""The synthetic generator fitted to real listening histories (two real histories, small)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.data.synthetic import generate
from encore.data.synthetic_fit import fit_listening, generate_fitted
from encore.errors import ConfigError, DataError


def test_fit_and_generate_follow_the_real_histories(shared_data: Path, tmp_path: Path) -> None:
    with Store(tmp_path / "real.duckdb") as real:
        for loader, folder in (("spotify_basic", "user_09"), ("spotify_extended", "user_03")):
            ingest(real, get_loader(loader), shared_data / "listening-histories" / folder)
        fit = fit_listening(real)
    assert fit.users == 2 and fit.events > 10_000
    assert 1 < fit.session_mean < 100 and 0 < fit.skip_rate < 1
    assert 0.2 < fit.track_zipf < 3 and len(fit.hour_weights) == 24
    assert sum(fit.hour_weights) == pytest.approx(1.0)
    with Store(tmp_path / "syn.duckdb") as syn:
        generate_fitted(syn, 60_000, fit, seed=1, days=120)
        again = fit_listening(syn)
    # what the generator draws directly comes back (sessions, daily rhythm, skips)
    assert again.session_mean == pytest.approx(fit.session_mean, rel=0.15)
    assert np.corrcoef(again.hour_weights, fit.hour_weights)[0, 1] > 0.9
    assert again.skip_rate == pytest.approx(fit.skip_rate, abs=0.06)


def test_bad_inputs(tmp_path: Path) -> None:
    with Store(tmp_path / "e.duckdb") as store:
        with pytest.raises(DataError, match="no events"):
            fit_listening(store)
        with pytest.raises(ConfigError, match="24 non-negative"):
            generate(store, 100, hour_weights=[1.0] * 23)
        with pytest.raises(ConfigError, match="probabilities"):
            generate(store, 100, skip_rates=(0.1, 1.5))
