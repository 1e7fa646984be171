"""The coarse genre vocabulary and its mapping rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from encore.data.genres import GENRES, closest_genres, map_genre, normalise_tag


@pytest.mark.parametrize(
    ("raw", "genre"),
    [
        ("Alternative Rock", "rock"),
        ("dance pop", "pop"),
        ("Hip-Hop", "hip hop"),
        ("pop punk", "punk"),
        ("indie rock", "indie"),
        ("K-Pop", "pop"),
        ("metalcore", "metal"),
        ("drum and bass", "electronic"),
        ("filmi", "world"),
        ("reggaeton", "latin"),
        ("neo soul", "r&b"),
        ("bossa nova", "latin"),
        ("opera", "classical"),
        ("seen live", None),
        ("80s", None),
        ("female vocalists", None),
        ("", None),
    ],
)
def test_known_mappings(raw: str, genre: str | None) -> None:
    assert map_genre(raw) == genre


def test_vocabulary_size() -> None:
    assert 15 <= len(GENRES) <= 25


@given(st.text(max_size=40))
def test_mapping_is_total_and_in_vocabulary(raw: str) -> None:
    g = map_genre(raw)
    assert g is None or g in GENRES
    assert map_genre(normalise_tag(raw)) == g


def test_closest_genres_suggests() -> None:
    assert closest_genres("rok")[0] == "rock"
