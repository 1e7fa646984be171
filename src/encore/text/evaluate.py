"""Cross-validated measurements of mood and of lyrics summaries, on the store's own data.

Mood from sound: tracks with a ``mood`` tag (spotify_moods: Happy, Sad, Energetic, Calm)
and audio features; 5 folds grouped by artist (no artist on both sides), stratified by
mood. Rows: the majority class, the quadrant rule on (valence, energy) read as Happy /
Energetic (the high-arousal, lower-valence class: the nearest of the four to *angry*) /
Sad / Calm, and logistic regressions on (valence, energy) and on every audio feature.

Mood from words: tracks with lyrics and audio valence/energy (tcc_ceds); 5 folds grouped
by artist. Spearman's rho between the out-of-fold prediction and the audio valence (and
energy) for VADER alone (no fitting), a TF-IDF bag-of-words ridge (the baseline), the
sentence-embedding ridge and the embedding + VADER ridge (the lyrics mood model). Then
the quadrant from words against the quadrant from sound, and how often they disagree.

Summaries: no gold summaries exist for lyrics, so proxies. On tcc_ceds lyrics (topic
labelled), a TF-IDF logistic-regression topic classifier (5 folds by artist) predicts
the topic from the full lyrics and from each method's summary: agreement with the
full-lyrics prediction and accuracy against the label. On every lyric: compression
(summary words / lyric words), chorus retained (share of summaries that contain the
most repeated line), redundancy (repeated units inside the summary).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from encore.data.sources.spotify_moods import AUDIO_FEATURES
from encore.data.store import Store
from encore.errors import DataError
from encore.text import mood as moodlib
from encore.text.lyrics import METHODS, most_repeated_line, redundancy, summarize
from encore.text.tokenize import norm

log = logging.getLogger(__name__)

RULE_TO_CLASS = {"happy": "Happy", "angry": "Energetic", "sad": "Sad", "calm": "Calm"}
FOLDS = 5
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)*"

Progress = Callable[[str], None] | None


def _artist_groups(store: Store, ids: pd.Index) -> np.ndarray:
    frame = (
        store.con.execute(
            "SELECT track_id, coalesce(artist_id, -track_id) AS g FROM tracks WHERE track_id = ANY($ids)",
            {"ids": [int(i) for i in ids]},
        )
        .df()
        .set_index("track_id")
    )
    return frame.loc[ids, "g"].to_numpy()


def labelled_audio(store: Store) -> pd.DataFrame:
    """Tracks with a mood tag and audio features (one row per track, ``mood`` column)."""
    cols = ", ".join(
        f"avg(f.value) FILTER (WHERE f.feature = '{c}') AS {c}" for c in AUDIO_FEATURES
    )
    frame = (
        store.con.execute(
            f"""SELECT m.track_id, any_value(m.tag) AS mood, {cols}
            FROM (SELECT track_id, arg_max(tag, weight) AS tag FROM track_tags
                  WHERE kind = 'mood' GROUP BY track_id) m
            JOIN track_features f USING (track_id)
            GROUP BY m.track_id ORDER BY m.track_id"""
        )
        .df()
        .set_index("track_id")
    )
    return frame.dropna(subset=["valence", "energy"])


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
    }


def evaluate_audio_mood(store: Store, *, seed: int = 0) -> pd.DataFrame:
    """Mood classes from sound, cross-validated by artist (see the module docstring).

    Raises
    ------
    DataError
        Fewer than 50 mood-labelled tracks with audio features (ingest spotify_moods).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = labelled_audio(store)
    if len(data) < 50:
        raise DataError(
            f"only {len(data)} tracks have a mood label and audio features (50 needed)",
            hint="ingest spotify_moods: `encore ingest spotify_moods ../shared/data/spotify-moods`",
        )
    y = data["mood"].to_numpy()
    groups = _artist_groups(store, data.index)
    feats = [c for c in AUDIO_FEATURES if data[c].notna().all()]
    preds: dict[str, np.ndarray] = {
        k: np.empty(len(y), dtype=object) for k in ("majority", "lr2", "lrall")
    }
    cv = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, test in cv.split(data, y, groups):
        values, counts = np.unique(y[train], return_counts=True)
        preds["majority"][test] = values[np.argmax(counts)]
        for key, cols in (("lr2", ["valence", "energy"]), ("lrall", feats)):
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            clf.fit(data.iloc[train][cols].to_numpy(), y[train])
            preds[key][test] = clf.predict(data.iloc[test][cols].to_numpy())
    rule = np.array(
        [
            RULE_TO_CLASS[moodlib.quadrant(v, e)]
            for v, e in zip(data["valence"], data["energy"], strict=True)
        ]
    )
    rows = [
        {"method": "majority class", "inputs": "-", **_scores(y, preds["majority"])},
        {"method": "quadrant rule (no fitting)", "inputs": "valence, energy", **_scores(y, rule)},
        {"method": "logistic regression", "inputs": "valence, energy", **_scores(y, preds["lr2"])},
        {
            "method": "logistic regression",
            "inputs": f"{len(feats)} audio features",
            **_scores(y, preds["lrall"]),
        },
    ]
    out = pd.DataFrame(rows)
    out.attrs["n"] = len(y)
    out.attrs["classes"] = dict(zip(*np.unique(y, return_counts=True), strict=True))
    return out


