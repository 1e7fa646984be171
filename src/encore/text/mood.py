"""Mood as a valence-arousal quadrant: happy, angry, sad, calm.

Russell's circumplex cut at the centre of both axes (0.5 on Spotify's 0-1 scales):

============  ===========  ===========
quadrant      valence      arousal
============  ===========  ===========
happy         >= 0.5       >= 0.5
angry         < 0.5        >= 0.5
sad           < 0.5        < 0.5
calm          >= 0.5       < 0.5
============  ===========  ===========

Evidence comes from **sound** (the audio features ``valence`` and ``energy``, as arousal,
where the catalogue has them) and from **words** (a :class:`LyricsMoodModel`: VADER's
sentiment plus a sentence embedding of the lyrics, two ridge heads predicting valence and
arousal, fitted on the store's own tracks that have both lyrics and audio features).
Where both exist the quadrant is taken from their weighted mean (sound weighs more for
arousal: words say little about tempo and loudness). When words and sound fall on
opposite sides of the valence axis the track is marked (``sad lyrics, happy sound``): a
property of the song, not an error.

Moods go into ``track_moods`` (one row per track: mood, basis, confidence, the two axes
and each side's quadrant); ``encore recommend --mood`` and the mood chart read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.errors import ConfigError, DataError, UnknownIdError
from encore.text.tokenize import lines as text_lines

log = logging.getLogger(__name__)

QUADRANTS: tuple[str, ...] = ("happy", "angry", "sad", "calm")
#: Weight of sound in the combined (valence, arousal) where both sides have evidence.
AUDIO_WEIGHT = {"valence": 0.5, "arousal": 0.75}
#: How far from the centre both sides' valence must be before a disagreement is named.
DISAGREE_MARGIN = 0.05
FAMILY = "encore-lyrics-mood-model"
FORMAT_VERSION = 1
#: Fewest tracks with lyrics and audio features a lyrics model is fitted on.
MIN_TRAIN = 50


def quadrant(valence: float, arousal: float) -> str:
    """The quadrant of a (valence, arousal) point on 0-1 scales."""
    if valence >= 0.5:
        return "happy" if arousal >= 0.5 else "calm"
    return "angry" if arousal >= 0.5 else "sad"


def confidence(valence: float, arousal: float) -> float:
    """How clear the quadrant is: twice the distance to the nearer axis, in [0, 1]."""
    return float(min(1.0, 2 * min(abs(valence - 0.5), abs(arousal - 0.5))))


def disagreement(audio_valence: float | None, lyrics_valence: float | None) -> str | None:
    """``'sad lyrics, happy sound'`` / ``'happy lyrics, sad sound'`` or None."""
    if audio_valence is None or lyrics_valence is None:
        return None
    if np.isnan(audio_valence) or np.isnan(lyrics_valence):
        return None
    if audio_valence >= 0.5 + DISAGREE_MARGIN and lyrics_valence < 0.5 - DISAGREE_MARGIN:
        return "sad lyrics, happy sound"
    if audio_valence < 0.5 - DISAGREE_MARGIN and lyrics_valence >= 0.5 + DISAGREE_MARGIN:
        return "happy lyrics, sad sound"
    return None


# ------------------------------------------------------------------ words
_VADER: Any = None


def vader_scores(texts: list[str]) -> np.ndarray:
    """VADER per text, the mean over its lines: columns compound, pos, neg (n x 3).

    VADER was built for short social-media sentences; lyrics are scored line by line and
    averaged, so that one long text does not saturate the compound score at +-1.
    """
    global _VADER
    if _VADER is None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:
            raise ConfigError(
                "VADER is not installed", hint="pip install 'torch==2.13.0' -e '.[text]'"
            ) from exc
        _VADER = SentimentIntensityAnalyzer()
    out = np.zeros((len(texts), 3), dtype=np.float64)
    for i, text in enumerate(texts):
        units = text_lines(text)
        if len(units) < 3:  # preprocessed lyrics: one long line -> windows of 12 words
            toks = text.split()
            units = [" ".join(toks[j : j + 12]) for j in range(0, len(toks), 12)]
        if not units:
            continue
        scores = [_VADER.polarity_scores(u) for u in units]
        out[i] = [
            np.mean([s["compound"] for s in scores]),
            np.mean([s["pos"] for s in scores]),
            np.mean([s["neg"] for s in scores]),
        ]
    return out


def lyric_features(
    texts: list[str], *, embeddings: np.ndarray | None = None, show_progress: bool = False
) -> np.ndarray:
    """The lyrics model's inputs: the sentence embedding (384) then VADER's three scores."""
    from encore.text.embed import embed

    emb = embeddings if embeddings is not None else embed(texts, show_progress=show_progress)
    return np.hstack([emb.astype(np.float64), vader_scores(texts)])


@dataclass
class LyricsMoodModel:
    """Two ridge heads (valence, arousal) on :func:`lyric_features`.

    Attributes are the fitted coefficients; ``alpha`` is chosen per head by
    leave-one-out generalised cross-validation (``RidgeCV``).
    """

    coef: np.ndarray  # (2, n_features)
    intercept: np.ndarray  # (2,)
    alphas: tuple[float, float]
    n_train: int
    source: str

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, *, source: str) -> LyricsMoodModel:
        """Fit on ``features`` (n x d) and ``targets`` (n x 2: valence, arousal)."""
        from sklearn.linear_model import RidgeCV

        if len(features) < MIN_TRAIN:
            raise DataError(
                f"only {len(features)} tracks have both lyrics and audio valence/energy; "
                f"a lyrics mood model needs at least {MIN_TRAIN}",
                hint="ingest tcc_ceds (lyrics with audio features), e.g. "
                "`encore ingest tcc_ceds ../shared/data/tcc-ceds-music-sample`",
            )
        coefs, intercepts, alphas = [], [], []
        for j in range(2):
            ridge = RidgeCV(alphas=np.logspace(-1, 3, 9)).fit(features, targets[:, j])
            coefs.append(ridge.coef_)
            intercepts.append(float(ridge.intercept_))
            alphas.append(float(ridge.alpha_))
        return cls(
            np.vstack(coefs), np.asarray(intercepts), (alphas[0], alphas[1]), len(features), source
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(valence, arousal) per row, clipped to [0, 1]."""
        return np.clip(features @ self.coef.T + self.intercept, 0.0, 1.0)

    def save(self, path: str | Path) -> Path:
        """Write the model through :mod:`encore.persistence` (arrays + JSON, no pickle)."""
        from encore.persistence import save_archive

        return save_archive(
            path,
            family=FAMILY,
            format_version=FORMAT_VERSION,
            header={"alphas": list(self.alphas), "n_train": self.n_train, "source": self.source},
            arrays={"coef": self.coef, "intercept": self.intercept},
        )

    @classmethod
    def load(cls, path: str | Path) -> LyricsMoodModel:
        """Read a model saved by :meth:`save` (family and version checked)."""
        from encore.persistence import load_archive

        header, arrays = load_archive(path, family=FAMILY, format_version=FORMAT_VERSION)
        coef = arrays.get("coef")
        if coef is None or coef.ndim != 2 or coef.shape[0] != 2:
            raise DataError("not a lyrics mood model (coef missing or malformed)", file=str(path))
        a = header.get("alphas", [1.0, 1.0])
        return cls(
            coef,
            arrays["intercept"],
            (float(a[0]), float(a[1])),
            int(header.get("n_train", 0)),
            str(header.get("source", "")),
        )


