"""The staged rows catalogue loaders share (_csv.feature_rows, tag_rows, lyrics_rows)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from encore.data.ingest import IngestContext
from encore.data.sources._csv import RawTable, feature_rows, lyrics_rows, read_raw, tag_rows
from encore.data.sources._toolkit import txt

CSV = """id,mood,tempo,energy,words
a,Happy,120.5,0.8,hello world
b, ,abc,,
c,Sad,,0.1,  sad song
"""


def _raw(tmp_path: Path) -> tuple[IngestContext, RawTable]:
    path = tmp_path / "t.csv"
    path.write_text(CSV)
    ctx = IngestContext(con=duckdb.connect())
    return ctx, read_raw(ctx, path, "tracks")


def test_feature_rows_keep_numbers_under_their_feature_names(tmp_path: Path) -> None:
    ctx, raw = _raw(tmp_path)
    ref = f"{txt('id')} AS track_ext"
    rows = feature_rows(ctx.con, raw, ref, {"tempo": "bpm", "energy": "energy"}).to_pylist()
    got = sorted((r["track_ext"], r["feature"], r["value"]) for r in rows)
    # 'abc' and empty cells are no value: no row
    assert got == [("a", "bpm", 120.5), ("a", "energy", 0.8), ("c", "energy", 0.1)]


def test_tag_and_lyrics_rows_skip_blank_cells_in_file_order(tmp_path: Path) -> None:
    ctx, raw = _raw(tmp_path)
    ref = f"{txt('id')} AS track_ext"
    tags = tag_rows(ctx.con, raw, ref, "mood", kind="mood").to_pylist()
    assert tags == [
        {"track_ext": "a", "tag": "Happy", "weight": 1.0, "kind": "mood"},
        {"track_ext": "c", "tag": "Sad", "weight": 1.0, "kind": "mood"},
    ]
    lyr = lyrics_rows(ctx.con, raw, ref, "words", processed=False).to_pylist()
    assert lyr == [
        {"track_ext": "a", "text": "hello world", "processed": False},
        {"track_ext": "c", "text": "sad song", "processed": False},
    ]
    assert lyrics_rows(ctx.con, raw, ref, "words", processed=True).column(
        "processed"
    ).to_pylist() == [True, True]
