"""``tcc_ceds``: "Music Dataset: Lyrics and Metadata from 1950 to 2019" (Moura et al., 2020).

Expected file: ``tcc_ceds_music.csv`` or the sample in ``shared/data/tcc-ceds-music-sample/``
(columns ``artist_name, track_name, release_date, genre, lyrics, len``, 16 topic/lexicon
scores, ``danceability, loudness, acousticness, instrumentalness, valence, energy, topic,
age``). The row id is ``orig_index`` in the sample, the unnamed first column in the original.

What goes where:

- ``tracks``: title, artist, ``genre_raw`` = ``genre``, ``release_year`` = ``release_date``;
  external id = the row id;
- ``lyrics``: ``lyrics`` with ``processed = TRUE`` (the authors lower-cased, removed stop
  words and lemmatised them: not verbatim lyrics);
- ``track_tags``: ``topic`` as kind ``'topic'``;
- ``track_features``: the six audio features under their own names (note: this dataset
  min-max normalised them, so ``loudness`` is in [0, 1] here, not dB), ``word_count`` =
  ``len``, and the 16 lexicon scores as ``topic_<name>`` (``world/life`` -> ``topic_world_life``).

``age`` (a normalised function of the year) and the sample's provenance column ``source``
are not loaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from encore.data.ingest import IngestContext, Staged
from encore.data.sources._csv import (
    CsvFileLoader,
    RawTable,
    arrow,
    feature_rows,
    lyrics_rows,
    tag_rows,
    validate,
)
from encore.data.sources._toolkit import (
    int_expr,
    is_int,
    is_number,
    required,
    txt,
)

REQUIRED = ("artist_name", "track_name", "release_date", "genre", "lyrics", "topic")
AUDIO = ("danceability", "loudness", "acousticness", "instrumentalness", "valence", "energy")
TOPICS = (
    "dating",
    "violence",
    "world/life",
    "night/time",
    "shake the audience",
    "family/gospel",
    "romantic",
    "communication",
    "obscene",
    "music",
    "movement/places",
    "light/visual perceptions",
    "family/spiritual",
    "like/girls",
    "sadness",
    "feelings",
)


def topic_feature(name: str) -> str:
    """Feature name of a lexicon score: ``world/life`` -> ``topic_world_life``."""
    return "topic_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class TccCedsLoader(CsvFileLoader):
    """Songs 1950-2019 with genre, preprocessed lyrics, topic and audio features."""

    name: ClassVar[str] = "tcc_ceds"
    description: ClassVar[str] = (
        "Music Dataset 1950-2019: genre, preprocessed lyrics, topic, valence/energy"
    )
    priority: ClassVar[int] = 20

    required_columns: ClassVar[Sequence[str]] = REQUIRED
    raw_label: ClassVar[str] = "tcc"

    def load_raw(self, raw: RawTable, ctx: IngestContext, staged: Staged) -> None:
        """Read every matching CSV; bad years and scores are rejected with their line."""
        con = ctx.con
        row_id = "orig_index" if "orig_index" in raw.columns else raw.columns[0]
        if row_id in REQUIRED:  # no id column at all
            row_id = "_rec"
        feats = {c: c for c in AUDIO if c in raw.columns}
        feats.update({t: topic_feature(t) for t in TOPICS if t in raw.columns})
        if "len" in raw.columns:
            feats["len"] = "word_count"
        validate(
            ctx,
            raw,
            "tracks",
            [
                required("track_name"),
                required("artist_name"),
                is_int("release_date", 0, 3000),
                *[is_number(c) for c in feats],
            ],
        )
        ext = "CAST(_rec AS VARCHAR)" if row_id == "_rec" else txt(row_id)
        ref = f"{ext} AS track_ext, {txt('track_name')} AS track, {txt('artist_name')} AS artist"
        staged.add(
            "tracks",
            arrow(
                con,
                f"""
            SELECT {ref}, {txt("genre")} AS genre_raw,
                   CAST({int_expr("release_date")} AS SMALLINT) AS release_year
            FROM {raw.name} ORDER BY _rec""",
            ),
        )
        staged.add("lyrics", lyrics_rows(con, raw, ref, "lyrics", processed=True))
        staged.add("track_tags", tag_rows(con, raw, ref, "topic", kind="topic"))
        if feats:
            staged.add("track_features", feature_rows(con, raw, ref, feats))
