"""Demo step: compare a few fast models on HetRec artists and explain one user's picks.

Uses the store the main demo built. Fits popularity, item kNN and PureSVD on a seeded
per-user random holdout (HetRec play counts have no timestamps, so no temporal split and
no recently-popular baseline), writes the comparison report, then prints one user's new
artists with the artists of theirs that contributed most.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rich.table import Table

from encore.cli.console import console

logger = logging.getLogger(__name__)

DEMO_MODELS = ("popular", "item_knn", "pure_svd")
DEMO_USER = "hetrec:2"


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Evaluate the demo models on HetRec artists; show a user's explained recommendations.

    Parameters
    ----------
    db:
        The store (with HetRec ingested).
    out:
        Output folder; the report goes to ``out/evaluation``.
    data:
        The shared data folder (unused: the store already holds it).

    Returns
    -------
    list of pathlib.Path
        The report files written.
    """
    del data
    from encore.cli.common import OutputFormat, emit
    from encore.data.catalogue import item_info
    from encore.data.store import Store
    from encore.evaluation.report import write_report
    from encore.evaluation.runner import evaluate_models, split_store
    from encore.recommenders.recommend import fit_model, recommend_for_user

    with Store(db, read_only=True) as store:
        split = split_store(store, level="artist", method="random", source="hetrec2011", seed=0)
        genres = item_info(store, "artist", split.train["item_id"].unique())["genre"].dropna()
        comparison = evaluate_models(
            split,
            list(DEMO_MODELS),
            ks=(10,),
            level="artist",
            data_name="HetRec Last.fm 2K",
            item_genres=genres,
        )
        paths = write_report(comparison, out / "evaluation")
        console.print(f"[dim]{split.description}[/]")
        table = Table(title="HetRec Last.fm 2K artists: full ranking, new artists only, k=10")
        for col in ("model", "NDCG@10", "Recall@10", "HitRate@10", "coverage", "fit s"):
            table.add_column(col, justify="left" if col == "model" else "right")
        frame = comparison.table().sort_values("ndcg@10", ascending=False)
        for r in frame.to_dict(orient="records"):
            table.add_row(
                str(r["model"]),
                f"{r['ndcg@10']:.4f}",
                f"{r['recall@10']:.4f}",
                f"{r['hit_rate@10']:.3f}",
                f"{r['coverage@10']:.3f}",
                f"{r['fit_s']:.2f}",
            )
        console.print(table)

        model = fit_model(store, "item_knn", level="artist", data="hetrec2011")
        answer = recommend_for_user(store, model, DEMO_USER, 5, level="artist")
    emit(
        answer.table,
        OutputFormat.table,
        title=f"item kNN: new artists for {DEMO_USER}, and the artists of theirs behind each",
    )
    return paths
