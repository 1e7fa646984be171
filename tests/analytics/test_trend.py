"""Genre trend per week and month."""

from __future__ import annotations

import pandas as pd
import pytest
from analytics_helpers import RealData

from encore.analytics.genres import genre_popularity
from encore.analytics.trend import genre_trend
from encore.analytics.window import resolve_window
from encore.data.store import Store
from encore.errors import ConfigError


def test_tiny_monthly(tiny: Store) -> None:
    frame = genre_trend(tiny, resolve_window(tiny, "2021-01-01", "2021-02-28"), every="month")
    assert list(frame.columns) == [
        "period",
        "genre",
        "plays",
        "minutes",
        "skips",
        "listeners",
        "share",
    ]
    # full grid: 2 months x 3 genres
    assert len(frame) == 6
    jan = frame[frame["period"] == "2021-01-01"].set_index("genre")
    feb = frame[frame["period"] == "2021-02-01"].set_index("genre")
    assert jan.loc["rock", "plays"] == 3 and feb.loc["rock", "plays"] == 1
    assert jan.loc["jazz", "plays"] == 4 and feb.loc["jazz", "plays"] == 0
    assert feb.loc["rock", "share"] == 1.0
    assert jan["share"].sum() == pytest.approx(1.0)
    # no partial months; the only note is the coverage footer every answer ends with
    (footer,) = frame.attrs["notes"]
    assert footer.startswith("coverage of the window's plays: genre 88.9 % observed")


def test_tiny_weekly_partial_and_genre_filter(tiny: Store) -> None:
    frame = genre_trend(
        tiny, resolve_window(tiny, "2021-01-01", "2021-01-09"), every="week", genres=["jazz"]
    )
    # 2021-01-01 is a Friday: its ISO week starts on Monday 2020-12-28
    assert frame["period"].dt.strftime("%Y-%m-%d").tolist() == ["2020-12-28", "2021-01-04"]
    assert frame["genre"].unique().tolist() == ["jazz"]
    assert frame["plays"].tolist() == [0, 4]
    assert any("partly inside" in n for n in frame.attrs["notes"])
    with pytest.raises(ConfigError, match="--every"):
        genre_trend(tiny, resolve_window(tiny), every="day")


@pytest.mark.parametrize("every", ["week", "month"])
def test_real_trend_matches_pandas(real: RealData, every: str) -> None:
    start, end = "2024-09-01", "2025-06-30"
    w = resolve_window(real.store, start, end)
    frame = genre_trend(real.store, w, every=every, by="minutes")
    part = real.plays[
        (real.plays["ts"] >= start) & (real.plays["ts"] < "2025-07-01") & ~real.plays["skipped"]
    ]
    freq = "W-MON" if every == "week" else "MS"
    period = part["ts"].dt.to_period("W-SUN" if every == "week" else "M").dt.start_time
    exp = (
        part.assign(period=period)
        .groupby(["period", "genre"])
        .agg(
            plays=("ts", "size"),
            minutes=("ms_played", lambda s: s.sum() / 60000),
            listeners=("user_id", "nunique"),
        )
    )
    got = frame.set_index(["period", "genre"])
    nonzero = got[got["plays"] > 0]
    assert len(nonzero) == len(exp)
    assert (nonzero.loc[exp.index, "plays"] == exp["plays"]).all()
    assert (nonzero.loc[exp.index, "listeners"] == exp["listeners"]).all()
    assert nonzero.loc[exp.index, "minutes"].to_numpy() == pytest.approx(exp["minutes"].to_numpy())
    # the grid has every period of the window, even ones without plays
    periods = pd.date_range(
        pd.Timestamp(start).to_period("W-SUN" if every == "week" else "M").start_time,
        end,
        freq=freq,
    )
    assert sorted(frame["period"].unique()) == list(periods)
    # summed over periods, the trend is the genre histogram
    totals = frame.groupby("genre")["plays"].sum()
    hist = genre_popularity(real.store, w).set_index("genre")["plays"]
    pd.testing.assert_series_equal(totals.sort_index(), hist.sort_index(), check_names=False)
