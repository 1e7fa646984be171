"""Per-user features on a tiny store whose every value is worked out by hand."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from encore.data.store import Store
from encore.errors import ConfigError
from encore.segments.features import GROUPS, FeatureBuilder, candidate_users, group_of, top_genres

USERS = ["t:u1", "t:u2", "t:u3"]


def _h(*p: float) -> float:
    return -sum(x * math.log2(x) for x in p if x > 0)


@pytest.fixture
def feats(tiny_store: Store) -> pd.DataFrame:
    builder = FeatureBuilder(top_artists=1).fit(tiny_store, USERS)
    return builder.transform(tiny_store, USERS)


def test_candidate_users(tiny_store: Store) -> None:
    assert candidate_users(tiny_store) == USERS
    assert candidate_users(tiny_store, "t") == USERS
    assert candidate_users(tiny_store, "hetrec") == []


def test_profile_features(feats: pd.DataFrame) -> None:
    # window end = the last event, 2020-01-04 10:00; u1 registered 368 days earlier
    assert feats.loc["t:u1", "tenure_years"] == pytest.approx(368 / 365.25)
    assert feats.loc["t:u2", "tenure_years"] == pytest.approx(3 / 365.25)
    assert np.isnan(feats.loc["t:u3", "tenure_years"])
    assert feats.loc["t:u1", "age"] == 30 and np.isnan(feats.loc["t:u3", "age"])
    assert (feats.loc["t:u1", "gender_f"], feats.loc["t:u1", "gender_m"]) == (1.0, 0.0)
    assert np.isnan(feats.loc["t:u3", "gender_f"])
    assert feats.loc["t:u1", "region_europe"] == 1.0
    assert feats.loc["t:u2", "region_north_america"] == 1.0


def test_genre_shares(feats: pd.DataFrame) -> None:
    assert feats.loc["t:u1", "gp_rock"] == pytest.approx(2 / 3)
    assert feats.loc["t:u1", "gp_jazz"] == pytest.approx(1 / 3)
    # minutes: rock 200 s + 10 s, jazz 200 s
    assert feats.loc["t:u1", "gm_rock"] == pytest.approx(210 / 410)
    # u3's 10 play-count plays of Artist A have no known genre: only the pop event counts
    assert feats.loc["t:u3", "gp_pop"] == pytest.approx(1.0)
    assert feats.loc["t:u1", "gl_pop"] == 1.0 and np.isnan(feats.loc["t:u2", "gl_pop"])
    assert feats.loc["t:u2", "gt_jazz"] == 1.0 and np.isnan(feats.loc["t:u1", "gt_jazz"])
    gp = feats[[c for c in feats.columns if c.startswith("gp_")]]
    np.testing.assert_allclose(gp.sum(axis=1), 1.0)


def test_behaviour(feats: pd.DataFrame) -> None:
    assert feats.loc["t:u1", "skip_rate"] == pytest.approx(1 / 3)  # 10 s of a 200 s track
    assert feats.loc["t:u3", "skip_rate"] == 1.0  # 60 s < half of 200 s
    assert feats.loc["t:u1", "active_days"] == 2 and feats.loc["t:u1", "plays_per_day"] == 1.5
    assert feats.loc["t:u3", "log_plays"] == pytest.approx(math.log10(1 + 11))
    assert feats.loc["t:u1", "genre_entropy"] == pytest.approx(_h(2 / 3, 1 / 3))
    assert feats.loc["t:u3", "artist_entropy"] == pytest.approx(_h(10 / 11, 1 / 11))
    # global top-1 artist: A, B and C have two listeners each; A has the most plays
    assert feats.loc["t:u1", "mainstream"] == pytest.approx(2 / 3)
    assert feats.loc["t:u2", "mainstream"] == 0.0
    assert feats.loc["t:u3", "mainstream"] == pytest.approx(10 / 11)
    tod = feats.loc["t:u1", ["tod_night", "tod_morning", "tod_afternoon", "tod_evening"]]
    np.testing.assert_allclose(tod.to_numpy(dtype=float), [1 / 3, 1 / 3, 0, 1 / 3])
    assert all(group_of(c) in GROUPS for c in feats.columns)
    assert any(c.startswith("cf_") for c in feats.columns)


def test_window_restricts_events(tiny_store: Store) -> None:
    b = FeatureBuilder(until=datetime(2020, 1, 2), groups=("genre_plays", "skip", "tenure"))
    feats = b.fit(tiny_store, USERS).transform(tiny_store, USERS)
    assert feats.loc["t:u1", "gp_rock"] == 1.0  # the jazz play of Jan 2 is outside
    assert feats.loc["t:u1", "skip_rate"] == 0.5
    assert feats.loc["t:u1", "tenure_years"] == pytest.approx(366 / 365.25)
    assert np.isnan(feats.loc["t:u2", "skip_rate"])
    assert set(map(group_of, feats.columns)) == {"genre_plays", "skip", "tenure"}


def test_top_genres(feats: pd.DataFrame) -> None:
    tg = top_genres(feats)
    assert tg["t:u1"] == "rock, jazz"
    assert tg["t:u3"] == "pop"


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="unknown feature group"):
        FeatureBuilder(groups=("genre_plays", "astrology"))
    with pytest.raises(ConfigError, match="empty window"):
        FeatureBuilder(since=datetime(2021, 1, 1), until=datetime(2020, 1, 1))
