"""Honest evaluation of the audio models: grouped cross-validation, mood, cold start.

Folds are grouped (``StratifiedGroupKFold``) by :attr:`ClipSet.frame` ``group`` - the same
artist or the same song title never sits on both sides - and the whole k-fold split is
repeated over seeds. On the same folds:

- **genre**: majority class; classic features (MFCC / chroma / spectral statistics) with a
  standardised logistic regression (the FMA baseline family); the CNN; and the ensemble
  (mean of the CNN's and the logistic regression's probabilities). Accuracy and macro-F1
  per fold, reported as the mean with a 95 % t-interval over the folds x seeds (folds share
  training clips, so the interval is a rough guide, not an exact one).
- **mood**: per clip the share of listeners who chose each GEMS emotion and the like rate,
  predicted from the out-of-fold CNN embedding (ridge), from the classic features (ridge)
  and from the genre alone (the training mean of the clip's genre); Spearman correlation
  and ROC-AUC of "the majority chose it" (only where at least 5 clips are on each side).
- **cold start**: the test fold's clips are new tracks nobody has played; a listener is
  defined by the five training clips with the highest like rate (one listener per genre,
  and one over all genres); held-out clips are ranked by mean cosine similarity to those
  five, by CNN embedding or by classic-feature statistics, or by popularity (the clip's
  number of ratings - a reference a real cold start would not have); precision@k of "same
  genre as the listener's clips" and of "like rate above the median".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.audio.clips import EMOTIONS, ClipSet
from encore.audio.cnn import AudioModel, CNNConfig, resolve_device
from encore.audio.signal import AudioCache
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

GENRE_METHODS = ("majority", "classic+logreg", "cnn", "ensemble")
PROFILE_SIZE = 5
MIN_SIDE = 5


@dataclass
class EvalSetting:
    """What :func:`cross_validate` ran."""

    folds: int = 5
    seeds: tuple[int, ...] = (0,)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    k: int = 10


@dataclass
class EvalResult:
    """Tables and out-of-fold outputs of one evaluation."""

    genre: pd.DataFrame
    per_fold: pd.DataFrame
    confusion: dict[str, np.ndarray]
    genres: list[str]
    mood: pd.DataFrame | None
    coldstart: pd.DataFrame | None
    setting: dict[str, Any]
    embeddings: np.ndarray  # out-of-fold CNN embeddings of the first seed
    coldstart_per_fold: pd.DataFrame | None = None  # one row per seed, fold, listener, method


def interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of ``values`` (NaN bounds for fewer than two)."""
    from scipy import stats

    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half


def grouped_folds(clips: ClipSet, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds with every group (artist / song) on one side.

    Raises
    ------
    ConfigError
        Fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    groups = clips.frame["group"].to_numpy()
    if len(np.unique(groups)) < n_splits or n_splits < 2:
        raise ConfigError(
            f"{n_splits} folds need at least {n_splits} artist groups; "
            f"the data has {len(np.unique(groups))}"
        )
    skf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in skf.split(np.zeros(len(groups)), clips.labels(), groups)]


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, max_iter=3000, random_state=seed)
    )


def _scores(y: np.ndarray, prob: np.ndarray, n_classes: int) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = prob.argmax(axis=1)
    return (
        float(accuracy_score(y, pred)),
        float(f1_score(y, pred, average="macro", labels=list(range(n_classes)), zero_division=0)),
    )


