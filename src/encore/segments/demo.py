"""Demo step: segment the HetRec Last.fm 2K users, name the segments, draw the map."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.table import Table

from encore.cli.console import console
from encore.data.store import Store

log = logging.getLogger(__name__)


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Fit segments on HetRec users (taste from plays and tags), save, map; return outputs.

    Ingests HetRec from ``data`` first when the store has no ``hetrec:`` users.
    """
    from encore.segments.features import candidate_users
    from encore.segments.mapping import plot_html, plot_png
    from encore.segments.model import fit_segments, model_dir, write_assignments

    folder = out / "segments"
    folder.mkdir(parents=True, exist_ok=True)
    with Store(db) as store:
        if not candidate_users(store, "hetrec"):
            from encore.data.ingest import ingest
            from encore.data.sources import get_loader

            ingest(store, get_loader("hetrec2011"), data / "hetrec2011-lastfm-2k")
        model = fit_segments(store, name="default", namespace="hetrec", friends_permutations=500)
        write_assignments(store, model)
    saved = model.save(model_dir(db, model.name))
    s = model.summary()
    assert model.xy is not None
    title = f"HetRec Last.fm 2K listeners: {len(model.user_ids):,} users, {s['segments']} segments (k-means)"
    png = plot_png(model.xy, model.labels, model.names, folder / "hetrec-segments.png", title=title)
    import pandas as pd

    hover = pd.DataFrame({"user_id": model.user_ids, "top_genres": model.top_genres})
    html = plot_html(
        model.xy, model.labels, model.names, hover, folder / "hetrec-segments.html", title=title
    )
    prof_csv = folder / "hetrec-segments.csv"
    model.profiles.to_csv(prof_csv, index=False)

    table = Table(title=f"Listener segments of HetRec ({s['features']} features, k by silhouette)")
    for col in ("segment", "name", "users", "top genres", "top artists"):
        table.add_column(col, justify="right" if col in ("segment", "users") else "left")
    for r in model.profiles.itertuples(index=False):
        table.add_row(
            str(r.segment), str(r.name), f"{r.users:,}", str(r.top_genres), str(r.top_artists)
        )
    console.print(table)
    console.print(
        f"silhouette {s['silhouette']:.3f}; adjusted Rand index between 5 seeds: mean {s['ari_mean']:.3f}, "
        f"min {s['ari_min']:.3f}; fit + map {s['seconds']['total']:.0f} s"
    )
    f = model.friends
    if f is not None:
        console.print(
            f"friends in the same segment: {f['same_segment_rate']:.1%} of {f['friend_pairs']:,} pairs vs "
            f"{f['permutation_mean']:.1%} when segments are shuffled (p = {f['p_value']:.3g})"
        )
    return [saved, png, html, prof_csv]
