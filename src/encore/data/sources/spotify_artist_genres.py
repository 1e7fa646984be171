"""``spotify_artist_genres``: Spotify artist -> genre lists (Kaggle ``data_w_genres.csv`` copies).

Expected files (as in ``shared/data/spotify-artist-genres/``): one or more CSVs with
``artists`` and ``genres`` columns, where ``genres`` is a Python list literal such as
``"['dance pop', 'pop']"`` (``[]`` when Spotify lists none). Copies that also have the
artist-level audio-feature means (``acousticness ... popularity, key, mode, count``) add them.

What goes where:

- ``artist_tags``: one row per (artist, Spotify genre), weight 1, no user, no date. The same
  artist and genre listed twice (by both copies, or under two spellings that the catalogue's
  artist normalisation merges, e.g. ``Beyoncé``/``Beyonce``) is stored once, under the
  first spelling. This is the source that gives listening-history artists
  their genres: the writer matches artists by a normalised name (lower case, accents and
  punctuation folded), a superset of the exact lower-cased match the data README measures;
- ``artist_features``: the feature means under their Spotify names, ``count`` as
  ``track_count``; for a name listed twice in one file, the first row.

Artists with an empty genre list and no features carry no information and are not loaded.
``data_by_genres.csv`` (genre-level means) describes no artist or track, so it is skipped.

``genres`` is parsed by a strict regular expression in DuckDB (a list of single- or
double-quoted strings); anything else falls back to :func:`ast.literal_eval`, and a value
that is still not a list of strings is a bad row. ``artists`` is always read as text
(some artists are called ``3`` or ``112``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import pandas as pd

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._csv import RawTable, arrow, csv_files_with, csv_inputs, read_raw, validate
from encore.data.sources._toolkit import ident, is_number, num_expr, required, sql_str

REQUIRED = ("artists", "genres")
FEATURES = {
    "acousticness": "acousticness",
    "danceability": "danceability",
    "duration_ms": "duration_ms",
    "energy": "energy",
    "instrumentalness": "instrumentalness",
    "liveness": "liveness",
    "loudness": "loudness",
    "speechiness": "speechiness",
    "tempo": "tempo",
    "valence": "valence",
    "popularity": "popularity",
    "key": "key",
    "mode": "mode",
    "count": "track_count",
}
_ITEM = r"""('[^']*'|"[^"]*")"""
_LIST = rf"^\[\s*({_ITEM}(\s*,\s*{_ITEM})*)?\s*\]$"


def parse_genre_list(text: str) -> list[str] | None:
    """A ``"['a', 'b']"`` literal -> ``['a', 'b']``; None when it is not a list of strings."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class SpotifyArtistGenresLoader(Loader):
    """Spotify's genre lists per artist, plus artist-level audio-feature means."""

    name: ClassVar[str] = "spotify_artist_genres"
    description: ClassVar[str] = (
        "Spotify artist -> genre lists (data_w_genres.csv) and artist feature means"
    )
    priority: ClassVar[int] = 10

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A CSV (or folder with one) with ``artists`` and ``genres`` columns."""
        return bool(csv_files_with(path, REQUIRED))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every matching CSV; tags are de-duplicated across the files."""
        files = csv_inputs(path, REQUIRED)
        con = ctx.con
        staged = Staged()
        tag_parts: list[str] = []
        raws: list[RawTable] = []
        try:
            for i, file in enumerate(files):
                raw = read_raw(ctx, file, "artist_tags", label="spotify_genres", required=REQUIRED)
                raws.append(raw)
                feats = {c: f for c, f in FEATURES.items() if c in raw.columns}
                validate(
                    ctx, raw, "artist_tags", [required("artists"), *[is_number(c) for c in feats]]
                )
                self._fallback_lists(ctx, raw)
                tag_parts.append(
                    f"SELECT {i} AS f, _rec, {ident('artists')} AS artist, "
                    f"substr(g, 2, length(g) - 2) AS tag FROM (SELECT _rec, artists, "
                    f"unnest(regexp_extract_all(genres, {sql_str(_ITEM)})) AS g FROM {raw.name})"
                )
                if feats:
                    values = ", ".join(f"({sql_str(f)}, {num_expr(c)})" for c, f in feats.items())
                    staged.add(
                        "artist_features",
                        arrow(
                            con,
                            f"""
                        SELECT artist, u.feature, u.value FROM (
                            SELECT *, {ident("artists")} AS artist FROM {raw.name}
                            QUALIFY row_number() OVER (PARTITION BY artists ORDER BY _rec) = 1) x,
                        LATERAL (VALUES {values}) u(feature, value) WHERE u.value IS NOT NULL""",
                        ),
                    )
            staged.add(
                "artist_tags",
                arrow(
                    con,
                    f"""
                SELECT any_value(artist ORDER BY f, _rec) AS artist, tag, 1.0 AS weight
                FROM ({" UNION ALL ".join(tag_parts)}) WHERE trim(tag) <> ''
                GROUP BY COALESCE(NULLIF(enc_norm_artist(artist), ''), lower(artist)), tag""",
                ),
            )
        finally:
            for raw in raws:
                raw.drop(con)
        return staged

    @staticmethod
    def _fallback_lists(ctx: IngestContext, raw: RawTable) -> None:
        """Rewrite genre lists the regular expression does not accept, or reject their rows."""
        con = ctx.con
        odd = con.execute(
            f"SELECT _rec, genres FROM {raw.name} WHERE NOT regexp_matches(coalesce(genres, ''), ?)",
            [_LIST],
        ).fetchall()
        fixed: list[tuple[int, str]] = []
        bad: list[int] = []
        for rec, text in odd:
            if text is None or not text.strip():
                fixed.append((int(rec), "[]"))
                continue
            parsed = parse_genre_list(text)
            if parsed is None:
                ctx.reject(
                    "artist_tags",
                    raw.file,
                    raw.line(int(rec)),
                    "genres",
                    f"not a list of genre names ({text[:80]!r})",
                    text,
                )
                bad.append(int(rec))
            else:  # re-quote so the regular expression extracts them
                fixed.append(
                    (
                        int(rec),
                        "[" + ", ".join('"' + g.replace('"', "'") + '"' for g in parsed) + "]",
                    )
                )
        if bad:
            con.execute(f"DELETE FROM {raw.name} WHERE _rec IN (SELECT unnest(?::BIGINT[]))", [bad])
        if fixed:
            frame = pd.DataFrame(fixed, columns=["_rec", "genres"])
            con.register("_fixed_genres", frame)
            try:
                con.execute(
                    f"UPDATE {raw.name} SET genres = f.genres FROM _fixed_genres f "
                    f"WHERE {raw.name}._rec = f._rec"
                )
            finally:
                con.unregister("_fixed_genres")