def model_path(db: str | Path) -> Path:
    """Where ``encore moods compute`` keeps the lyrics model: ``<store>.models/lyrics-mood.npz``."""
    return Path(f"{db}.models") / "lyrics-mood.npz"


# ------------------------------------------------------------------ store
def audio_features(store: Store, track_ids: list[int] | None = None) -> pd.DataFrame:
    """``valence`` and ``energy`` per track (index ``track_id``), tracks with both only."""
    where = "" if track_ids is None else "AND track_id = ANY($ids)"
    params = {} if track_ids is None else {"ids": [int(t) for t in track_ids]}
    return (
        store.con.execute(
            f"""SELECT track_id, avg(value) FILTER (WHERE feature = 'valence') AS valence,
                   avg(value) FILTER (WHERE feature = 'energy') AS energy
            FROM track_features WHERE feature IN ('valence', 'energy') AND value IS NOT NULL {where}
            GROUP BY track_id HAVING count(DISTINCT feature) = 2 ORDER BY track_id""",
            params,
        )
        .df()
        .set_index("track_id")
    )


def lyrics_of(store: Store, track_ids: list[int] | None = None) -> pd.DataFrame:
    """One lyric per track (``text``, ``processed``; index ``track_id``), verbatim text first."""
    where = "" if track_ids is None else "WHERE track_id = ANY($ids)"
    params = {} if track_ids is None else {"ids": [int(t) for t in track_ids]}
    return (
        store.con.execute(
            f"""SELECT track_id, arg_min(text, (processed, ingest_id)) AS text,
                   bool_and(processed) AS processed
            FROM lyrics {where} GROUP BY track_id ORDER BY track_id""",
            params,
        )
        .df()
        .set_index("track_id")
    )


