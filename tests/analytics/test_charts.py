"""Charts: every result draws to PNG and HTML, titled, with the window in the subtitle."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import pytest

from encore.analytics.charts import genre_colour, save_chart
from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import resolve_window
from encore.data.store import Store
from encore.errors import ConfigError


@pytest.mark.parametrize("what", ["genres", "top_tracks", "top_artists", "trend"])
def test_png_and_html(syn: Store, tmp_path: Path, what: str) -> None:
    w = resolve_window(syn)
    frame = {
        "genres": lambda: genre_popularity(syn, w),
        "top_tracks": lambda: top_tracks(syn, w, n=5),
        "top_artists": lambda: top_artists(syn, w, by="listeners"),
        "trend": lambda: genre_trend(syn, w, every="week"),
    }[what]()
    png = save_chart(frame, tmp_path / f"{what}.png")
    img = mpimg.imread(png)
    assert img.shape[0] > 400 and img.shape[1] > 800
    html = save_chart(frame, tmp_path / "sub" / f"{what}.html").read_text()
    first, last = w.label().split(" – ")
    assert (
        "plotly" in html and first in html and last in html
    )  # offline bundle, window in the subtitle
    title = {
        "genres": "Genre popularity by plays",
        "top_tracks": "Top tracks in each genre",
        "top_artists": "Top artists in each genre by distinct listeners",
        "trend": "Genre plays per week",
    }[what]
    assert title in html


def test_empty_result_still_draws_the_message(tiny: Store, tmp_path: Path) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny, "2030-01-01", "2030-01-31"))
    assert save_chart(frame, tmp_path / "empty.png").stat().st_size > 0
    assert "outside the data" in save_chart(frame, tmp_path / "empty.html").read_text()


def test_bad_suffix_and_foreign_frame(tiny: Store, tmp_path: Path) -> None:
    frame = genre_popularity(tiny, resolve_window(tiny))
    with pytest.raises(ConfigError, match=r"\.png or \.html"):
        save_chart(frame, tmp_path / "x.svg")
    with pytest.raises(ConfigError, match="not an analytics result"):
        save_chart(frame.copy().iloc[0:0].pipe(lambda f: f.__class__(f)), tmp_path / "x.png")


def test_unknown_bar_is_grey_and_colours_are_stable() -> None:
    assert genre_colour("(unknown)") == "#a0a0a0"
    assert genre_colour("jazz") == genre_colour("jazz") != genre_colour("rock")