def lyrics_with_audio(store: Store, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Tracks with lyrics and audio valence/energy (``text``, ``valence``, ``energy``)."""
    lyr = moodlib.lyrics_of(store)
    audio = moodlib.audio_features(store)
    data = lyr.join(audio, how="inner")
    if limit is not None and len(data) > limit:
        data = data.sample(n=limit, random_state=seed).sort_index()
    return data


def evaluate_lyrics_mood(
    store: Store,
    *,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress = None,
    embeddings: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valence (and energy) from lyrics alone; the quadrant from words against sound.

    Returns ``(correlations, quadrants)``.

    Raises
    ------
    DataError
        Fewer than 50 tracks with lyrics and audio valence/energy (ingest tcc_ceds).
    """
    from scipy.stats import spearmanr
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GroupKFold

    data = lyrics_with_audio(store, limit, seed)
    if len(data) < moodlib.MIN_TRAIN:
        raise DataError(
            f"only {len(data)} tracks have lyrics and audio valence/energy ({moodlib.MIN_TRAIN} needed)",
            hint="ingest tcc_ceds: `encore ingest tcc_ceds ../shared/data/tcc-ceds-music-sample`",
        )
    texts = list(data["text"])
    groups = _artist_groups(store, data.index)
    targets = data[["valence", "energy"]].to_numpy()
    if progress:
        progress(f"embedding {len(texts):,} lyrics")
    from encore.text.embed import embed

    emb = embeddings if embeddings is not None else embed(texts)
    vader = moodlib.vader_scores(texts)
    alphas = np.logspace(-1, 3, 9)
    oof = {k: np.zeros((len(texts), 2)) for k in ("bow", "emb", "emb+vader")}
    cv = GroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, test in cv.split(texts, groups=groups):
        tfidf = TfidfVectorizer(token_pattern=TOKEN_PATTERN, min_df=2, sublinear_tf=True)
        xb = tfidf.fit_transform([texts[i] for i in train])
        xt = tfidf.transform([texts[i] for i in test])
        full = np.hstack([emb, vader])
        for j in range(2):
            oof["bow"][test, j] = RidgeCV(alphas=alphas).fit(xb, targets[train, j]).predict(xt)
            oof["emb"][test, j] = (
                RidgeCV(alphas=alphas).fit(emb[train], targets[train, j]).predict(emb[test])
            )
            oof["emb+vader"][test, j] = (
                RidgeCV(alphas=alphas).fit(full[train], targets[train, j]).predict(full[test])
            )

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return float(spearmanr(a, b).statistic)

    corr = pd.DataFrame(
        [
            {
                "method": "VADER compound (no fitting)",
                "valence_rho": rho(vader[:, 0], targets[:, 0]),
                "energy_rho": rho(vader[:, 0], targets[:, 1]),
            },
            {
                "method": "bag-of-words TF-IDF ridge (baseline)",
                "valence_rho": rho(oof["bow"][:, 0], targets[:, 0]),
                "energy_rho": rho(oof["bow"][:, 1], targets[:, 1]),
            },
            {
                "method": "sentence embedding ridge",
                "valence_rho": rho(oof["emb"][:, 0], targets[:, 0]),
                "energy_rho": rho(oof["emb"][:, 1], targets[:, 1]),
            },
            {
                "method": "embedding + VADER ridge (the lyrics model)",
                "valence_rho": rho(oof["emb+vader"][:, 0], targets[:, 0]),
                "energy_rho": rho(oof["emb+vader"][:, 1], targets[:, 1]),
            },
        ]
    )
    corr.attrs["n"] = len(texts)
    pred = np.clip(oof["emb+vader"], 0, 1)
    sound = np.array([moodlib.quadrant(v, e) for v, e in targets])
    words_q = np.array([moodlib.quadrant(v, a) for v, a in pred])
    values, counts = np.unique(sound, return_counts=True)
    majority = np.full(len(sound), values[np.argmax(counts)])
    dis = [moodlib.disagreement(a, w) for a, w in zip(targets[:, 0], pred[:, 0], strict=True)]
    quad = pd.DataFrame(
        [
            {"compare": "quadrant from words vs from sound", **_scores(sound, words_q)},
            {"compare": "majority quadrant vs from sound", **_scores(sound, majority)},
        ]
    )
    quad.attrs["sound_quadrants"] = dict(zip(values.tolist(), counts.tolist(), strict=True))
    quad.attrs["sad lyrics, happy sound"] = float(
        np.mean([d == "sad lyrics, happy sound" for d in dis])
    )
    quad.attrs["happy lyrics, sad sound"] = float(
        np.mean([d == "happy lyrics, sad sound" for d in dis])
    )
    return corr, quad


class CachedEncoder:
    """Embeds each distinct unit once (summaries of one song share most units)."""

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        from encore.text.embed import embed

        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, e in zip(missing, embed(missing), strict=True):
                self.cache[t] = e
        return np.vstack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384))