MOOD_COLUMNS = (
    "track_id",
    "mood",
    "basis",
    "confidence",
    "valence",
    "arousal",
    "audio_mood",
    "lyrics_mood",
    "audio_valence",
    "audio_arousal",
    "lyrics_valence",
    "lyrics_arousal",
    "vader",
    "disagreement",
)


def mood_rows(
    audio: pd.DataFrame, lyric_pred: pd.DataFrame, vader: pd.Series | None = None
) -> pd.DataFrame:
    """Combine sound (``valence``, ``energy``) and words (``valence``, ``arousal``) per track."""
    ids = sorted(set(audio.index) | set(lyric_pred.index))
    rows = []
    for t in ids:
        a = audio.loc[t] if t in audio.index else None
        w = lyric_pred.loc[t] if t in lyric_pred.index else None
        av, aa = (float(a["valence"]), float(a["energy"])) if a is not None else (None, None)
        lv, la = (float(w["valence"]), float(w["arousal"])) if w is not None else (None, None)
        if av is not None and aa is not None and lv is not None and la is not None:
            v = AUDIO_WEIGHT["valence"] * av + (1 - AUDIO_WEIGHT["valence"]) * lv
            r = AUDIO_WEIGHT["arousal"] * aa + (1 - AUDIO_WEIGHT["arousal"]) * la
            basis = "both"
        elif av is not None and aa is not None:
            v, r, basis = av, aa, "audio"
        else:
            assert lv is not None and la is not None
            v, r, basis = lv, la, "lyrics"
        rows.append(
            {
                "track_id": int(t),
                "mood": quadrant(v, r),
                "basis": basis,
                "confidence": confidence(v, r),
                "valence": v,
                "arousal": r,
                "audio_mood": None if av is None or aa is None else quadrant(av, aa),
                "lyrics_mood": None if lv is None or la is None else quadrant(lv, la),
                "audio_valence": av,
                "audio_arousal": aa,
                "lyrics_valence": lv,
                "lyrics_arousal": la,
                "vader": None if vader is None or t not in vader.index else float(vader[t]),
                "disagreement": disagreement(av, lv),
            }
        )
    return pd.DataFrame(rows, columns=list(MOOD_COLUMNS))


