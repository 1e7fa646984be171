"""Genre popularity: exact answers on the tiny store, pandas cross-checks on real data."""

from __future__ import annotations

import pandas as pd
import pytest
from analytics_helpers import RealData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encore.analytics.genres import genre_popularity
from encore.analytics.window import resolve_window
from encore.data.store import Store
from encore.errors import ConfigError


def test_tiny_exact(tiny: Store) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny))
    assert list(frame.columns) == ["genre", "plays", "minutes", "skips", "listeners", "share"]
    # jazz and rock tie on 4 plays: the genre name breaks the tie
    assert frame["genre"].tolist() == ["jazz", "rock", "(unknown)"]
    rows = frame.set_index("genre")
    assert rows.loc["rock", "plays"] == 4 and rows.loc["rock", "skips"] == 1
    assert rows.loc["rock", "minutes"] == pytest.approx(900 / 60)
    assert rows.loc["jazz", "minutes"] == pytest.approx(350 / 60)
    assert rows.loc["jazz", "listeners"] == 3 and rows.loc["(unknown)", "listeners"] == 1
    assert frame["share"].sum() == pytest.approx(1.0)
    assert rows.loc["(unknown)", "share"] == pytest.approx(1 / 9)


def test_tiny_by_minutes_and_skips(tiny: Store) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny), by="minutes")
    assert frame["genre"].tolist() == ["rock", "jazz", "(unknown)"]
    assert frame.attrs["by"] == "minutes"
    with_skips = genre_popularity(tiny, resolve_window(tiny, include_skips=True)).set_index("genre")
    assert with_skips.loc["rock", "plays"] == 5 and with_skips.loc["rock", "skips"] == 1
    assert with_skips.loc["rock", "minutes"] == pytest.approx(910 / 60)
    with pytest.raises(ConfigError, match="--by"):
        genre_popularity(tiny, resolve_window(tiny), by="listeners")


def test_tiny_tag_popularity(tiny: Store) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny, measure="tags"))
    assert list(frame.columns) == ["genre", "tag_assignments", "taggers", "share"]
    assert dict(zip(frame["genre"], frame["tag_assignments"], strict=True)) == {
        "(not a genre tag)": 1,
        "jazz": 1,
        "rock": 1,
    }
    assert frame.attrs["measure"] == "tags"


