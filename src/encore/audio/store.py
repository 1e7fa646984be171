"""Audio embeddings in the store, and the nearest tracks by embedding (cold start).

``encore audio ingest DIR`` runs :class:`AudioEmbeddingLoader` through the ordinary ingest
transaction (:func:`encore.data.ingest.ingest`, source ``audio``): one track per file and,
in ``track_features``, ``audio_emb_000`` ... (the CNN embedding), ``audio_genre_<genre>``
(probabilities) and, when the model has a mood head, ``audio_mood_<emotion>`` and
``audio_like_rate``. A track is named by the folder's ``labels.csv`` (``artist``,
``title``, ``album``) where it lists the file - so it matches a catalogue track with plays
by the same artist and title - else by the file name, with the file's digest as its
external id. Re-ingesting the same folder replaces what the earlier ingest wrote.

:func:`similar_tracks` ranks every embedded track by cosine similarity to a query
embedding; :func:`audio_candidates` gives another recommender the tracks closest to a
listener's liked tracks (the "audio" candidate source for tracks nobody has played).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from encore.audio.cnn import AudioModel
from encore.audio.signal import AudioCache, audio_files, file_digest
from encore.data.ingest import IngestContext, Loader, Staged
from encore.data.store import Store
from encore.errors import DataError

log = logging.getLogger(__name__)

EMB_PREFIX = "audio_emb_"
SOURCE = "audio"


def _labels_by_file(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / "labels.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {
            (r.get("file") or "").strip(): {k.strip(): (v or "").strip() for k, v in r.items() if k}
            for r in csv.DictReader(fh)
        }


class AudioEmbeddingLoader(Loader):
    """Embeds every audio file of a folder (or one file) with a trained :class:`AudioModel`."""

    name: ClassVar[str] = SOURCE
    description: ClassVar[str] = "audio files embedded by the genre/mood CNN (encore audio ingest)"
    priority: ClassVar[int] = 90

    def __init__(
        self,
        model: AudioModel,
        cache: AudioCache | None = None,
        on_file: Callable[[int, int], None] | None = None,
    ) -> None:
        self.model = model
        self.cache = cache or AudioCache.default()
        self.on_file = on_file

    @classmethod
    def detect(cls, path: Path) -> bool:
        return (
            bool(audio_files(path))
            if path.is_dir()
            else path.suffix.lower() in (".mp3", ".wav", ".flac", ".ogg")
        )

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """One ``tracks`` row and its feature rows per decodable file; undecodable files are
        rejected with their name (``--on-error skip``) or stop the ingest."""
        folder = path if path.is_dir() else path.parent
        files = audio_files(path) if path.is_dir() else [path]
        if not files:
            raise DataError("no audio files found", file=str(path))
        labels = _labels_by_file(folder)
        tracks: list[dict[str, object]] = []
        specs: list[np.ndarray] = []
        for i, f in enumerate(files):
            try:
                digest = file_digest(f)
                spec = self.cache.spectrogram(f, digest)
            except DataError as exc:
                ctx.reject("tracks", f, None, None, exc.reason)
                continue
            rel = f.relative_to(folder).as_posix()
            lab = labels.get(rel, {})
            tracks.append(
                {
                    "track": lab.get("title") or f.stem,
                    "artist": lab.get("artist") or None,
                    "album": lab.get("album") or None,
                    "track_ext": f"sha256:{digest[:32]}",
                    "duration_ms": round(spec.shape[1] * 512 / 22_050 * 1000),
                    "genre_raw": lab.get("genre") or None,
                }
            )
            specs.append(spec)
            if self.on_file is not None:
                self.on_file(i + 1, len(files))
        staged = Staged()
        if not tracks:
            return staged
        emb, prob = self.model._forward(specs)
        frame = pd.DataFrame(tracks)
        staged.add("tracks", frame)
        ref = frame[["track", "artist", "album", "track_ext"]]
        parts = []
        names = [f"{EMB_PREFIX}{j:03d}" for j in range(emb.shape[1])]
        names += [f"audio_genre_{g}" for g in self.model.genres]
        values = [emb, prob]
        if self.model.mood_coef is not None:
            names += [
                f"audio_mood_{m}" if m != "like_rate" else "audio_like_rate"
                for m in self.model.mood_names
            ]
            values.append(self.model.predict_mood(emb))
        matrix = np.hstack(values)
        for j, name in enumerate(names):
            part = ref.copy()
            part["feature"] = name
            part["value"] = matrix[:, j].astype(float)
            parts.append(part)
        staged.add("track_features", pd.concat(parts, ignore_index=True))
        return staged


def load_embeddings(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """(track ids, embedding matrix) of every track with an audio embedding."""
    df = store.con.execute(
        f"""SELECT track_id, feature, value FROM track_features
            WHERE feature LIKE '{EMB_PREFIX}%' AND value IS NOT NULL"""
    ).df()
    if df.empty:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    wide = df.pivot_table(index="track_id", columns="feature", values="value", aggfunc="mean")
    wide = wide.dropna()
    return wide.index.to_numpy(dtype=np.int64), wide.to_numpy(dtype=np.float32)


def cosine_to(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``matrix`` to every row of ``query``."""
    m = matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9)
    q = query / (np.linalg.norm(query, axis=-1, keepdims=True) + 1e-9)
    return m @ q.T