def fit_lyrics_model(
    store: Store, *, progress: Callable[[str], None] | None = None, show_progress: bool = False
) -> tuple[LyricsMoodModel, pd.DataFrame]:
    """Fit the lyrics model on the store's tracks with lyrics and audio features.

    Returns the model and every lyric's features (index ``track_id``) so that the caller
    does not embed twice.
    """
    lyr = lyrics_of(store)
    if lyr.empty:
        raise DataError(
            "the store holds no lyrics",
            hint="ingest tcc_ceds or billboard_lyrics first",
        )
    audio = audio_features(store)
    both = lyr.index.intersection(audio.index)
    if len(both) < MIN_TRAIN:  # before the costly embedding
        LyricsMoodModel.fit(np.zeros((len(both), 1)), np.zeros((len(both), 2)), source="")
    if progress:
        progress(f"embedding {len(lyr):,} lyrics")
    feats = lyric_features(list(lyr["text"]), show_progress=show_progress)
    frame = pd.DataFrame(feats, index=lyr.index)
    model = LyricsMoodModel.fit(
        frame.loc[both].to_numpy(),
        audio.loc[both, ["valence", "energy"]].to_numpy(),
        source=f"{len(both)} tracks of {store.path}",
    )
    return model, frame


def compute_moods(
    store: Store,
    db: str | Path,
    *,
    refit: bool = False,
    model_file: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    show_progress: bool = False,
) -> pd.DataFrame:
    """Moods of every track with audio features or lyrics, written to ``track_moods``.

    The lyrics model is ``model_file`` when given, else the one saved beside the store
    (:func:`model_path`) unless ``refit``, else fitted now on the store's tracks with both
    lyrics and audio features and saved there. Where there are too few such tracks and no
    saved model, lyrics are left out and the moods come from sound alone (a note in
    ``attrs["notes"]`` says so).

    Raises
    ------
    DataError
        No track has audio valence/energy or lyrics; an unreadable model file.
    """
    audio = audio_features(store)
    lyr = lyrics_of(store)
    if audio.empty and lyr.empty:
        raise DataError(
            "no track in the store has audio valence/energy or lyrics",
            hint="ingest spotify_moods, tcc_ceds or billboard_lyrics first",
        )
    notes: list[str] = []
    pred = pd.DataFrame(columns=["valence", "arousal"])
    vader = None
    model: LyricsMoodModel | None = None
    feats: pd.DataFrame | None = None
    if not lyr.empty:
        path = Path(model_file) if model_file is not None else model_path(db)
        if model_file is not None or (path.exists() and not refit):
            model = LyricsMoodModel.load(path)
            notes.append(f"lyrics model read from {path}")
        else:
            try:
                model, feats = fit_lyrics_model(
                    store, progress=progress, show_progress=show_progress
                )
            except DataError as exc:
                notes.append(
                    f"lyrics left out: {exc.message} (pass a model fitted on another store "
                    "with --lyrics-model)"
                )
            else:
                model.save(path)
                notes.append(f"lyrics model fitted on {model.n_train:,} tracks, saved to {path}")
    if model is not None:
        if feats is None:
            if progress:
                progress(f"embedding {len(lyr):,} lyrics")
            feats = pd.DataFrame(
                lyric_features(list(lyr["text"]), show_progress=show_progress), index=lyr.index
            )
        p = model.predict(feats.to_numpy())
        pred = pd.DataFrame({"valence": p[:, 0], "arousal": p[:, 1]}, index=feats.index)
        vader = feats.iloc[:, -3]
    if audio.empty and pred.empty:
        raise DataError(
            "no track has audio valence/energy, and the lyrics could not be used",
            hint=notes[-1] if notes else None,
        )
    rows = mood_rows(audio, pred, vader)
    write_moods(store, rows)
    rows.attrs["notes"] = notes
    return rows


