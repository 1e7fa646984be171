"""The listener's view: cut each listener's history at their own time point and score what
they would have been recommended against what they went on to play.

For every listener with named-track events, the events before their own cut (the
``fraction`` point of their history by time) are what the recommender may see, as if the
listener had exported and ingested them then; everyone's events after their cut are
hidden from training, popularity and neighbourhoods alike. The ranker of the hybrid is
itself trained inside the visible part (per-listener cuts within it), so the scored period
is never learned from.

Targets, per listener: the *songs* (artist and title normalised alike) they played, not
skipped, for the first time after the cut and had neither played nor liked before; and the
*artists* they played for the first time after the cut. Each row of the report ranks the
same candidates a different way, with the same list rules (``k`` tracks, at most
``max_per_artist`` per artist), so the rows differ only in the signal used.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.errors import DataError
from encore.recommenders.for_you import (
    SOURCES,
    Candidates,
    ForYou,
    ForYouConfig,
    by_user,
    discovery_score,
    label_songs,
    select,
)
from encore.recommenders.listeners import (
    load_catalogue,
    load_community,
    load_history,
    time_cutoffs,
)

log = logging.getLogger(__name__)

#: Report rows: (name, description).
ROWS: tuple[tuple[str, str], ...] = (
    ("popular", "most played tracks in the store"),
    ("more", "more from your artists"),
    ("artist_cf", "artist CF (community) turned into tracks"),
    ("track_cf", "track CF (listeners like you)"),
    ("genre", "popular in your favourite genres"),
    ("hybrid", "for_you (learned ranker, 40 % of the list new artists)"),
    ("hybrid_new_artists", "for_you --new-artists-only"),
)
METRICS: tuple[str, ...] = (
    "track_recall",
    "track_ndcg",
    "track_hit",
    "artist_recall",
    "artist_ndcg",
    "artist_hit",
    "named_share",
    "heard_share",
    "distinct_artists",
)


@dataclass
class ListenerReport:
    """Per-listener metrics of every row, and the setting they were measured under."""

    per_user: pd.DataFrame
    k: int
    fraction: float
    max_per_artist: int
    n_users: int
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Mean of each metric per row, in :data:`ROWS` order, with wins of the hybrid."""
        means = self.per_user.groupby("model")[list(METRICS)].mean()
        order = [name for name, _ in ROWS if name in means.index]
        table = means.loc[order]
        hyb = self.per_user[self.per_user["model"] == "hybrid"].set_index("user_id")
        wins: list[str] = []
        for name in order:
            other = self.per_user[self.per_user["model"] == name].set_index("user_id")
            both = hyb.join(other.add_suffix("_o"), how="inner")
            better = int((both["track_ndcg"] > both["track_ndcg_o"]).sum())
            wins.append(f"{better}/{len(both)}" if name != "hybrid" else "")
        table.insert(0, "description", [dict(ROWS)[n] for n in order])
        table["hybrid_wins_track_ndcg"] = wins
        return table.reset_index()


def _dcg_metrics(hits: np.ndarray, n_relevant: int, k: int) -> tuple[float, float, float]:
    """Recall, NDCG and hit rate at ``k`` of a 0/1 hit vector."""
    if n_relevant == 0:
        return np.nan, np.nan, np.nan
    h = hits[:k].astype(np.float64)
    dcg = float((h / np.log2(np.arange(2, len(h) + 2))).sum())
    idcg = float((1.0 / np.log2(np.arange(2, min(n_relevant, k) + 2))).sum())
    return float(h.sum()) / n_relevant, dcg / idcg, float(h.any())


def _row_order(model: ForYou, name: str, c: Candidates) -> np.ndarray:
    if name in SOURCES:
        score = c.scores[name]
        return np.where(score > 0, score, -np.inf)
    return discovery_score(c)


