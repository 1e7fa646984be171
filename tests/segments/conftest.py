"""Fixtures of the segments tests: a tiny exact store and a HetRec store built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from encore.data.ingest import IngestContext, Loader, Staged, ingest
from encore.data.store import Store


class TinyTasteLoader(Loader):
    """Three users with known plays, likes, play counts, tags and one friendship."""

    name = "tinytaste"
    description = "segments test loader"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.name == "tinytaste"

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        st = Staged()
        st.add(
            "users",
            pd.DataFrame(
                {
                    "user_id": ["t:u1", "t:u2", "t:u3"],
                    "registered_at": pd.to_datetime(["2019-01-01", "2020-01-01", None]),
                    "country": ["DE", "US", None],
                    "age": [30, 25, None],
                    "gender": ["f", "m", None],
                }
            ),
        )
        st.add(
            "tracks",
            pd.DataFrame(
                {
                    "artist": ["Artist A", "Artist B", "Artist C"],
                    "track": ["A1", "B1", "C1"],
                    "duration_ms": [200_000, 200_000, 200_000],
                    "genre_raw": ["rock", "jazz", "pop"],
                }
            ),
        )
        st.add(
            "events",
            pd.DataFrame(
                {
                    "user_id": ["t:u1", "t:u1", "t:u1", "t:u2", "t:u2", "t:u3"],
                    "ts": pd.to_datetime(
                        [
                            "2020-01-01 08:00",
                            "2020-01-01 20:00",
                            "2020-01-02 02:00",
                            "2020-01-03 13:00",
                            "2020-01-03 14:00",
                            "2020-01-04 10:00",
                        ]
                    ),
                    "ms_played": [200_000, 10_000, 200_000, 200_000, 200_000, 60_000],
                    "artist": [
                        "Artist A",
                        "Artist A",
                        "Artist B",
                        "Artist C",
                        "Artist B",
                        "Artist C",
                    ],
                    "track": ["A1", "A1", "B1", "C1", "B1", "C1"],
                }
            ),
        )
        st.add(
            "likes",
            pd.DataFrame(
                {
                    "user_id": ["t:u1"],
                    "entity_type": ["track"],
                    "artist": ["Artist C"],
                    "track": ["C1"],
                }
            ),
        )
        st.add(
            "playcounts", pd.DataFrame({"user_id": ["t:u3"], "plays": [10], "artist": ["Artist A"]})
        )
        st.add(
            "artist_tags",
            pd.DataFrame(
                {
                    "artist": ["Artist B"],
                    "tag": ["jazz"],
                    "weight": [1.0],
                    "user_id": ["t:u2"],
                    "tagged_at": pd.to_datetime(["2020-01-02"]),
                }
            ),
        )
        st.add("friends", pd.DataFrame({"user_id": ["t:u1"], "friend_id": ["t:u2"]}))
        return st


@pytest.fixture
def tiny_store(tmp_path: Path) -> Iterator[Store]:
    """A store holding only the tiny exact data set."""
    folder = tmp_path / "tinytaste"
    folder.mkdir()
    (folder / "x").write_text("x")
    s = Store(tmp_path / "tiny.duckdb")
    ingest(s, TinyTasteLoader(), folder)
    yield s
    s.close()


@pytest.fixture(scope="session")
def hetrec_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with HetRec Last.fm 2K ingested by the real loader (built once)."""
    from encore.data.sources import get_loader

    db = tmp_path_factory.mktemp("segments") / "hetrec.duckdb"
    with Store(db) as s:
        ingest(s, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k")
    return db