def write_moods(store: Store, rows: pd.DataFrame) -> None:
    """Replace the moods of these tracks in ``track_moods`` (one transaction)."""
    frame = rows[list(MOOD_COLUMNS)].assign(computed_at=datetime.now(UTC).replace(tzinfo=None))
    with store.transaction() as con:
        con.register("_moods", frame)
        con.execute("DELETE FROM track_moods WHERE track_id IN (SELECT track_id FROM _moods)")
        cols = ", ".join([*MOOD_COLUMNS, "computed_at"])
        con.execute(f"INSERT INTO track_moods ({cols}) SELECT {cols} FROM _moods")
        con.unregister("_moods")


def resolve_track(store: Store, track: str) -> int:
    """A track id from an id or ``'artist - title'`` / a title (case-insensitive).

    Raises
    ------
    UnknownIdError
        No such track; close titles are suggested.
    """
    text = track.strip()
    if text.isdigit() and store.scalar(
        "SELECT count(*) FROM tracks WHERE track_id = ?", [int(text)]
    ):
        return int(text)  # else a title made of digits ('1999')
    artist, sep, title = text.partition(" - ")
    if sep:
        row = store.execute(
            """SELECT t.track_id FROM tracks t JOIN artists a USING (artist_id)
               WHERE lower(a.name) = lower(?) AND lower(t.title) = lower(?)
               ORDER BY t.track_id LIMIT 1""",
            [artist.strip(), title.strip()],
        ).fetchone()
        if row:
            return int(row[0])
    row = store.execute(
        "SELECT track_id FROM tracks WHERE lower(title) = lower(?) ORDER BY track_id LIMIT 1",
        [text],
    ).fetchone()
    if row:
        return int(row[0])
    close = [
        r[0]
        for r in store.execute(
            """SELECT t.title || ' (' || coalesce(a.name, '?') || ', id ' || t.track_id || ')'
               FROM tracks t LEFT JOIN artists a USING (artist_id)
               ORDER BY jaro_winkler_similarity(lower(t.title), lower(?)) DESC LIMIT 3""",
            [title.strip() if sep else text],
        ).fetchall()
    ]
    raise UnknownIdError(
        "track", [text], hint=("close: " + "; ".join(close)) if close else "the store has no tracks"
    )


def mood_of(store: Store, track_id: int, db: str | Path) -> dict[str, Any]:
    """The quadrant of one track with the evidence from sound and from words.

    Reads ``track_moods`` where ``encore moods compute`` has run; otherwise computes this
    track's mood now (the saved lyrics model when there is one, else VADER alone for the
    valence of the words, with no arousal from them).
    """
    stored = store.df("SELECT * FROM track_moods WHERE track_id = ?", [track_id])
    audio = audio_features(store, [track_id])
    lyr = lyrics_of(store, [track_id])
    if not stored.empty:
        row = {str(k): v for k, v in stored.iloc[0].to_dict().items()}
    else:
        pred = pd.DataFrame(columns=["valence", "arousal"])
        vader = None
        if not lyr.empty:
            text = str(lyr["text"].iloc[0])
            path = model_path(db)
            if path.exists():
                feats = lyric_features([text])
                p = LyricsMoodModel.load(path).predict(feats)[0]
                pred = pd.DataFrame({"valence": [p[0]], "arousal": [p[1]]}, index=[track_id])
                vader = pd.Series([feats[0, -3]], index=[track_id])
            else:
                compound = float(vader_scores([text])[0, 0])
                vader = pd.Series([compound], index=[track_id])
                if audio.empty:
                    raise DataError(
                        f"track {track_id} has lyrics but no audio features, and no lyrics "
                        "mood model has been fitted (VADER gives valence only)",
                        hint="run `encore moods compute` first",
                    )
        if audio.empty and pred.empty:
            raise DataError(
                f"track {track_id} has neither audio valence/energy nor lyrics",
                hint="its mood cannot be told; ingest a source with audio features or lyrics",
            )
        rows = mood_rows(audio, pred, vader)
        row = {str(k): v for k, v in rows.iloc[0].to_dict().items()}
        if not lyr.empty and pred.empty and vader is not None:
            row["lyrics_valence"] = (float(vader.iloc[0]) + 1) / 2
            row["disagreement"] = disagreement(row["audio_valence"], row["lyrics_valence"])
    row["lines"] = _telling_lines(str(lyr["text"].iloc[0])) if not lyr.empty else {}
    return row


