"""A small labelled clip folder (symlinks to the real genre-audio clips) and a cache."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def genre_audio(shared_data: Path) -> Path:
    return shared_data / "genre-audio"


@pytest.fixture(scope="session")
def audio_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ENCORE_CACHE in a session temp folder, so tests do not touch the user's cache."""
    root = tmp_path_factory.mktemp("audio-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("ENCORE_CACHE", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="session")
def small_clips(
    tmp_path_factory: pytest.TempPathFactory, genre_audio: Path, audio_cache: Path
) -> Path:
    """Four clips per genre (16, distinct artists where the data allows), labels.csv with
    artist/title/emotify_track_id, and the Emotify annotations - all as links to the real
    files (small setting for speed)."""
    folder = tmp_path_factory.mktemp("clips")
    with open(genre_audio / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    picked: list[dict[str, str]] = []
    for genre in ("classical", "electronic", "pop", "rock"):
        seen: set[str] = set()
        for r in rows:
            if r["genre"] == genre and r["artist"] not in seen:
                seen.add(r["artist"])
                picked.append(r)
            if len(seen) == 4:
                break
    for r in picked:
        (folder / r["genre"]).mkdir(exist_ok=True)
        (folder / r["file"]).symlink_to(genre_audio / r["file"])
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["file", "genre", "artist", "title", "album", "emotify_track_id"]
        )
        w.writeheader()
        for r in picked:
            w.writerow({k: r[k] for k in w.fieldnames})
    (folder / "emotify_annotations.csv").symlink_to(genre_audio / "emotify_annotations.csv")
    return folder
