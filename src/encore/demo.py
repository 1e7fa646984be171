"""``make demo``: the main job end to end on the shared real data.

Builds the store from ``--data``, prints what it holds, then runs each capability's demo
step (``encore.<area>.demo.run``) in order and lists where every output went.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from rich.rule import Rule

from encore.cli.console import console
from encore.config import default_db_path

#: Capability demo steps, in order; each module has ``run(db, out, data) -> list[Path]``.
STEPS: tuple[tuple[str, str], ...] = (
    ("Analytics: genres, top tracks and artists, trends", "encore.analytics.demo"),
    (
        "Collaborative filtering: models compared, a user's recommendations",
        "encore.evaluation.demo",
    ),
    ("A listener's recommendations: named new tracks with reasons", "encore.recommenders.demo"),
    ("Mood of a track and a lyrics summary", "encore.text.demo"),
    ("Genre of a new track", "encore.genre.demo"),
    ("Listener segments", "encore.segments.demo"),
    ("Reinforcement learning: estimators checked, a list with propensities", "encore.rl.demo"),
)


def build_store(db: Path, data: Path) -> None:
    """Ingest every dataset under ``data`` and print ``encore info``."""
    from encore.cli.main import app

    console.print(Rule(f"Building the store {db} from {data}"))
    for args in (["ingest", "--all", str(data), "--db", str(db)], ["info", "--db", str(db)]):
        try:
            app(args, standalone_mode=False)
        except SystemExit as exc:  # typer.Exit from a failed command
            if exc.code:
                raise


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--db", type=Path, default=default_db_path())
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_store(args.db, args.data)
    outputs: list[Path] = [args.db]
    for title, module_name in STEPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        console.print(Rule(title))
        outputs.extend(module.run(args.db, args.out, args.data))
    console.print(Rule("Where every output went"))
    for path in outputs:
        console.print(f"  {path}")
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