def _telling_lines(text: str) -> dict[str, str]:
    """The most positive and most negative line of a lyric by VADER (the words' evidence)."""
    units = text_lines(text)
    if len(units) < 3:
        toks = text.split()
        units = [" ".join(toks[j : j + 12]) for j in range(0, len(toks), 12)]
    if not units:
        return {}
    scores = vader_scores(units)[:, 0]
    return {
        "most positive": units[int(np.argmax(scores))],
        "most negative": units[int(np.argmin(scores))],
    }


#: How many candidates a mood-filtered list draws per requested item (and at least).
MOOD_OVERFETCH = 20
MOOD_MIN_CANDIDATES = 200
#: The most candidates a mood filter asks a model for (a short list widens up to this).
MOOD_MAX_CANDIDATES = 20_000


def check_mood(store: Store, mood: str) -> str:
    """A valid quadrant name with moods in the store.

    Raises
    ------
    ConfigError
        Not one of :data:`QUADRANTS`.
    DataError
        No track has a stored mood (``encore moods compute`` has not run).
    """
    value = mood.strip().lower()
    if value not in QUADRANTS:
        raise ConfigError(f"--mood must be one of {', '.join(QUADRANTS)}, not {mood!r}")
    if not store.scalar("SELECT count(*) FROM track_moods WHERE mood = ?", [value]):
        raise DataError(
            f"no track in the store has the mood {value!r}",
            hint="run `encore moods compute` (needs tracks with audio features or lyrics)",
        )
    return value


def candidates_for(k: int) -> int:
    """How many items to ask a model for when only those of one mood are kept."""
    return max(k * MOOD_OVERFETCH, MOOD_MIN_CANDIDATES)


def keep_mood(store: Store, table: pd.DataFrame, mood: str, k: int) -> tuple[pd.DataFrame, str]:
    """The first ``k`` rows of a named recommendation table whose track has ``mood``.

    Adds ``mood`` and ``mood_basis`` columns, renumbers ``rank``, and returns a note saying
    how many of the candidates had that mood.
    """
    moods = store.con.execute(
        "SELECT track_id AS item_id, mood, basis AS mood_basis FROM track_moods "
        "WHERE track_id = ANY($ids)",
        {"ids": [int(i) for i in table["item_id"]]},
    ).df()
    merged = table.merge(moods, on="item_id", how="left")
    kept = merged[merged["mood"] == mood].head(k).reset_index(drop=True)
    kept["rank"] = range(1, len(kept) + 1)
    known = int(merged["mood"].notna().sum())
    note = (
        f"--mood {mood}: {int((merged['mood'] == mood).sum())} of {len(merged)} candidates "
        f"have that mood ({known} have any stored mood)"
    )
    return kept, note


def short_list_hint(store: Store, mood: str, model: str) -> str:
    """Why a mood-filtered list came out short, and what would give a longer one."""
    with_mood, this_mood = store.con.execute(
        "SELECT count(*), count(*) FILTER (WHERE mood = $m) FROM track_moods", {"m": mood}
    ).fetchone() or (0, 0)
    tracks = store.scalar("SELECT count(*) FROM tracks") or 0
    share = with_mood / tracks if tracks else 0.0
    return (
        f"fewer tracks than asked: only {with_mood:,} of the store's {tracks:,} tracks "
        f"({share:.1%}) have a stored mood, {this_mood:,} of them {mood}, and {model} ranks few "
        "of those for this listener; moods come from lyrics and audio features "
        "(`encore moods compute` after loading them)"
        + (
            "; a CF model ranks the whole catalogue (e.g. --model item_knn)"
            if model == "for_you"
            else ""
        )
    )
