"""``make demo`` step of the analytics area: genre resolution, then the four charts.

Writes ``genres``, ``top_tracks``, ``top_artists`` and ``trend`` charts, each as PNG and
interactive HTML, under ``<out>/analytics/``, prints a short summary and returns the
paths.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from encore.analytics.charts import save_chart
from encore.analytics.genres import genre_popularity
from encore.analytics.rankings import top_artists, top_tracks
from encore.analytics.trend import genre_trend
from encore.analytics.window import resolve_window
from encore.cli.console import console
from encore.data.resolve import resolve
from encore.data.store import Store


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Draw the four analytics charts for the store's default window.

    Parameters
    ----------
    db:
        The store built by the demo.
    out:
        Output folder; the charts go to ``out/analytics/``.
    data:
        The shared data folder (unused: everything comes from the store).

    Returns
    -------
    list of Path
        The chart files written (PNG and HTML of each).
    """
    del data
    folder = out / "analytics"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with Store(db) as store, console.status("encore genre resolve") as status:
        # genres for the unknown plays (observed, then predicted) and minutes for scrobbles
        report = resolve(store, progress=lambda line: status.update(line))
    steps = ", ".join(f"{r['step']} {r['share']:.1%}" for r in report["steps"])
    console.print(f"genre resolution, share of plays by step: {steps}")
    with Store(db, read_only=True) as store:
        window = resolve_window(store)
        console.print(f"window: {window.describe()} ({window.span_text()})")
        frames = {
            "genres": genre_popularity(store, window, by="plays"),
            "top_tracks": top_tracks(store, window, n=10, by="plays"),
            "top_artists": top_artists(store, window, n=10, by="listeners"),
            "trend": genre_trend(store, window, every="month", by="plays"),
        }
    for name, frame in frames.items():
        for note in frame.attrs.get("notes", []):
            console.print(f"[yellow]note ({name}):[/] {note}")
        for suffix in (".png", ".html"):
            written.append(save_chart(frame, folder / f"{name}{suffix}"))
    genres = frames["genres"]
    if not genres.empty:
        table = Table(title="Genres in the window (skips excluded)")
        for col in ("genre", "basis", "plays", "minutes", "share"):
            table.add_column(col, justify="left" if col == "genre" else "right")
        for row in genres.head(8).itertuples(index=False):
            table.add_row(
                str(row.genre),
                str(getattr(row, "basis", "")),
                f"{row.plays:,}",
                f"{row.minutes:,.0f}",
                f"{row.share:.1%}",
            )
        console.print(table)
    for path in written:
        console.print(f"  chart: {path}")
    return written
