"""``fma``: FMA (Free Music Archive) genre taxonomy and track -> genre labels.

Expected files (as in ``shared/data/fma-genres/``): ``genres.csv`` (``genre_id, #tracks,
parent, title, top_level``: the 163-genre taxonomy) and one or more track label files with
``subset, split, track_id, genre_top, genres`` (``genres`` = a list of genre ids such as
``[45, 58]``), extracted from FMA's ``tracks.csv``.

What goes where:

- ``tracks``: external id = FMA ``track_id``; title ``FMA track <id>`` (the label files carry
  no titles or artists: FMA's full ``tracks.csv`` is not part of this format);
  ``genre_raw`` = ``genre_top`` (the top-level genre name);
- ``track_tags`` kind ``'genre'``: every genre of the ``genres`` list, by its taxonomy title
  (e.g. ``Loud-Rock``, ``Psych-Rock``), weight 1;
- ``track_tags`` kind ``'split'``: ``<subset>:<split>`` (e.g. ``small:training``), so the
  official FMA train/validation/test split can be reproduced.

The taxonomy itself is used only to name genre ids; it is not stored (the store's coarse
genre vocabulary is Encore's own). A genre id missing from the taxonomy, or a ``genres``
value that is not a list of integers, is a bad row. Without ``genres.csv`` the genre ids are
stored as tags ``fma:<id>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources._csv import RawTable, arrow, csv_files_with, csv_inputs, read_raw, validate
from encore.data.sources._toolkit import Check, duplicate, is_int, required, txt

TAXONOMY = ("genre_id", "parent", "title", "top_level")
LABELS = ("subset", "split", "track_id", "genre_top", "genres")
#: A list of genre ids; each id has at most 18 digits, so that it fits a 64-bit integer.
_LIST = r"'^\[\s*(\d{1,18}\s*(,\s*\d{1,18}\s*)*)?\]$'"


class FmaLoader(Loader):
    """FMA track genre labels (small/medium subsets, with the official splits)."""

    name: ClassVar[str] = "fma"
    description: ClassVar[str] = (
        "FMA genre taxonomy and track->genre labels (small/medium, with splits)"
    )
    priority: ClassVar[int] = 20

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A CSV (or folder with one) with ``subset, split, track_id, genre_top, genres``."""
        return bool(csv_files_with(path, LABELS))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read the taxonomy (if present) and every label file."""
        files = csv_inputs(path, LABELS) if path.is_dir() else [path]
        con = ctx.con
        staged = Staged()
        taxonomy: RawTable | None = None
        tax_files = csv_files_with(path.parent if path.is_file() else path, TAXONOMY)
        try:
            if tax_files:
                taxonomy = read_raw(ctx, tax_files[0], "track_tags", label="fma_genres")
                validate(
                    ctx,
                    taxonomy,
                    "track_tags",
                    [
                        required("genre_id"),
                        is_int("genre_id"),
                        required("title"),
                        Check(
                            duplicate(taxonomy.name, txt("genre_id"), "_rec"),
                            "genre_id",
                            "duplicate genre_id",
                        ),
                    ],
                )
            for file in files:
                self._labels(ctx, file, taxonomy, staged)
        finally:
            if taxonomy is not None:
                taxonomy.drop(con)
        return staged

    def _labels(
        self, ctx: IngestContext, file: Path, taxonomy: RawTable | None, staged: Staged
    ) -> None:
        con = ctx.con
        raw = read_raw(ctx, file, "tracks", label="fma", required=LABELS)
        try:
            checks = [
                required("track_id"),
                is_int("track_id", 0),
                Check(
                    f"{txt('genres')} IS NOT NULL AND NOT regexp_matches({txt('genres')}, {_LIST})",
                    "genres",
                    "not a list of genre ids (e.g. [45, 58]; each of at most 18 digits)",
                ),
            ]
            ids = f"list_transform(regexp_extract_all({txt('genres')}, '\\d+'), lambda x: TRY_CAST(x AS BIGINT))"
            if taxonomy is not None:
                checks.append(
                    Check(
                        f"regexp_matches(coalesce({txt('genres')}, ''), {_LIST}) AND EXISTS (SELECT 1 FROM "
                        f"(SELECT unnest({ids}) AS g) WHERE g NOT IN "
                        f"(SELECT CAST(genre_id AS BIGINT) FROM {taxonomy.name}))",
                        "genres",
                        f"genre id not in {taxonomy.file.name}",
                    )
                )
            validate(ctx, raw, "tracks", checks)
            ext = f"CAST(CAST({txt('track_id')} AS BIGINT) AS VARCHAR)"
            ref = f"{ext} AS track_ext, 'FMA track ' || {ext} AS track"
            staged.add(
                "tracks",
                arrow(
                    con,
                    f"""
                SELECT {ref}, {txt("genre_top")} AS genre_raw FROM {raw.name} ORDER BY _rec""",
                ),
            )
            staged.add(
                "track_tags",
                arrow(
                    con,
                    f"""
                SELECT {ref}, {txt("subset")} || ':' || {txt("split")} AS tag, 1.0 AS weight, 'split' AS kind
                FROM {raw.name} WHERE {txt("subset")} IS NOT NULL AND {txt("split")} IS NOT NULL
                ORDER BY _rec""",
                ),
            )
            if taxonomy is not None:
                name = f"(SELECT min(trim(title)) FROM {taxonomy.name} WHERE CAST(genre_id AS BIGINT) = g.gid)"
            else:
                name = "'fma:' || g.gid"
            staged.add(
                "track_tags",
                arrow(
                    con,
                    f"""
                SELECT track_ext, track, {name} AS tag, 1.0 AS weight, 'genre' AS kind FROM (
                    SELECT {ref}, unnest({ids}) AS gid FROM {raw.name} WHERE {txt("genres")} IS NOT NULL
                ) g""",
                ),
            )
        finally:
            raw.drop(con)