def evaluate_listeners(
    store: Store,
    *,
    fraction: float = 0.8,
    k: int = 20,
    max_per_artist: int = 2,
    config: ForYouConfig | None = None,
    min_events: int = 50,
    show_progress: bool = False,
) -> ListenerReport:
    """Score every row of :data:`ROWS` for each listener cut at their own ``fraction`` point.

    Raises
    ------
    DataError
        No listener with at least ``min_events`` named-track events.
    """
    history = load_history(store)
    counts = history.events.groupby("user_id").size()
    users = sorted(str(u) for u in counts[counts >= min_events].index)
    if not users:
        raise DataError(
            f"no listener has {min_events} or more named-track events to evaluate",
            hint="ingest listening histories (e.g. ../shared/data/listening-histories)",
        )
    catalogue = load_catalogue(store)
    community = load_community(store)
    cuts = time_cutoffs(history.of(users).events, fraction)
    before = history.before(cuts)
    after = by_user(history.after(cuts))
    model = ForYou(config).fit(before, catalogue, community, show_progress=show_progress)
    ev, lk = by_user(before.events), by_user(before.likes)
    rows: list[dict[str, Any]] = []
    for user in users:
        if user not in after or user not in ev:
            continue
        prof = model.profile(user, ev[user], lk.get(user, before.likes.iloc[:0]))
        relevant = set(label_songs(after[user], catalogue, prof))
        a = after[user]
        heard_artists = set(ev[user]["artist_id"]) | set(
            lk[user]["artist_id"] if user in lk else ()
        )
        new_artists = set(a.loc[~a["skipped"].to_numpy(bool), "artist_id"]) - heard_artists
        c = model.candidates(prof)
        artists = catalogue.artist_id[c.rows]
        for name, _ in ROWS:
            if name in ("hybrid", "hybrid_new_artists"):
                picks = model.rank(
                    prof,
                    c,
                    k,
                    new_artists_only=name == "hybrid_new_artists",
                    max_per_artist=max_per_artist,
                )
                tracks = np.asarray([p.track_id for p in picks], dtype=np.int64)
                chosen = catalogue.index(tracks)
            else:
                score = _row_order(model, name, c)
                pick = select(
                    np.argsort(-score, kind="stable"),
                    artists,
                    k,
                    max_per_artist=max_per_artist,
                    allowed=np.isfinite(score),
                )
                chosen = c.rows[pick]
            songs = catalogue.song[chosen]
            track_hits = np.isin(songs, list(relevant))
            list_artists = list(dict.fromkeys(int(x) for x in catalogue.artist_id[chosen]))
            artist_hits = np.isin(np.asarray(list_artists, dtype=np.int64), list(new_artists))
            tr, tn, th = _dcg_metrics(track_hits, len(relevant), k)
            ar, an, ah = _dcg_metrics(artist_hits, len(new_artists), k)
            rows.append(
                {
                    "user_id": user,
                    "model": name,
                    "n": len(chosen),
                    "track_recall": tr,
                    "track_ndcg": tn,
                    "track_hit": th,
                    "artist_recall": ar,
                    "artist_ndcg": an,
                    "artist_hit": ah,
                    # catalogue rows are named by construction; checked, not assumed
                    "named_share": float(np.mean(chosen >= 0)) if len(chosen) else np.nan,
                    "heard_share": float(np.mean(np.isin(songs, prof.heard_songs)))
                    if len(chosen)
                    else np.nan,
                    "distinct_artists": float(len(list_artists)),
                    "relevant_tracks": len(relevant),
                    "relevant_artists": len(new_artists),
                }
            )
        if show_progress:
            log.info("evaluated %s", user)
    per_user = pd.DataFrame(rows)
    return ListenerReport(
        per_user=per_user,
        k=k,
        fraction=fraction,
        max_per_artist=max_per_artist,
        n_users=int(per_user["user_id"].nunique()) if len(per_user) else 0,
        info=dict(model.trained_on_),
    )


def report_markdown(report: ListenerReport, *, title: str | None = None) -> str:
    """The report as Markdown: setting, table, and the small-sample sentence when it applies."""
    from encore.evaluation.report import markdown_table
    from encore.evaluation.stats import sample_too_small, small_sample_sentence

    k = report.k
    table = report.summary().rename(
        columns={
            m: m.replace("_recall", f" recall@{k}")
            .replace("_ndcg", f" NDCG@{k}")
            .replace("_hit", f" hit@{k}")
            for m in METRICS
        }
    )
    lines = [
        f"## {title or 'Listener recommendations'}",
        "",
        f"{report.n_users} listeners, each cut at their own {report.fraction:.0%} point by time; "
        f"lists of {k} tracks, at most {report.max_per_artist} per artist. Targets: songs "
        "played (not skipped) for the first time after the cut, and artists played for the "
        "first time after it. `hybrid_wins_track_ndcg`: listeners for whom the hybrid's "
        "track NDCG is higher than the row's.",
        "",
        markdown_table(table),
    ]
    if sample_too_small(report.n_users):
        lines += ["", small_sample_sentence(report.n_users)]
    return "\n".join(lines) + "\n"


def write_listener_report(report: ListenerReport, out: Path) -> list[Path]:
    """Markdown, CSV (summary and per listener), JSON and a PNG + HTML chart under ``out``."""
    from encore.evaluation.stats import sample_too_small

    out.mkdir(parents=True, exist_ok=True)
    summary = report.summary()
    paths = [out / "listeners.md", out / "listeners.csv", out / "listeners_per_user.csv"]
    paths[0].write_text(report_markdown(report), encoding="utf-8")
    summary.to_csv(paths[1], index=False)
    report.per_user.to_csv(paths[2], index=False)
    payload = {
        "k": report.k,
        "fraction": report.fraction,
        "max_per_artist": report.max_per_artist,
        "listeners": report.n_users,
        "small_sample": sample_too_small(report.n_users),
        "training": report.info,
        "rows": json.loads(summary.to_json(orient="records")),
    }
    paths.append(out / "listeners.json")
    paths[-1].write_text(json.dumps(payload, indent=2), encoding="utf-8")
    paths += _charts(summary, report.k, out)
    return paths


def _charts(summary: pd.DataFrame, k: int, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    panels = (
        ("track_ndcg", f"new tracks: NDCG@{k}"),
        ("artist_recall", f"new artists: recall@{k}"),
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (col, label) in zip(axes, panels, strict=True):
        colours = ["#d62728" if m.startswith("hybrid") else "#7f7f7f" for m in summary["model"]]
        ax.barh(summary["model"], summary[col], color=colours)
        ax.invert_yaxis()
        ax.set_title(label)
    fig.suptitle(f"What listeners went on to play, by row ({len(summary)} rows)")
    fig.tight_layout()
    png = out / "listeners.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    html = out / "listeners.html"
    figure = go.Figure()
    for col, label in panels:
        figure.add_bar(name=label, x=summary["model"], y=summary[col])
    figure.update_layout(barmode="group", title="Listener recommendations by row")
    figure.write_html(html, include_plotlyjs=True)
    return [png, html]
