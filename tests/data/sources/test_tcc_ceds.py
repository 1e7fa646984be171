"""tcc_ceds loader (Music Dataset 1950-2019 sample): counts, lyrics, topics, features."""

from __future__ import annotations

from pathlib import Path

import pytest

from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.sources.tcc_ceds import topic_feature
from encore.data.store import Store
from encore.errors import DataError


def test_counts_and_values(shared_data: Path, store: Store) -> None:
    res = ingest(store, get_loader("tcc_ceds"), shared_data / "tcc-ceds-music-sample")
    assert res.loaded["lyrics"] == 4_600 and res.loaded["track_tags"] == 4_600
    assert store.scalar("SELECT count(*) FROM external_ids WHERE source = 'tcc_ceds'") >= 4_600
    assert store.scalar("SELECT bool_and(processed) FROM lyrics") is True
    years = store.df("""SELECT t.release_year AS y FROM external_ids x JOIN tracks t ON t.track_id = x.internal_id
                        WHERE x.source = 'tcc_ceds' AND x.entity = 'track'""")["y"]
    assert years.min() == 1950 and years.max() == 2019 and (years <= 1990).sum() == 4_085
    genres = dict(
        store.execute("""SELECT t.genre_raw, count(*) FROM external_ids x
                                   JOIN tracks t ON t.track_id = x.internal_id
                                   WHERE x.source = 'tcc_ceds' GROUP BY 1""").fetchall()
    )
    assert set(genres) == {"pop", "country", "blues", "jazz", "rock", "reggae", "hip hop"}
    assert genres["pop"] == 3_848
    assert store.scalar("SELECT count(DISTINCT kind) FROM track_tags") == 1
    feats = {r[0] for r in store.execute("SELECT DISTINCT feature FROM track_features").fetchall()}
    assert {
        "valence",
        "energy",
        "word_count",
        "topic_world_life",
        "topic_shake_the_audience",
    } <= feats
    first = store.df("""SELECT t.title, a.name, l.text, tt.tag FROM external_ids x
                        JOIN tracks t ON t.track_id = x.internal_id JOIN artists a USING (artist_id)
                        JOIN lyrics l ON l.track_id = t.track_id JOIN track_tags tt ON tt.track_id = t.track_id
                        WHERE x.source = 'tcc_ceds' AND x.external_id = '0'""").iloc[0]
    assert (first["title"], first["name"], first["tag"]) == (
        "mohabbat bhi jhoothi",
        "mukesh",
        "sadness",
    )
    assert first["text"].startswith("hold time feel break")


def test_topic_feature_names() -> None:
    assert topic_feature("world/life") == "topic_world_life"
    assert topic_feature("light/visual perceptions") == "topic_light_visual_perceptions"


def test_bad_year(shared_data: Path, tmp_path: Path, store: Store) -> None:
    src = (
        (shared_data / "tcc-ceds-music-sample" / "tcc_ceds_music_sample.csv")
        .read_text()
        .splitlines()
    )
    header, row = src[0], src[1]
    bad = tmp_path / "tcc.csv"
    bad.write_text(
        "\n".join(
            [header, row, row.replace(",1950,pop,", ",nineteen,pop,", 1).replace("0,", "9,", 1)]
        )
        + "\n"
    )
    with pytest.raises(DataError) as err:
        ingest(store, get_loader("tcc_ceds"), bad)
    assert err.value.line == 3 and err.value.field == "release_date"
    res = ingest(store, get_loader("tcc_ceds"), bad, on_error="skip")
    assert res.rejected == {"tracks": 1} and res.loaded["lyrics"] == 1
