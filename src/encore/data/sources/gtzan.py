"""``gtzan``: GTZAN precomputed features of 30-second clips (``features_30_sec.csv``).

Expected file: a CSV with ``filename``, ``length`` (samples), the librosa feature columns
(``chroma_stft_mean`` ... ``mfcc20_var``, ``tempo``) and ``label``, as in
``shared/data/gtzan-features/``. The 3-second file (``features_3_sec.csv``) has the same
columns with one row per segment; it is read the same way (each segment is a "track").

What goes where:

- ``tracks``: one per clip, external id and title = ``filename`` (e.g. ``blues.00000.wav``;
  GTZAN gives no artist or song title), ``genre_raw`` = ``label``, ``duration_ms`` =
  ``length`` / 22,050 Hz (GTZAN's sample rate) x 1000;
- ``track_features``: every other numeric column under its own name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from encore.data.ingest import IngestContext, Staged
from encore.data.sources._csv import CsvFileLoader, RawTable, arrow, feature_rows, validate
from encore.data.sources._toolkit import is_int, is_number, required, txt

REQUIRED = ("filename", "label", "tempo", "mfcc1_mean")
SAMPLE_RATE = 22_050


class GtzanLoader(CsvFileLoader):
    """GTZAN genre collection: per-clip audio features and the genre label."""

    name: ClassVar[str] = "gtzan"
    description: ClassVar[str] = (
        "GTZAN 30-s clip features (MFCC, chroma, spectral) with genre labels"
    )
    priority: ClassVar[int] = 20

    required_columns: ClassVar[Sequence[str]] = REQUIRED
    raw_label: ClassVar[str] = "gtzan"

    def load_raw(self, raw: RawTable, ctx: IngestContext, staged: Staged) -> None:
        """Read every matching CSV; a non-numeric feature is rejected with its line."""
        con = ctx.con
        feats = [c for c in raw.columns if c not in ("filename", "label", "length")]
        staged.fields["tracks"] = {"duration_ms": "length"}
        checks = [required("filename"), required("label"), *[is_number(c) for c in feats]]
        if "length" in raw.columns:
            checks.append(is_int("length", 0))
        validate(ctx, raw, "tracks", checks)
        ref = f"{txt('filename')} AS track_ext, {txt('filename')} AS track"
        duration = (
            f"CAST(round(TRY_CAST({txt('length')} AS DOUBLE) / {SAMPLE_RATE} * 1000) AS BIGINT)"
            if "length" in raw.columns
            else "CAST(NULL AS BIGINT)"
        )
        staged.add(
            "tracks",
            arrow(
                con,
                f"""
            SELECT {ref}, {txt("label")} AS genre_raw, {duration} AS duration_ms,
                   {raw.provenance()}
            FROM {raw.name} ORDER BY _rec""",
            ),
        )
        staged.add("track_features", feature_rows(con, raw, ref, {c: c for c in feats}))
