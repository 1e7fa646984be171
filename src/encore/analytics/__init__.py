"""Encore analytics: genre popularity, top tracks and artists per genre, genre trends.

Every question runs in SQL on the store over a :class:`~encore.analytics.window.Window`
and returns a :class:`pandas.DataFrame`; :func:`~encore.analytics.charts.save_chart`
draws any of them as PNG or interactive HTML.
"""

from encore.analytics.api import run
from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import Window, resolve_window

__all__ = [
    "Window",
    "genre_popularity",
    "genre_trend",
    "resolve_window",
    "run",
    "top_artists",
    "top_tracks",
]
