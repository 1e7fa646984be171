"""Demo step: train the listener recommender on the store, then ask it as a listener would.

Trains ``for_you`` on every listener of the store and saves it beside the store (as
``encore train`` does), then answers for one listener with likes in their export, timed,
once for their usual list and once for new artists only, each with its reasons. Last, the
listener evaluation (``encore evaluate-listeners``): every listener cut at their own 80 %
point, each candidate source and for_you scored on what they went on to play.
"""

from __future__ import annotations

import time
from pathlib import Path

from encore.cli.console import console

#: A listener of the shared histories whose export includes liked tracks and artists.
DEMO_LISTENER = "lh:user_13"


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Train ``for_you``, save it, and show one listener's two lists; return the files written."""
    del data
    from encore.cli.common import OutputFormat, emit
    from encore.data.store import Store
    from encore.evaluation.listeners import evaluate_listeners, write_listener_report
    from encore.recommenders import recommend as rec

    with Store(db, read_only=True) as store:
        with console.status("training for_you on every listener of the store"):
            done = rec.train(store, db, [rec.DEFAULT_TRACK_MODEL])
        name, path, seconds = done[0]
        console.print(f"trained {name} in {seconds:.1f} s -> {path}")
        started = time.perf_counter()
        model = rec.load_model(path)
        usual = rec.recommend_for_user(store, model, DEMO_LISTENER, 10)
        took = time.perf_counter() - started
        discovery = rec.recommend_for_user(store, model, DEMO_LISTENER, 10, new_artists_only=True)
        with console.status("listener evaluation: training on everyone's first 80 %"):
            report = evaluate_listeners(store)
    emit(
        rec.for_people(usual.table).drop(columns="item_id"),
        OutputFormat.table,
        title=f"for_you: new tracks for {DEMO_LISTENER} (loaded and answered in {took:.2f} s)",
    )
    emit(
        rec.for_people(discovery.table).drop(columns="item_id"),
        OutputFormat.table,
        title=f"for_you --new-artists-only for {DEMO_LISTENER}",
    )
    summary = report.summary()
    cols = ["model", "track_recall", "track_ndcg", "artist_recall", "artist_hit"]
    emit(
        summary[cols],
        OutputFormat.table,
        title=f"{report.n_users} listeners cut at their own 80 % point: new tracks and artists @20",
    )
    return [path, path.parent / rec.MANIFEST, *write_listener_report(report, out / "listeners")]
