"""The writer: reference resolution, idempotent re-ingest, transactions, skip derivation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from encore.data.ingest import IngestContext, Loader, Staged, ingest
from encore.data.store import Store
from encore.errors import DataError


class TinyLoader(Loader):
    name = "tiny"
    description = "test loader"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.suffix == ".tiny"

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        rows = [line.split("|") for line in path.read_text().splitlines()]
        st = Staged()
        good = []
        for i, r in enumerate(rows, start=1):
            if len(r) != 5:
                ctx.reject("events", path, i, None, f"expected 5 fields, got {len(r)}", "|".join(r))
                continue
            good.append(r)
        ev = pd.DataFrame(good, columns=["user_id", "ts", "artist", "track", "ms_played"])
        st.add("events", ev)
        st.add(
            "tracks",
            pd.DataFrame(
                {
                    "artist": ["Radiohead"],
                    "track": ["Creep"],
                    "duration_ms": [238_000],
                    "genre_raw": ["alternative rock"],
                }
            ),
        )
        st.add(
            "artist_tags",
            pd.DataFrame(
                {
                    "artist": ["Daft Punk", "Daft Punk", "Daft Punk"],
                    "tag": ["french house", "electronic", "seen live"],
                    "weight": [3, 2, 10],
                }
            ),
        )
        return st


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "x.tiny"
    p.write_text(text)
    return p


LINES = (
    "u1|2020-01-01 10:00:00|Radiohead|Creep|200000\n"
    "u1|2020-01-01 10:05:00|The Radiohead|Creep (Remastered 2009)|10000\n"
    "u2|2020-01-02 10:00:00|Daft Punk feat. Pharrell|Get Lucky|20000\n"
    "u2|2020-01-02 11:00:00|daft punk|Get Lucky|50000\n"
)


def test_resolution_genres_and_skips(store: Store, tmp_path: Path) -> None:
    res = ingest(store, TinyLoader(), _write(tmp_path, LINES))
    assert res.loaded["events"] == 4
    assert store.scalar("SELECT count(*) FROM artists") == 2
    assert store.scalar("SELECT count(*) FROM tracks") == 2
    genres = dict(store.execute("SELECT name, genre FROM artists").fetchall())
    assert genres == {"Radiohead": None, "Daft Punk": "electronic"}
    tg = dict(store.execute("SELECT title, genre FROM tracks").fetchall())
    assert tg == {"Creep": "rock", "Get Lucky": "electronic"}
    skips = [r[0] for r in store.execute("SELECT skipped FROM events ORDER BY ts").fetchall()]
    # Creep: 200 s of 238 s played; 10 s of 238 s is a skip; Get Lucky has no duration -> 30 s rule
    assert skips == [False, True, True, False]
    assert store.scalar("SELECT count(*) FROM users") == 2


def test_reingest_adds_nothing(store: Store, tmp_path: Path) -> None:
    p = _write(tmp_path, LINES)
    ingest(store, TinyLoader(), p)
    before = store.counts()
    res = ingest(store, TinyLoader(), p)
    assert res.replaced_previous
    after = store.counts()
    pd.testing.assert_frame_equal(before, after)


def test_bad_row_raises_and_store_unchanged(store: Store, tmp_path: Path) -> None:
    ingest(store, TinyLoader(), _write(tmp_path, LINES))
    before = store.counts()
    bad = tmp_path / "bad.tiny"
    bad.write_text(LINES + "u3|2020-01-03|oops\n")
    with pytest.raises(DataError) as err:
        ingest(store, TinyLoader(), bad)
    assert "bad.tiny" in str(err.value) and "line 5" in str(err.value)
    pd.testing.assert_frame_equal(before, store.counts())


def test_skip_mode_records_rejects(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tiny"
    bad.write_text(LINES + "u3|2020-01-03|oops\n")
    res = ingest(store, TinyLoader(), bad, on_error="skip")
    assert res.rejected == {"events": 1}
    assert store.scalar("SELECT line FROM rejects") == 5