def similar_tracks(
    store: Store, query: np.ndarray, n: int = 10, exclude: set[int] | None = None
) -> pd.DataFrame:
    """The ``n`` embedded tracks closest to ``query``: rank, track_id, name, artist, genre,
    similarity (cosine of the embeddings centred on the mean of the store's embeddings, the
    space the cold-start evaluation measured).

    Raises
    ------
    DataError
        The store holds no audio embeddings, or of another size than ``query``.
    """
    ids, mat = load_embeddings(store)
    if ids.size == 0:
        raise DataError(
            "the store holds no audio embeddings", hint="run: encore audio ingest FOLDER"
        )
    if mat.shape[1] != query.shape[-1]:
        raise DataError(
            f"the store's audio embeddings have {mat.shape[1]} values, this model gives {query.shape[-1]}",
            hint="re-run encore audio ingest with this model",
        )
    centre = mat.mean(axis=0)  # as evaluated: cosine of embeddings centred on the catalogue's mean
    sims = cosine_to(mat - centre, query.reshape(1, -1) - centre)[:, 0]
    order = np.argsort(-sims, kind="stable")
    rows = []
    for i in order:
        tid = int(ids[i])
        if exclude and tid in exclude:
            continue
        rows.append((tid, float(sims[i])))
        if len(rows) >= n:
            break
    return _named(store, rows)


def _named(store: Store, rows: list[tuple[int, float]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=["rank", "track_id", "name", "artist", "genre", "similarity"])
    pick = pd.DataFrame(rows, columns=["track_id", "similarity"])
    store.con.register("_audio_pick", pick)
    try:
        named = store.con.execute(
            """SELECT p.track_id, t.title AS name, a.name AS artist, COALESCE(t.genre, t.genre_raw) AS genre, p.similarity
               FROM _audio_pick p JOIN tracks t USING (track_id)
               LEFT JOIN artists a ON a.artist_id = t.artist_id"""
        ).df()
    finally:
        store.con.unregister("_audio_pick")
    named = named.set_index("track_id").loc[pick["track_id"]].reset_index()
    named.insert(0, "rank", np.arange(1, len(named) + 1))
    named["similarity"] = named["similarity"].round(4)
    return named


def audio_candidates(store: Store, liked_track_ids: list[int], n: int = 100) -> pd.DataFrame:
    """Candidate tracks for a listener: the embedded tracks closest on average to the
    embedded tracks among ``liked_track_ids`` (those excluded); empty when none of the
    liked tracks has an embedding. Columns as :func:`similar_tracks`."""
    ids, mat = load_embeddings(store)
    pos = {int(t): i for i, t in enumerate(ids)}
    seeds = [pos[t] for t in liked_track_ids if t in pos]
    if not seeds:
        return _named(store, [])
    centred = mat - mat.mean(axis=0)
    sims = cosine_to(centred, centred[seeds]).mean(axis=1)
    exclude = set(liked_track_ids)
    order = [i for i in np.argsort(-sims, kind="stable") if int(ids[i]) not in exclude][:n]
    return _named(store, [(int(ids[i]), float(sims[i])) for i in order])
