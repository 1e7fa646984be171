"""A 2-D map of listeners: openTSNE (default) or UMAP, drawn as PNG and interactive HTML.

openTSNE is used because it can place new points into an existing embedding
(:meth:`openTSNE.TSNEEmbedding.transform`). The fitted embedding itself is large (it holds
the neighbour index), so only the 2-D coordinates and the prepared training matrix are
saved; :func:`place` rebuilds the affinities from them when a new user must be placed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

MAP_METHODS: tuple[str, ...] = ("tsne", "umap")


def _perplexity(n: int) -> float:
    return float(max(2.0, min(30.0, (n - 1) / 3.0)))


def _tsne_affinities(z: np.ndarray, seed: int, n_jobs: int) -> Any:
    try:
        from openTSNE import affinity
    except ImportError as exc:  # pragma: no cover - openTSNE is a dependency
        raise MissingDependencyError("openTSNE", "segments") from exc
    method = "exact" if len(z) < 1000 else "annoy"
    return affinity.PerplexityBasedNN(
        z, perplexity=_perplexity(len(z)), method=method, random_state=seed, n_jobs=n_jobs
    )


def embed(z: np.ndarray, *, method: str = "tsne", seed: int = 0, n_jobs: int = 1) -> np.ndarray:
    """2-D coordinates of the prepared rows ``z``.

    Raises
    ------
    MissingDependencyError
        ``method="umap"`` and umap-learn is not installed.
    ConfigError
        Unknown method or fewer than 4 rows.
    """
    if method not in MAP_METHODS:
        raise ConfigError(f"unknown map method {method!r}", hint="use tsne or umap")
    if len(z) < 4:
        raise ConfigError(f"a map needs at least 4 users, got {len(z)}")
    if method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise MissingDependencyError("umap-learn", "umap") from exc
        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(z) - 1))
        return np.asarray(reducer.fit_transform(z), dtype=float)
    from openTSNE import TSNEEmbedding, initialization

    aff = _tsne_affinities(z, seed, n_jobs)
    init = initialization.pca(z, random_state=seed)
    emb = TSNEEmbedding(init, aff, n_jobs=n_jobs, random_state=seed)
    emb = emb.optimize(n_iter=250, exaggeration=12, momentum=0.5)
    emb = emb.optimize(n_iter=500, momentum=0.8)
    return np.asarray(emb, dtype=float)


def map_embedding(
    train_z: np.ndarray, train_xy: np.ndarray, *, seed: int = 0, n_jobs: int = 1
) -> Any:
    """The saved map as an openTSNE embedding new rows can be placed into (:func:`place`).

    Building it rebuilds the training rows' neighbour index (the costly part: about half a
    second for 2,000 listeners); one embedding places any number of rows, so a caller that
    places many (the service) keeps it.
    """
    from openTSNE import TSNEEmbedding

    aff = _tsne_affinities(train_z, seed, n_jobs)
    return TSNEEmbedding(np.ascontiguousarray(train_xy), aff, n_jobs=n_jobs, random_state=seed)


def place(
    train_z: np.ndarray,
    train_xy: np.ndarray,
    new_z: np.ndarray,
    *,
    seed: int = 0,
    n_jobs: int = 1,
    embedding: Any = None,
) -> np.ndarray:
    """Place new prepared rows into an existing t-SNE map without moving the old points.

    ``embedding`` is :func:`map_embedding` of the same map, built once and kept (same
    coordinates as building it here; the placement does not change it).
    """
    emb = (
        embedding
        if embedding is not None
        else map_embedding(train_z, train_xy, seed=seed, n_jobs=n_jobs)
    )
    return np.asarray(emb.transform(new_z), dtype=float)


def _palette(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_png(
    xy: np.ndarray,
    labels: np.ndarray,
    names: dict[int, str],
    path: Path,
    *,
    title: str,
    method: str = "tsne",
) -> Path:
    """Scatter of the map coloured by segment, with a legend of segment names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = sorted(set(labels.tolist()), key=lambda s: (s < 0, s))
    colours = _palette(len([s for s in segs if s >= 0]))
    size = max(1.5, min(14.0, 9000.0 / max(len(xy), 1)))
    fig, ax = plt.subplots(figsize=(8.5, 6.0), dpi=90)
    for i, seg in enumerate(segs):
        m = labels == seg
        colour = (0.7, 0.7, 0.7, 0.6) if seg < 0 else colours[i]
        ax.scatter(
            xy[m, 0],
            xy[m, 1],
            s=size,
            color=colour,
            alpha=0.75,
            linewidths=0,
            label=f"{seg}: {names.get(seg, '')} ({int(m.sum()):,})",
            rasterized=True,
        )
    axis = "t-SNE" if method == "tsne" else "UMAP"
    ax.set_title(title)
    ax.set_xlabel(f"{axis} 1 (arbitrary units)")
    ax.set_ylabel(f"{axis} 2 (arbitrary units)")
    ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=8,
        markerscale=max(1.0, 18 / size),
        title="segment (users)",
        title_fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_html(
    xy: np.ndarray,
    labels: np.ndarray,
    names: dict[int, str],
    hover: pd.DataFrame,
    path: Path,
    *,
    title: str,
    method: str = "tsne",
) -> Path:
    """Interactive map (plotly, offline HTML): hover shows the user and their top genres."""
    import plotly.graph_objects as go

    fig = go.Figure()
    segs = sorted(set(labels.tolist()), key=lambda s: (s < 0, s))
    for seg in segs:
        m = labels == seg
        sub = hover.iloc[np.flatnonzero(m)]
        text = [
            f"{uid}<br>segment {seg}: {names.get(seg, '')}<br>top genres: {g or 'unknown'}"
            for uid, g in zip(sub["user_id"], sub["top_genres"], strict=True)
        ]
        fig.add_trace(
            go.Scattergl(
                x=xy[m, 0],
                y=xy[m, 1],
                mode="markers",
                name=f"{seg}: {names.get(seg, '')}",
                text=text,
                hoverinfo="text",
                marker={"size": 5, "opacity": 0.8},
            )
        )
    axis = "t-SNE" if method == "tsne" else "UMAP"
    fig.update_layout(
        title=title,
        xaxis_title=f"{axis} 1 (arbitrary units)",
        yaxis_title=f"{axis} 2 (arbitrary units)",
        legend_title="segment",
        template="plotly_white",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True)
    return path