# ---------------------------------------------------------------------- real data
def _expected(
    plays: pd.DataFrame, start: str | None, end: str | None, include_skips: bool = False
) -> pd.DataFrame:
    part = plays
    if start is not None:
        part = part[part["ts"] >= pd.Timestamp(start)]
    if end is not None:
        part = part[part["ts"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    counted = part if include_skips else part[~part["skipped"]]
    out = counted.groupby("genre").agg(
        plays=("ts", "size"),
        minutes=("ms_played", lambda s: s.sum() / 60000),
        listeners=("user_id", "nunique"),
    )
    out["skips"] = part[part["skipped"]].groupby("genre").size()
    return out.fillna({"skips": 0})


@pytest.mark.parametrize(
    ("start", "end", "include_skips"),
    [
        ("2024-01-01", "2025-12-31", False),
        ("2024-06-01", "2024-11-30", True),
        ("2025-04-01", "2025-05-15", False),
    ],
)
def test_real_matches_pandas(real: RealData, start: str, end: str, include_skips: bool) -> None:
    frame = genre_popularity(
        real.store, resolve_window(real.store, start, end, include_skips=include_skips)
    )
    exp = _expected(real.plays, start, end, include_skips)
    got = frame.set_index("genre")
    assert not frame.empty and "(unknown)" in got.index  # unknown genre shown, not dropped
    assert sorted(got.index[got["plays"] > 0]) == sorted(exp.index)
    # every play in the window is in exactly one bar
    part = real.plays[
        (real.plays["ts"] >= start) & (real.plays["ts"] < pd.Timestamp(end) + pd.Timedelta(days=1))
    ]
    n_window = len(part) if include_skips else int((~part["skipped"]).sum())
    assert got["plays"].sum() == n_window
    for genre, row in exp.iterrows():
        assert got.loc[genre, "plays"] == row["plays"], genre
        assert got.loc[genre, "minutes"] == pytest.approx(row["minutes"]), genre
        assert got.loc[genre, "listeners"] == row["listeners"], genre
        assert got.loc[genre, "skips"] == row["skips"], genre


def test_real_source_filter_and_default_window(real: RealData) -> None:
    w = resolve_window(real.store, source="spotify_basic")
    frame = genre_popularity(real.store, w)
    src = real.plays[real.plays["source"] == "spotify_basic"]
    last = src["ts"].max().normalize() + pd.Timedelta(days=1)
    exp = src[(src["ts"] >= last - pd.Timedelta(days=365)) & (src["ts"] < last) & ~src["skipped"]]
    assert frame["plays"].sum() == len(exp)
    got = frame.set_index("genre")["plays"]
    pd.testing.assert_series_equal(
        got[got > 0].sort_index(),
        exp.groupby("genre").size().sort_index(),
        check_names=False,
        check_dtype=False,
    )


def test_real_scrobbles_have_plays_but_no_minutes(real: RealData) -> None:
    frame = genre_popularity(real.store, resolve_window(real.store, source="lastfm_csv"))
    assert frame["plays"].sum() > 0 and frame["minutes"].sum() == 0
    assert any("no duration" in n for n in frame.attrs["notes"])


def test_real_hetrec_is_tag_popularity(real: RealData) -> None:
    w = resolve_window(real.store, "2005-01-01", "2011-12-31", source="hetrec2011")
    assert w.measure == "tags" and any("tag popularity" in n for n in w.notes)
    frame = genre_popularity(real.store, w)
    tags = real.tags[
        (real.tags["source"] == "hetrec2011")
        & (real.tags["ts"] >= "2005-01-01")
        & (real.tags["ts"] < "2012-01-01")
    ]
    assert frame["tag_assignments"].sum() == len(tags)
    exp = tags.groupby("genre").agg(n=("ts", "size"), who=("user_id", "nunique"))
    got = frame.set_index("genre")
    assert (got.loc[exp.index, "tag_assignments"] == exp["n"]).all()
    assert (got.loc[exp.index, "taggers"] == exp["who"]).all()
    assert any("tag popularity" in n for n in frame.attrs["notes"])


# ---------------------------------------------------------------------- property
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.integers(0, 729), length=st.integers(0, 200), skips=st.booleans())
def test_bars_add_up_to_plays_in_any_window(syn: Store, a: int, length: int, skips: bool) -> None:
    start = pd.Timestamp("2023-01-01") + pd.Timedelta(days=a)
    end = start + pd.Timedelta(days=length)
    w = resolve_window(syn, start.date(), end.date(), include_skips=skips)
    frame = genre_popularity(syn, w)
    cond = "" if skips else " AND NOT skipped"
    n = syn.scalar(
        f"SELECT count(*) FROM events WHERE ts >= ? AND ts < ?{cond}",
        [start.to_pydatetime(), (end + pd.Timedelta(days=1)).to_pydatetime()],
    )
    assert (frame["plays"].sum() if not frame.empty else 0) == n


def test_matches_a_plain_group_by_of_the_plays_view(syn: Store) -> None:
    """The optimised query (aggregate first, join later) equals grouping one row per play."""
    w = resolve_window(syn, "2024-02-01", "2024-07-31")
    base, params = w.base_sql()
    plain = syn.df(
        f"SELECT genre, count(*) FILTER (WHERE NOT skipped) AS plays, count(*) FILTER (WHERE skipped) AS skips, "
        f"count(DISTINCT user_id) FILTER (WHERE NOT skipped) AS listeners FROM ({base}) GROUP BY genre",
        params,
    ).set_index("genre")
    got = genre_popularity(syn, w).set_index("genre")
    for col in ("plays", "skips", "listeners"):
        assert got[col].sort_index().tolist() == plain[col].sort_index().tolist(), col


def test_minutes_are_the_plays_views_observed_minutes(real: RealData) -> None:
    """One minutes rule: each bar's minutes is the ``plays`` view's ``minutes`` summed (a play
    of unknown length, NULL there, adds nothing), and the note counts those plays."""
    w = resolve_window(real.store, "2000-01-01", "2030-12-31")
    frame = genre_popularity(real.store, w)
    view = real.store.df(
        "SELECT COALESCE(genre, '(unknown)') AS genre, COALESCE(sum(minutes), 0) AS minutes, "
        "count(*) FILTER (WHERE minutes IS NULL) AS unknown_length "
        "FROM plays WHERE NOT COALESCE(skipped, FALSE) GROUP BY 1"
    ).set_index("genre")
    got = frame.set_index("genre")
    assert sorted(got.index) == sorted(view.index)
    for genre, minutes in view["minutes"].items():
        assert got.loc[genre, "minutes"] == pytest.approx(minutes, rel=1e-12), genre
    unknown = int(view["unknown_length"].sum())
    assert unknown > 0 and any(
        n.startswith(f"{unknown:,} plays have no duration") for n in frame.attrs["notes"]
    )