def _contains(summary_text: str, line: str | None) -> bool:
    """Does a summary hold the repeated line (as a line, or inside a line-less summary)?"""
    if line is None:
        return False
    return any(norm(u) == line for u in summary_text.splitlines()) or line in norm(summary_text)


def summary_proxies(
    texts: list[str],
    *,
    ratio: float = 0.3,
    encoder: Callable[[list[str]], np.ndarray] | None = None,
    progress: Progress = None,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Compression, chorus retained and redundancy per method; also every summary text."""
    enc = encoder or CachedEncoder()
    rows, texts_out = [], {}
    hooks = [most_repeated_line(t) for t in texts]
    for method in METHODS:
        summaries = []
        for i, t in enumerate(texts):
            if progress and i % 50 == 0:
                progress(f"{method} summaries: {i:,}/{len(texts):,}")
            summaries.append(summarize(t, ratio=ratio, method=method, embed_fn=enc))
        with_hook = [i for i, h in enumerate(hooks) if h is not None]
        rows.append(
            {
                "method": method,
                "compression": float(np.mean([s.compression for s in summaries])),
                "chorus_retained": float(
                    np.mean([_contains(summaries[i].text, hooks[i]) for i in with_hook])
                )
                if with_hook
                else float("nan"),
                "redundancy": float(np.mean([redundancy(s) for s in summaries])),
            }
        )
        texts_out[method] = [s.text for s in summaries]
    frame = pd.DataFrame(rows)
    frame.attrs["n"] = len(texts)
    frame.attrs["with_repeated_line"] = sum(h is not None for h in hooks)
    return frame, texts_out


def evaluate_summaries_topic(
    store: Store,
    *,
    limit: int = 400,
    ratio: float = 0.3,
    seed: int = 0,
    progress: Progress = None,
) -> pd.DataFrame:
    """Topic from each method's summary against topic from the full lyrics (tcc_ceds)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    frame = (
        store.con.execute(
            """SELECT l.track_id, arg_min(l.text, l.ingest_id) AS text,
                  arg_max(t.tag, t.weight) AS topic
           FROM lyrics l JOIN track_tags t ON t.track_id = l.track_id AND t.kind = 'topic'
           GROUP BY l.track_id ORDER BY l.track_id"""
        )
        .df()
        .set_index("track_id")
    )
    if len(frame) < 50:
        raise DataError(
            f"only {len(frame)} lyrics carry a topic label (50 needed)",
            hint="ingest tcc_ceds: `encore ingest tcc_ceds ../shared/data/tcc-ceds-music-sample`",
        )
    if len(frame) > limit:
        frame = frame.sample(n=limit, random_state=seed).sort_index()
    texts = list(frame["text"])
    y = frame["topic"].to_numpy()
    proxies, summaries = summary_proxies(texts, ratio=ratio, progress=progress)
    groups = _artist_groups(store, frame.index)
    full_pred = np.empty(len(y), dtype=object)
    method_pred = {m: np.empty(len(y), dtype=object) for m in METHODS}
    for train, test in GroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed).split(
        texts, groups=groups
    ):
        tfidf = TfidfVectorizer(token_pattern=TOKEN_PATTERN, min_df=2, sublinear_tf=True)
        x = tfidf.fit_transform([texts[i] for i in train])
        clf = LogisticRegression(max_iter=2000, C=5.0).fit(x, y[train])
        full_pred[test] = clf.predict(tfidf.transform([texts[i] for i in test]))
        for m in METHODS:
            method_pred[m][test] = clf.predict(tfidf.transform([summaries[m][i] for i in test]))
    rows: list[dict[str, Any]] = [
        {
            "method": "full lyrics",
            "agreement_with_full": 1.0,
            "topic_accuracy": float(np.mean(full_pred == y)),
            "compression": 1.0,
            "chorus_retained": 1.0,
            "redundancy": float("nan"),
        }
    ]
    for m in METHODS:
        p = proxies[proxies["method"] == m].iloc[0]
        rows.append(
            {
                "method": m,
                "agreement_with_full": float(np.mean(method_pred[m] == full_pred)),
                "topic_accuracy": float(np.mean(method_pred[m] == y)),
                "compression": p["compression"],
                "chorus_retained": p["chorus_retained"],
                "redundancy": p["redundancy"],
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["n"] = len(y)
    _, counts = np.unique(y, return_counts=True)
    out.attrs["majority_accuracy"] = float(counts.max() / counts.sum())
    return out
