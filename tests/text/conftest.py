"""Small real-data stores for the text area: spotify_moods (686 labelled tracks with audio
features) and the Billboard 1965 lyrics; a 150-row slice of tcc_ceds where lyrics with
audio features are needed (small setting, said as such)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store


@pytest.fixture(scope="session")
def moods_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """spotify_moods + billboard_lyrics (closed; open read-only or copy)."""
    path = tmp_path_factory.mktemp("text") / "moods.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("spotify_moods"), shared_data / "spotify-moods")
        ingest(
            store, get_loader("billboard_lyrics"), shared_data / "lyrics-billboard-hot100-sample"
        )
    return path


@pytest.fixture(scope="session")
def tcc_slice_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """The first 150 rows of tcc_ceds (lyrics, topic, valence and energy)."""
    folder = tmp_path_factory.mktemp("tcc300")
    raw = pd.read_csv(shared_data / "tcc-ceds-music-sample" / "tcc_ceds_music_sample.csv")
    raw.head(150).to_csv(folder / "tcc_ceds_music_sample.csv", index=False)
    path = folder / "tcc.duckdb"
    with Store(path) as store:
        ingest(store, get_loader("tcc_ceds"), folder)
    return path


@pytest.fixture(scope="session")
def billboard(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "lyrics-billboard-hot100-sample" / "billboard_lyrics.csv")
    frame["Artist"] = frame["Artist"].str.strip()
    return frame
