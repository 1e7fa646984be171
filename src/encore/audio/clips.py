"""A labelled folder of clips: files, genres, artist/song groups and Emotify mood labels.

The folder holds audio files and a ``labels.csv`` with at least ``file`` (a path relative to
the folder) and ``genre``; ``artist`` and ``title`` are used for grouping when present. When
an ``emotify_annotations.csv`` (the Emotify rating file: one row per listener rating, nine
GEMS emotions 0/1, ``liked``, ``disliked``) sits beside it and ``labels.csv`` has
``emotify_track_id``, each clip also gets the share of ratings that chose each emotion, its
like rate and its number of ratings.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from encore.errors import ConfigError, DataError

LABELS_FILE = "labels.csv"
ANNOTATIONS_FILE = "emotify_annotations.csv"
#: The nine GEMS emotions of Emotify, in the file's order.
EMOTIONS = (
    "amazement",
    "solemnity",
    "tenderness",
    "nostalgia",
    "calmness",
    "power",
    "joyful_activation",
    "tension",
    "sadness",
)


@dataclass
class ClipSet:
    """Clips of one labelled folder.

    ``frame`` has one row per clip: ``path``, ``file``, ``genre``, ``artist``, ``title``,
    ``group`` (clips that must stay in one fold: same artist, or same song title), and,
    when the annotations are there, ``n_ratings``, ``like_rate`` and one share per emotion.
    """

    root: Path
    frame: pd.DataFrame

    @property
    def genres(self) -> list[str]:
        return sorted(self.frame["genre"].unique())

    @property
    def has_mood(self) -> bool:
        return "like_rate" in self.frame

    def labels(self) -> np.ndarray:
        """Genre index per clip, in the order of :attr:`genres`."""
        index = {g: i for i, g in enumerate(self.genres)}
        return self.frame["genre"].map(index).to_numpy(dtype=np.int64)

    def subset(self, n_per_genre: int, seed: int = 0) -> ClipSet:
        """At most ``n_per_genre`` clips of each genre (seeded), for quick runs and tests."""
        parts = [
            g.sample(n=min(n_per_genre, len(g)), random_state=seed)
            for _, g in self.frame.groupby("genre", sort=True)
        ]
        return ClipSet(self.root, pd.concat(parts).sort_index().reset_index(drop=True))


def _norm_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def _groups(artists: list[str], titles: list[str]) -> np.ndarray:
    """Union-find over 'same artist' and 'same normalised title': one id per component."""
    parent = list(range(len(artists)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key_list in (artists, [_norm_title(t) for t in titles]):
        first: dict[str, int] = {}
        for i, key in enumerate(key_list):
            if not key:
                continue
            if key in first:
                a, b = find(i), find(first[key])
                if a != b:
                    parent[a] = b
            else:
                first[key] = i
    roots = [find(i) for i in range(len(artists))]
    _, ids = np.unique(roots, return_inverse=True)
    return ids.astype(np.int64)


def load_clips(folder: Path) -> ClipSet:
    """Read ``folder/labels.csv`` (and the Emotify annotations when present).

    Raises
    ------
    ConfigError
        The folder does not exist.
    DataError
        No ``labels.csv``, a missing column, an empty ``file`` or ``genre``, a file that is
        not there, or a bad annotation row; each names the file, line and field.
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise DataError(
            "no labels file",
            file=str(labels),
            hint="put a labels.csv with columns file,genre (artist, title optional) in the folder",
        )
    rows: list[dict[str, str]] = []
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in reader.fieldnames or []]
        for need in ("file", "genre"):
            if need not in cols:
                raise DataError("missing column", file=str(labels), line=1, field=need)
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            for need in ("file", "genre"):
                if not row.get(need):
                    raise DataError("empty value", file=str(labels), line=line, field=need)
            if not (folder / row["file"]).is_file():
                raise DataError(
                    f"audio file {row['file']!r} not found in {folder}",
                    file=str(labels),
                    line=line,
                    field="file",
                )
            row["_line"] = str(line)
            rows.append(row)
    if len(rows) < 2:
        raise DataError("fewer than two labelled clips", file=str(labels))
    frame = pd.DataFrame(
        {
            "path": [str(folder / r["file"]) for r in rows],
            "file": [r["file"] for r in rows],
            "genre": [r["genre"] for r in rows],
            "artist": [r.get("artist", "") for r in rows],
            "title": [r.get("title", "") for r in rows],
        }
    )
    frame["group"] = _groups(list(frame["artist"]), list(frame["title"]))
    ann = folder / ANNOTATIONS_FILE
    if ann.is_file() and all(r.get("emotify_track_id") for r in rows):
        ids = []
        for r in rows:
            try:
                ids.append(int(r["emotify_track_id"]))
            except ValueError as exc:
                raise DataError(
                    "not an integer",
                    file=str(labels),
                    line=int(r["_line"]),
                    field="emotify_track_id",
                ) from exc
        frame["emotify_track_id"] = ids
        frame = frame.join(mood_table(ann), on="emotify_track_id")
        frame["n_ratings"] = frame["n_ratings"].fillna(0).astype(int)
    return ClipSet(folder, frame)


def mood_table(path: Path) -> pd.DataFrame:
    """Per Emotify track id: ``n_ratings``, each emotion's share of ratings, ``like_rate``.

    Raises
    ------
    DataError
        A missing column or a value that is not 0/1 (names the line and field).
    """
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    for col in ("track id", *EMOTIONS, "liked"):
        if col not in df:
            raise DataError("missing column", file=str(path), line=1, field=col)
    for col in (*EMOTIONS, "liked"):
        bad = ~df[col].isin([0, 1])
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise DataError("expected 0 or 1", file=str(path), line=line, field=col)
    grouped = df.groupby("track id")
    out = grouped[list(EMOTIONS)].mean()
    out["like_rate"] = grouped["liked"].mean()
    out["n_ratings"] = grouped.size()
    out.index.name = "emotify_track_id"
    return out
