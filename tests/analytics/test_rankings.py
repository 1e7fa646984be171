"""Top tracks and artist rankings per genre."""

from __future__ import annotations

import pandas as pd
import pytest
from analytics_helpers import RealData

from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.window import resolve_window
from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError


def test_tiny_top_tracks(tiny: Store) -> None:
    frame = top_tracks(tiny, resolve_window(tiny), n=5)
    assert list(frame.columns) == [
        "genre",
        "rank",
        "track_id",
        "track",
        "artist",
        "plays",
        "minutes",
        "skips",
        "listeners",
    ]
    got = [(r.genre, r.rank, r.track, r.plays) for r in frame.itertuples()]
    # jazz and rock both total 4 plays: genre name orders them
    assert got == [
        ("jazz", 1, "B1", 3),
        ("jazz", 2, "D1", 1),
        ("rock", 1, "A1", 3),
        ("rock", 2, "A2", 1),
        ("(unknown)", 1, "C1", 1),
    ]
    a1 = frame[frame["track"] == "A1"].iloc[0]
    assert a1["skips"] == 1 and a1["listeners"] == 3


def test_tiny_ties_are_deterministic(tiny: Store) -> None:
    w = resolve_window(tiny, "2021-01-07", "2021-01-09")
    # B1 and D1 tie on 1 play: minutes (100 s vs 50 s) decide
    tracks = top_tracks(tiny, w, genre="jazz")
    assert tracks["track"].tolist() == ["B1", "D1"]
    # Beta and Delta tie on 1 listener and 1 play: minutes decide; by plays the same
    artists = top_artists(tiny, w, genre="jazz", by="listeners")
    assert artists["artist"].tolist() == ["Beta", "Delta"]
    assert top_artists(tiny, w, genre="jazz", by="listeners").equals(artists)


def test_tiny_genre_filter_and_n(tiny: Store) -> None:
    w = resolve_window(tiny)
    one = top_tracks(tiny, w, n=1, genre="Rock")
    assert one["track"].tolist() == ["A1"] and one["genre"].tolist() == ["rock"]
    unknown = top_tracks(tiny, w, genre="unknown")
    assert unknown["track"].tolist() == ["C1"]
    artists = top_artists(tiny, w, by="minutes")
    assert artists[artists["genre"] == "rock"]["minutes"].tolist() == pytest.approx([900 / 60])


def test_unknown_genre_lists_the_closest(tiny: Store) -> None:
    with pytest.raises(UnknownIdError, match="unknown genre: 'jaz'") as err:
        top_tracks(tiny, resolve_window(tiny), genre="jaz")
    assert (err.value.hint or "").startswith("closest known genres: jazz")


def test_bad_options(tiny: Store) -> None:
    w = resolve_window(tiny)
    with pytest.raises(ConfigError, match="-n must be"):
        top_tracks(tiny, w, n=0)
    with pytest.raises(ConfigError, match="--by"):
        top_tracks(tiny, w, by="listeners")
    with pytest.raises(ConfigError, match="artists, not tracks"):
        top_tracks(tiny, resolve_window(tiny, measure="tags"))


def test_tiny_top_artists_by_tags(tiny: Store) -> None:
    frame = top_artists(tiny, resolve_window(tiny, measure="tags"))
    assert list(frame.columns) == [
        "genre",
        "rank",
        "artist_id",
        "artist",
        "tag_assignments",
        "taggers",
    ]
    assert set(zip(frame["genre"], frame["artist"], strict=True)) == {
        ("jazz", "Beta"),
        ("rock", "Alpha"),
        ("(not a genre tag)", "Beta"),
    }


# ---------------------------------------------------------------------- real data
def _ranked(part: pd.DataFrame, key: str, name_cols: list[str], by: str, n: int) -> pd.DataFrame:
    """Independent pandas ranking: the measure, the second measure, names, id."""
    counted = part[~part["skipped"]]
    g = (
        counted.groupby(["genre", key])
        .agg(
            plays=("ts", "size"),
            minutes=("ms_played", lambda s: s.sum() / 60000),
            listeners=("user_id", "nunique"),
        )
        .reset_index()
    )
    g = g.merge(part[[key, *name_cols]].drop_duplicates(key), on=key, how="left")
    g = g[g[by] > 0]
    tie = {"plays": "minutes", "minutes": "plays", "listeners": "plays"}[by]
    g = g.sort_values(
        ["genre", by, tie, *name_cols, key],
        ascending=[True, False, False, *[True] * len(name_cols), True],
        na_position="last",
    )
    g["rank"] = g.groupby("genre").cumcount() + 1
    return g[g["rank"] <= n]


@pytest.mark.parametrize("by", ["plays", "minutes"])
def test_real_top_tracks_match_pandas(real: RealData, by: str) -> None:
    start, end = "2024-06-01", "2025-08-31"
    frame = top_tracks(real.store, resolve_window(real.store, start, end), n=7, by=by)
    part = real.plays[(real.plays["ts"] >= start) & (real.plays["ts"] < "2025-09-01")]
    part = part[part["track_id"].notna()].copy()
    titles = real.tracks.set_index("track_id")["title"]
    names = real.artists.set_index("artist_id")["name"]
    part["track"] = part["track_id"].map(titles)
    part["artist"] = part["track_id"].map(real.tracks.set_index("track_id")["artist_id"]).map(names)
    exp = _ranked(part, "track_id", ["track", "artist"], by, 7)
    got = frame.sort_values(["genre", "rank"])
    assert len(got) == len(exp) > 30
    assert got["track_id"].tolist() == exp["track_id"].tolist()
    assert got["plays"].tolist() == exp["plays"].tolist()
    assert got["listeners"].tolist() == exp["listeners"].tolist()
    # genres in the order of their total, ranks 1..n inside each
    assert (
        frame.groupby("genre", sort=False)["rank"].apply(
            lambda r: r.tolist() == list(range(1, len(r) + 1))
        )
    ).all()


@pytest.mark.parametrize("by", ["plays", "listeners"])
def test_real_top_artists_match_pandas(real: RealData, by: str) -> None:
    frame = top_artists(
        real.store, resolve_window(real.store, "2024-01-01", "2025-12-31"), n=5, by=by
    )
    part = real.plays[(real.plays["ts"] >= "2024-01-01") & (real.plays["ts"] < "2026-01-01")]
    part = part[part["artist_id"].notna()].copy()
    part["artist"] = part["artist_id"].map(real.artists.set_index("artist_id")["name"])
    exp = _ranked(part, "artist_id", ["artist"], by, 5)
    got = frame.sort_values(["genre", "rank"])
    assert got["artist_id"].tolist() == exp["artist_id"].astype("int64").tolist()
    assert got[by].tolist() == pytest.approx(exp[by].tolist())


def test_real_top_artists_tag_popularity(real: RealData) -> None:
    frame = top_artists(
        real.store, resolve_window(real.store, source="hetrec2011"), n=3, genre="jazz"
    )
    assert frame.attrs["measure"] == "tags"
    w = resolve_window(real.store, source="hetrec2011")
    tags = real.tags[
        (real.tags["genre"] == "jazz") & (real.tags["ts"] >= w.start) & (real.tags["ts"] < w.end)
    ]
    exp = tags.groupby("artist_id").size().sort_values(ascending=False)
    assert frame["tag_assignments"].tolist() == exp.head(3).tolist()
