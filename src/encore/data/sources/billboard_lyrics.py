"""``billboard_lyrics``: full-text lyrics of Billboard year-end Hot 100 songs.

Expected file: a CSV with ``Rank, Song, Artist, Year, Lyrics`` (Kaylin Pavlik's "Billboard
Hot 100 lyrics 1964-2015" layout), as in ``shared/data/lyrics-billboard-hot100-sample/``.

What goes where:

- ``tracks``: title = ``Song``, artist = ``Artist`` (the scraper left a trailing newline:
  stripped), ``release_year`` = ``Year``. That is the chart year, which for a year-end chart
  is the release year or the one after; it only fills a year the catalogue lacks;
- ``lyrics``: ``Lyrics`` with ``processed = FALSE`` (verbatim text, lower-cased by the
  scraper);
- ``track_tags`` kind ``'chart'``: tag ``billboard-hot100-<year>``, ``weight`` = the
  year-end rank (1 = top of the chart; lower is better).

The undocumented ``Source`` column is not loaded. Line numbers in messages count records
(header = 1), since the lyrics hold line breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from encore.data.ingest import IngestContext, Staged
from encore.data.sources._csv import CsvFileLoader, RawTable, arrow, lyrics_rows, validate
from encore.data.sources._toolkit import int_expr, is_int, required, txt

REQUIRED = ("Rank", "Song", "Artist", "Year", "Lyrics")


class BillboardLyricsLoader(CsvFileLoader):
    """Billboard year-end Hot 100 songs with their full lyrics."""

    name: ClassVar[str] = "billboard_lyrics"
    description: ClassVar[str] = "Billboard year-end Hot 100 songs with full-text lyrics"
    priority: ClassVar[int] = 20

    required_columns: ClassVar[Sequence[str]] = REQUIRED
    raw_label: ClassVar[str] = "billboard"

    def load_raw(self, raw: RawTable, ctx: IngestContext, staged: Staged) -> None:
        """Read every matching CSV; a bad rank or year is rejected with its record's line."""
        con = ctx.con
        validate(
            ctx,
            raw,
            "tracks",
            [
                required("Song"),
                required("Artist"),
                is_int("Rank", 1),
                required("Year"),
                is_int("Year", 1000, 3000),
            ],
        )
        ref = f"{txt('Song')} AS track, {txt('Artist')} AS artist"
        staged.add(
            "tracks",
            arrow(
                con,
                f"""
            SELECT {ref}, CAST({int_expr("Year")} AS SMALLINT) AS release_year
            FROM {raw.name} ORDER BY _rec""",
            ),
        )
        staged.add("lyrics", lyrics_rows(con, raw, ref, "Lyrics", processed=False))
        staged.add(
            "track_tags",
            arrow(
                con,
                f"""
            SELECT {ref}, 'billboard-hot100-' || {int_expr("Year")} AS tag,
                   CAST({int_expr("Rank")} AS DOUBLE) AS weight, 'chart' AS kind
            FROM {raw.name} WHERE {int_expr("Rank")} IS NOT NULL ORDER BY _rec""",
            ),
        )
