"""The mood-by-month chart on a store whose plays hit tracks with and without a mood."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from encore.data.store import Store
from encore.errors import ConfigError, UnknownIdError
from encore.text import mood as moodlib
from encore.text.charts import mood_by_month, save_mood_chart


def test_mood_by_month_counts_every_play(moods_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    shutil.copy(moods_db, db)
    with Store(db) as store:
        moodlib.compute_moods(store, db)
        with_mood = [
            int(t)
            for t in store.df("SELECT track_id FROM track_moods ORDER BY 1 LIMIT 3")["track_id"]
        ]
        without = int(
            store.scalar(
                "SELECT min(track_id) FROM tracks WHERE track_id NOT IN (SELECT track_id FROM track_moods)"
            )
        )
        plays = [
            (with_mood[0], "2024-01-05"),
            (with_mood[1], "2024-01-20"),
            (without, "2024-01-21"),
            (with_mood[2], "2024-02-02"),
            (with_mood[2], "2024-02-03"),
        ]
        for track, day in plays:
            store.execute(
                "INSERT INTO events (user_id, track_id, ts, ms_played, source, ingest_id) "
                "VALUES ('u1', ?, ?::TIMESTAMP, 180000, 'test', 1)",
                [track, day],
            )
        frame = mood_by_month(store, "u1")
        assert frame["plays"].sum() == len(plays)  # every play accounted for
        jan = frame[frame["month"].astype(str).str.startswith("2024-01")]
        assert jan.loc[jan["mood"] == "unknown", "plays"].sum() == 1
        assert jan["share"].sum() == pytest.approx(1.0)
        assert frame.attrs["known_share"] == pytest.approx(4 / 5)
        feb_only = mood_by_month(store, "u1", start=datetime(2024, 2, 1))
        assert feb_only["plays"].sum() == 2
        with pytest.raises(UnknownIdError):
            mood_by_month(store, "nobody")
    png = save_mood_chart(frame, tmp_path / "m.png")
    html = save_mood_chart(frame, tmp_path / "m.html")
    assert png.stat().st_size > 5000 and "plotly" in html.read_text()[:5000].lower()
    with pytest.raises(ConfigError, match="must end in"):
        save_mood_chart(frame, tmp_path / "m.pdf")
