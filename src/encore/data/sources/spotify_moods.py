"""``spotify_moods``: Spotify tracks with audio features and a mood label (``data_moods.csv``).

Expected file: a CSV with ``name, album, artist, id, release_date, length, mood`` and the
Spotify audio features (``danceability ... time_signature``, ``popularity``), as in
``shared/data/spotify-moods/``.

What goes where:

- ``tracks``: title, artist, album, ``track_uri`` = ``spotify:track:<id>`` (so plays from
  Spotify exports that carry the URI match exactly), ``duration_ms`` = ``length``,
  ``release_year`` from ``release_date`` (``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``:
  Spotify's release-date precision);
- ``albums``: the album with its release year;
- ``track_features``: ``popularity`` and every audio feature under its Spotify name;
- ``track_tags``: ``mood`` (Happy, Sad, Energetic, Calm) as kind ``'mood'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from encore.data.ingest import IngestContext, Staged
from encore.data.sources._csv import (
    CsvFileLoader,
    RawTable,
    arrow,
    feature_rows,
    tag_rows,
    validate,
)
from encore.data.sources._toolkit import (
    Check,
    int_expr,
    is_int,
    is_number,
    required,
    txt,
)

REQUIRED = ("name", "album", "artist", "id", "release_date", "length", "mood")
#: Spotify's audio features of a track (what the mood evaluation reads from the sound)
AUDIO_FEATURES = (
    "danceability",
    "acousticness",
    "energy",
    "instrumentalness",
    "liveness",
    "valence",
    "loudness",
    "speechiness",
    "tempo",
)
FEATURES = ("popularity", *AUDIO_FEATURES, "key", "time_signature")


class SpotifyMoodsLoader(CsvFileLoader):
    """Spotify tracks labelled Happy / Sad / Energetic / Calm, with audio features."""

    name: ClassVar[str] = "spotify_moods"
    description: ClassVar[str] = (
        "Spotify tracks with audio features and a mood label (data_moods.csv)"
    )
    priority: ClassVar[int] = 20

    required_columns: ClassVar[Sequence[str]] = REQUIRED
    raw_label: ClassVar[str] = "moods"

    def load_raw(self, raw: RawTable, ctx: IngestContext, staged: Staged) -> None:
        """Read every matching CSV; bad dates, lengths and features are rejected with their line."""
        con = ctx.con
        feats = [f for f in FEATURES if f in raw.columns]
        staged.fields["tracks"] = {"duration_ms": "length"}
        validate(
            ctx,
            raw,
            "tracks",
            [
                required("id"),
                required("name"),
                is_int("length", 0),
                Check(
                    f"{txt('release_date')} IS NOT NULL AND NOT regexp_full_match({txt('release_date')}, "
                    r"'\d{4}(-\d{1,2}(-\d{1,2})?)?')",
                    "release_date",
                    "not a release date (YYYY-MM-DD, YYYY-MM or YYYY)",
                ),
                *[is_number(f) for f in feats],
            ],
        )
        ref = (
            f"'spotify:track:' || {txt('id')} AS track_uri, {txt('name')} AS track, "
            f"{txt('artist')} AS artist, {txt('album')} AS album"
        )
        year = f"CAST(left({txt('release_date')}, 4) AS SMALLINT)"
        staged.add(
            "tracks",
            arrow(
                con,
                f"""
            SELECT {ref}, {int_expr("length")} AS duration_ms, {year} AS release_year,
                   {raw.provenance()}
            FROM {raw.name} ORDER BY _rec""",
            ),
        )
        staged.add(
            "albums",
            arrow(
                con,
                f"""
            SELECT {txt("album")} AS album, {txt("artist")} AS artist, min({year}) AS release_year
            FROM {raw.name} WHERE {txt("album")} IS NOT NULL GROUP BY ALL""",
            ),
        )
        staged.add("track_tags", tag_rows(con, raw, ref, "mood", kind="mood"))
        if feats:
            staged.add("track_features", feature_rows(con, raw, ref, {f: f for f in feats}))
