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

from pathlib import Path
from typing import ClassVar

from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.sources.generic import (
    arrow,
    csv_files_with,
    csv_inputs,
    is_int,
    is_number,
    num_expr,
    read_raw,
    required,
    sql_str,
    txt,
    validate,
)

REQUIRED = ("filename", "label", "tempo", "mfcc1_mean")
SAMPLE_RATE = 22_050


class GtzanLoader(Loader):
    """GTZAN genre collection: per-clip audio features and the genre label."""

    name: ClassVar[str] = "gtzan"
    description: ClassVar[str] = "GTZAN 30-s clip features (MFCC, chroma, spectral) with genre labels"
    priority: ClassVar[int] = 20

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A CSV (or folder with one) with ``filename, label, tempo, mfcc1_mean``."""
        return bool(csv_files_with(path, REQUIRED))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every matching CSV; a non-numeric feature is rejected with its line."""
        files = csv_inputs(path, REQUIRED)
        staged = Staged()
        con = ctx.con
        for file in files:
            raw = read_raw(ctx, file, "tracks", label="gtzan", required=REQUIRED)
            try:
                feats = [c for c in raw.columns if c not in ("filename", "label", "length")]
                checks = [required("filename"), required("label"), *[is_number(c) for c in feats]]
                if "length" in raw.columns:
                    checks.append(is_int("length", 0))
                validate(ctx, raw, "tracks", checks)
                ref = f"{txt('filename')} AS track_ext, {txt('filename')} AS track"
                duration = (f"CAST(round(TRY_CAST({txt('length')} AS DOUBLE) / {SAMPLE_RATE} * 1000) AS BIGINT)"
                            if "length" in raw.columns else "CAST(NULL AS BIGINT)")
                staged.add("tracks", arrow(con, f"""
                    SELECT {ref}, {txt('label')} AS genre_raw, {duration} AS duration_ms
                    FROM {raw.name} ORDER BY _rec"""))
                values = ", ".join(f"({sql_str(c)}, {num_expr(c)})" for c in feats)
                staged.add("track_features", arrow(con, f"""
                    SELECT {ref}, u.feature, u.value FROM {raw.name},
                    LATERAL (VALUES {values}) u(feature, value) WHERE u.value IS NOT NULL"""))
            finally:
                raw.drop(con)
        return staged
