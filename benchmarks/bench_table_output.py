"""Printing a result table to a pipe or a file: Encore's natural width against Rich's own.

``encore ... --format table`` into something that is not a terminal used to be laid out by
Rich at 80 columns (cells folded and headers ellipsised); it is now printed at its natural
width (``encore.cli.console``). This times ``encore.cli.common.emit`` of a top-tracks
table three ways, interleaved, in the same run:

- **Rich at 80** (before): a plain ``rich.console.Console`` writing to a file, as the
  commands had;
- **Rich at the natural width** (the peer): a plain Console given the table's width;
- **Encore**: ``encore.cli.console.console``, which finds that width itself.

The rows are REAL: the tracks of Last.fm 1K's 5,000-event sample
(``../shared/data/lastfm-1k``), ranked by plays, with their titles (up to 125 columns,
Japanese ones among them) and artists; the larger sizes repeat the 1,192 tracks.
The output's widest line and its line count (one per row when nothing folds) are checked
with the times.

Usage::

    python benchmarks/bench_table_output.py                 # writes docs/benchmarks.md
    python benchmarks/bench_table_output.py --sizes 100 --repeats 3 --no-write
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from rich.cells import cell_len
from rich.console import Console

from encore.cli import common
from encore.cli.console import EncoreConsole

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Result tables printed to a pipe or a file"
DATA = Path(os.environ.get("ENCORE_DATA", ROOT.parent / "shared" / "data"))
SAMPLE = "lastfm-1k/userid-timestamp-artid-artname-traid-traname.sample.tsv"


def top_tracks_frame(n: int) -> pd.DataFrame:
    """A top-tracks table of ``n`` rows from the real sample (its tracks repeated past 1,192)."""
    events = pd.read_csv(
        DATA / SAMPLE,
        sep="\t",
        header=None,
        names=["user", "ts", "artist_id", "artist", "track_id", "track"],
        quoting=3,
        dtype=str,
    )
    ranked = (
        events.groupby(["track", "artist"], dropna=True)
        .size()
        .rename("plays")
        .reset_index()
        .sort_values(["plays", "track"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    rows = pd.concat([ranked] * (n // len(ranked) + 1), ignore_index=True).head(n)
    return pd.DataFrame(
        {
            "genre": "(unknown)",
            "rank": range(1, n + 1),
            "track_id": range(10_001, 10_001 + n),
            "track": rows["track"],
            "artist": rows["artist"],
            "plays": rows["plays"].astype(int),
            "minutes": rows["plays"] * 3.7,
            "skips": 0,
            "listeners": 1,
        }
    )


def natural_width(frame: pd.DataFrame) -> int:
    """The table's natural width, from Encore's own layout of it."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        common.emit(frame, common.OutputFormat.table, title="top tracks")
    return max(cell_len(line) for line in buf.getvalue().splitlines())


def emit_with(make: Callable[[io.StringIO], Console], frame: pd.DataFrame) -> tuple[float, str]:
    """Seconds to ``emit`` ``frame`` through the console ``make`` builds, and the text."""
    buf = io.StringIO()
    saved = common.console
    common.console = make(buf)  # emit prints through the module's console
    try:
        with redirect_stdout(buf):
            started = time.perf_counter()
            common.emit(frame, common.OutputFormat.table, title="top tracks")
            took = time.perf_counter() - started
    finally:
        common.console = saved
    return took, buf.getvalue()


def run(sizes: list[int], repeats: int) -> list[dict[str, object]]:
    os.environ.pop("COLUMNS", None)  # a pipe's environment
    rows = []
    for n in sizes:
        frame = top_tracks_frame(n)
        width = natural_width(frame)
        ways: dict[str, Callable[[io.StringIO], Console]] = {
            "Rich at 80 (before)": lambda buf: Console(file=buf),
            "Rich at the natural width": lambda buf, w=width: Console(file=buf, width=w),
            "Encore": lambda buf: EncoreConsole(file=buf),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        shape: dict[str, tuple[int, int]] = {}
        for _ in range(repeats):  # interleaved: a change in the machine's load hits all alike
            for name, make in ways.items():
                took, text = emit_with(make, frame)
                times[name].append(took)
                lines = text.splitlines()
                shape[name] = (max(cell_len(line) for line in lines), len(lines))
        if shape["Encore"] != (width, n + 5):  # every row on one line, at the table's width
            raise SystemExit(f"Encore's table of {n} rows folded: {shape['Encore']}")
        for name in ways:
            rows.append(
                {
                    "rows": n,
                    "console": name,
                    "min_s": min(times[name]),
                    "median_s": statistics.median(times[name]),
                    "widest": shape[name][0],
                    "lines": shape[name][1],
                }
            )
        print(pd.DataFrame(rows[-len(ways) :]).to_string(index=False))
    return rows


def section(rows: list[dict[str, object]], repeats: int, load: tuple[float, float]) -> str:
    table = pd.DataFrame(rows)
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_table_output.py`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{_cpu()}, {os.cpu_count()} cores, {platform.machine()}; Python "
        f"{platform.python_version()}. Load average before/after: {load[0]:.1f} / "
        f"{load[1]:.1f} (shared machine: wall times under load are pessimistic).",
        "",
        "**Data: REAL** tracks of Last.fm 1K's 5,000-event sample, ranked by plays (1,192 "
        "tracks, titles up to 125 columns; larger sizes repeat them). `emit` of a top-tracks "
        "table (9 columns) into a file, three consoles interleaved, "
        f"{repeats} runs each; *lines* is the printed table's line count (title, rules, "
        "header, its rule, the rows, the bottom rule: 5 + rows when no row folds), *widest* its widest line in columns.",
        "",
        "| rows | console | min s | median s | widest | lines | median / Rich at the natural width |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, group in table.groupby("rows", sort=False):
        peer = float(group.loc[group["console"] == "Rich at the natural width", "median_s"].iloc[0])
        for r in group.itertuples(index=False):
            lines.append(
                f"| {n:,} | {r.console} | {r.min_s:.3f} | {r.median_s:.3f} | {r.widest} | "
                f"{r.lines:,} | {r.median_s / peer:.2f}x |"
            )
    lines += [
        "",
        "Encore lays a table that does not expand out with all the room there is, which is "
        "its natural width, so it costs what Rich costs at a width given in advance; Rich at "
        "80 folds every long title over several lines (more lines, more to lay out).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace this benchmark's section of ``doc`` (or append it)."""
    content = doc.read_text()
    if SECTION in content:
        start = content.index(SECTION)
        end = content.find("\n## ", start + len(SECTION))
        content = content[:start] + text + ("" if end < 0 else content[end:])
    else:
        content = content.rstrip("\n") + "\n\n" + text
    doc.write_text(content)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1192, 5000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="Do not edit docs/benchmarks.md.")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    rows = run(args.sizes, args.repeats)
    text = section(rows, args.repeats, (before, os.getloadavg()[0]))
    if args.no_write:
        print(text)
    else:
        write_section(text)
        print(f"wrote the {SECTION!r} section of {DOC}")


if __name__ == "__main__":
    main()