def load_inputs(
    clips: ClipSet, cache: AudioCache, progress: Callable[[str, int, int], None] | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Spectrograms and classic features of every clip (decoded once, then cached)."""
    specs: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    paths = [Path(p) for p in clips.frame["path"]]
    for i, p in enumerate(paths):
        specs.append(cache.spectrogram(p))
        feats.append(cache.features(p))
        if progress is not None:
            progress("decoding clips", i + 1, len(paths))
    return specs, np.vstack(feats)


def cross_validate(
    clips: ClipSet,
    setting: EvalSetting | None = None,
    cache: AudioCache | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    """Run every method on the same grouped folds, repeated over the seeds."""
    st = setting or EvalSetting()
    cache = cache or AudioCache.default()
    specs, feats = load_inputs(clips, cache, progress)
    y = clips.labels()
    genres = clips.genres
    n, c = len(y), len(genres)
    rows: list[dict[str, Any]] = []
    confusion = {m: np.zeros((c, c), dtype=np.int64) for m in GENRE_METHODS}
    oof_emb = np.zeros((n, st.cnn.channels[-1]), dtype=np.float32)
    mood_rows: list[pd.DataFrame] = []
    cold_rows: list[dict[str, Any]] = []
    total = len(st.seeds) * st.folds
    done = 0
    for s_i, seed in enumerate(st.seeds):
        folds = grouped_folds(clips, st.folds, seed)
        emb_seed = np.zeros_like(oof_emb)
        for f_i, (tr, te) in enumerate(folds):
            if progress is not None:
                progress(f"seed {seed}, fold {f_i + 1}/{st.folds}: training the CNN", done, total)
            probs: dict[str, np.ndarray] = {}
            counts = np.bincount(y[tr], minlength=c)
            maj = np.zeros((len(te), c))
            maj[:, int(counts.argmax())] = 1.0
            probs["majority"] = maj
            lr = _logreg(seed).fit(feats[tr], y[tr])
            p_lr = np.zeros((len(te), c))
            p_lr[:, lr.classes_] = lr.predict_proba(feats[te])
            probs["classic+logreg"] = p_lr
            cfg = CNNConfig(**{**st.cnn.__dict__, "seed": seed * 100 + f_i})
            model = AudioModel.fit([specs[i] for i in tr], y[tr], genres, cfg)
            emb_tr, _ = model._forward([specs[i] for i in tr])
            emb_te, p_cnn = model._forward([specs[i] for i in te])
            probs["cnn"] = p_cnn
            probs["ensemble"] = (p_cnn + p_lr) / 2.0
            emb_seed[te] = emb_te
            for m, p in probs.items():
                acc, f1 = _scores(y[te], p, c)
                rows.append(
                    {"method": m, "seed": seed, "fold": f_i + 1, "accuracy": acc, "macro_f1": f1}
                )
                np.add.at(confusion[m], (y[te], p.argmax(axis=1)), 1)
            if clips.has_mood:
                mood_rows.append(_mood_fold(clips, tr, te, emb_tr, emb_te, feats, seed))
                cold_rows.extend(
                    _cold_fold(clips, tr, te, emb_tr, emb_te, feats, st.k, seed, f_i + 1)
                )
            done += 1
        if s_i == 0:
            oof_emb = emb_seed
    per_fold = pd.DataFrame(rows)
    genre_table = _summary(per_fold, ["accuracy", "macro_f1"], "method", list(GENRE_METHODS))
    mood = _mood_summary(pd.concat(mood_rows, ignore_index=True)) if mood_rows else None
    cold_per_fold = pd.DataFrame(cold_rows) if cold_rows else None
    cold = (
        _summary(cold_per_fold, ["p_same_genre", "p_liked"], "method", None, by="listener")
        if cold_per_fold is not None
        else None
    )
    setting_dict = {
        "clips": n,
        "groups": int(clips.frame["group"].nunique()),
        "folds": st.folds,
        "seeds": list(st.seeds),
        "epochs": st.cnn.epochs,
        "crop_frames": st.cnn.crop_frames,
        "channels": list(st.cnn.channels),
        "k": st.k,
        "device": str(resolve_device(st.cnn.device)),
    }
    return EvalResult(
        genre_table, per_fold, confusion, genres, mood, cold, setting_dict, oof_emb, cold_per_fold
    )


def _summary(
    df: pd.DataFrame, metrics: list[str], key: str, order: list[str] | None, by: str | None = None
) -> pd.DataFrame:
    out = []
    keys = [by, key] if by else [key]
    for vals, g in df.groupby(keys, sort=False):
        vals = vals if isinstance(vals, tuple) else (vals,)
        row: dict[str, Any] = dict(zip(keys, vals, strict=True))
        for m in metrics:
            mean, lo, hi = interval(list(g[m]))
            lo, hi = max(lo, 0.0), min(hi, 1.0)  # shares and accuracies stay in [0, 1]
            row[m] = round(mean, 4)
            row[f"{m}_lo"] = round(lo, 4)
            row[f"{m}_hi"] = round(hi, 4)
        row["n"] = len(g)
        out.append(row)
    table = pd.DataFrame(out)
    if order is not None and not by:
        table = table.set_index(key).loc[[o for o in order if o in set(table[key])]].reset_index()
    return table


# ------------------------------------------------------------------------------ mood
MOOD_TARGETS = (*EMOTIONS, "like_rate")


def _mood_fold(
    clips: ClipSet,
    tr: np.ndarray,
    te: np.ndarray,
    emb_tr: np.ndarray,
    emb_te: np.ndarray,
    feats: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    f = clips.frame
    t = f[list(MOOD_TARGETS)].to_numpy(dtype=float)
    preds: dict[str, np.ndarray] = {}
    for name, xtr, xte in (
        ("cnn embedding", emb_tr, emb_te),
        ("classic features", feats[tr], feats[te]),
    ):
        ridge = make_pipeline(StandardScaler(), Ridge(alpha=30.0)).fit(xtr, t[tr])
        preds[name] = ridge.predict(xte)
    genre_means = (
        pd.DataFrame(t[tr], columns=list(MOOD_TARGETS)).groupby(f["genre"].to_numpy()[tr]).mean()
    )
    preds["genre only"] = genre_means.reindex(f["genre"].to_numpy()[te]).to_numpy()
    frames = []
    for name, p in preds.items():
        d = pd.DataFrame(p, columns=[f"pred_{x}" for x in MOOD_TARGETS])
        d["method"] = name
        d["seed"] = seed
        d["clip"] = te
        frames.append(d)
    return pd.concat(frames, ignore_index=True).assign(
        **{x: np.tile(t[te][:, j], len(preds)) for j, x in enumerate(MOOD_TARGETS)}
    )


def _mood_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: Spearman and ROC-AUC of out-of-fold predictions, averaged over seeds."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    rows = []
    for target in MOOD_TARGETS:
        for method, g in df.groupby("method", sort=False):
            rhos, aucs = [], []
            for _, gs in g.groupby("seed"):
                truth = gs[target].to_numpy()
                pred = gs[f"pred_{target}"].to_numpy()
                rhos.append(float(spearmanr(truth, pred).statistic))
                cut = 0.5 if target != "like_rate" else float(np.median(truth))
                pos = truth > cut
                if pos.sum() >= MIN_SIDE and (~pos).sum() >= MIN_SIDE:
                    aucs.append(float(roc_auc_score(pos, pred)))
            truth_all = g[g["seed"] == g["seed"].iloc[0]][target].to_numpy()
            cut = 0.5 if target != "like_rate" else float(np.median(truth_all))
            rows.append(
                {
                    "target": target,
                    "method": method,
                    "spearman": round(float(np.mean(rhos)), 4),
                    "roc_auc": round(float(np.mean(aucs)), 4) if aucs else math.nan,
                    "positives": int((truth_all > cut).sum()),
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ cold start
def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-9)
    b = b / (np.linalg.norm(b, axis=1, keepdims=True) + 1e-9)
    return a @ b.T


def _cold_fold(
    clips: ClipSet,
    tr: np.ndarray,
    te: np.ndarray,
    emb_tr: np.ndarray,
    emb_te: np.ndarray,
    feats: np.ndarray,
    k: int,
    seed: int,
    fold: int,
) -> list[dict[str, Any]]:
    f = clips.frame
    genre = f["genre"].to_numpy()
    like = f["like_rate"].to_numpy(dtype=float)
    liked = like[te] > np.median(like)
    mu, sd = feats[tr].mean(axis=0), feats[tr].std(axis=0) + 1e-9
    spaces = {
        "audio embedding": (emb_tr - emb_tr.mean(axis=0), emb_te - emb_tr.mean(axis=0)),
        "classic features": ((feats[tr] - mu) / sd, (feats[te] - mu) / sd),
    }
    listeners: list[tuple[str, np.ndarray]] = []
    for g in sorted(set(genre[tr])):
        pool = tr[genre[tr] == g]
        listeners.append(
            (f"likes {g}", pool[np.argsort(-like[pool], kind="stable")][:PROFILE_SIZE])
        )
    listeners.append(("likes anything", tr[np.argsort(-like[tr], kind="stable")][:PROFILE_SIZE]))
    pos_in_tr = {int(c): i for i, c in enumerate(tr)}
    kk = min(k, len(te))
    rows = []
    for name, profile in listeners:
        vals, counts = np.unique(genre[profile], return_counts=True)
        target_genre = vals[counts.argmax()]
        same = genre[te] == target_genre
        scores = {
            space: _cosine(x_te, x_tr[[pos_in_tr[int(c)] for c in profile]]).mean(axis=1)
            for space, (x_tr, x_te) in spaces.items()
        }
        scores["popularity (ratings)"] = f["n_ratings"].to_numpy(dtype=float)[te]
        for method, s in scores.items():
            top = np.argsort(-s, kind="stable")[:kk]
            rows.append(
                {
                    "listener": name,
                    "method": method,
                    "seed": seed,
                    "fold": fold,
                    "p_same_genre": float(same[top].mean()),
                    "p_liked": float(liked[top].mean()),
                }
            )
        rows.append(
            {
                "listener": name,
                "method": "random (expected)",
                "seed": seed,
                "fold": fold,
                "p_same_genre": float(same.mean()),
                "p_liked": float(liked.mean()),
            }
        )
    return rows


# ------------------------------------------------------------------------------ GTZAN reference
def gtzan_reference(csv_path: Path, folds: int = 5, seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """The same logistic regression on GTZAN's precomputed 30-s features (stratified folds;
    GTZAN names no artists, so folds cannot be grouped and the numbers are optimistic).

    Raises
    ------
    DataError
        The file is missing or has no ``label`` column.
    """
    from sklearn.model_selection import StratifiedKFold

    if not csv_path.is_file():
        raise DataError("no such file", file=str(csv_path))
    df = pd.read_csv(csv_path)
    if "label" not in df:
        raise DataError("missing column", file=str(csv_path), line=1, field="label")
    x = df.drop(columns=[c for c in ("filename", "length", "label") if c in df]).to_numpy(
        dtype=float
    )
    labels = sorted(df["label"].unique())
    y = df["label"].map({g: i for i, g in enumerate(labels)}).to_numpy()
    rows = []
    for seed in seeds:
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for f_i, (tr, te) in enumerate(skf.split(x, y)):
            model = _logreg(seed).fit(x[tr], y[tr])
            p = model.predict_proba(x[te])
            acc, f1 = _scores(y[te], p, len(labels))
            rows.append(
                {
                    "method": "gtzan classic+logreg",
                    "seed": seed,
                    "fold": f_i + 1,
                    "accuracy": acc,
                    "macro_f1": f1,
                }
            )
            maj = np.zeros_like(p)
            maj[:, np.bincount(y[tr]).argmax()] = 1
            acc, f1 = _scores(y[te], maj, len(labels))
            rows.append(
                {
                    "method": "gtzan majority",
                    "seed": seed,
                    "fold": f_i + 1,
                    "accuracy": acc,
                    "macro_f1": f1,
                }
            )
    return _summary(
        pd.DataFrame(rows),
        ["accuracy", "macro_f1"],
        "method",
        ["gtzan majority", "gtzan classic+logreg"],
    )


# ------------------------------------------------------------------------------ charts
def confusion_charts(
    result: EvalResult, out: Path, methods: Sequence[str] = ("cnn", "ensemble", "classic+logreg")
) -> list[Path]:
    """Row-normalised confusion matrices as one PNG and one interactive HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out.mkdir(parents=True, exist_ok=True)
    g = result.genres
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 4))
    axes = np.atleast_1d(axes)
    html = make_subplots(rows=1, cols=len(methods), subplot_titles=list(methods))
    for j, (ax, m) in enumerate(zip(axes, methods, strict=True)):
        cm = result.confusion[m].astype(float)
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(g)), g, rotation=45)
        ax.set_yticks(range(len(g)), g)
        ax.set_xlabel("predicted")
        if j == 0:
            ax.set_ylabel("true")
        ax.set_title(m)
        for a in range(len(g)):
            for b in range(len(g)):
                ax.text(
                    b,
                    a,
                    f"{norm[a, b]:.2f}",
                    ha="center",
                    va="center",
                    color="black" if norm[a, b] < 0.6 else "white",
                    fontsize=8,
                )
        html.add_trace(
            go.Heatmap(
                z=norm,
                x=g,
                y=g,
                text=cm.astype(int),
                colorscale="Blues",
                zmin=0,
                zmax=1,
                showscale=j == 0,
                hovertemplate="true %{y}<br>predicted %{x}<br>share %{z:.2f}<br>clips %{text}<extra></extra>",
            ),
            row=1,
            col=j + 1,
        )
    fig.suptitle("Genre confusion (rows: true genre, share of its clips; out-of-fold, all seeds)")
    fig.tight_layout()
    png = out / "audio-confusion.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    html.update_yaxes(autorange="reversed")
    html.update_layout(title="Genre confusion (out-of-fold, all seeds)")
    page = out / "audio-confusion.html"
    html.write_html(page, include_plotlyjs=True)
    return [png, page]
