"""A listener's recommendations from saved models: time and memory of one answer.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_recommend.py                 # builds the demo store
    .venv/bin/python benchmarks/bench_recommend.py --db encore.duckdb

On the demo store (every dataset of the shared folder, as ``make demo`` builds it):

1. ``encore train``: fit ``for_you`` and save it beside the store (wall seconds).
2. In the process: load the saved model once, then for every listener of the shared
   histories 20 recommendations with their reasons (:func:`recommend_for_user`: the user's
   current events read from the store, candidates, ranking, names). Median, 90th
   percentile and maximum seconds per answer; peak RSS of the process.
3. The whole command ``encore recommend lh:user_NN -n 20`` in a fresh process (Python start,
   imports, store, model load, answer), wall seconds and peak RSS, for five listeners.
4. In the same run, for comparison: the path ``encore recommend`` took before models were
   saved (item kNN fitted on the whole store at track level, then one user's list), and the
   peer library ``implicit``: its ALS fitted on the same track matrix, saved with
   ``implicit``'s own ``save``, then loaded and asked for one user's 20 items
   (``recalculate_user=True``, the fold-in path; ids only, no names or reasons).

Aims (issue #10): <= 0.3 s per answer inside the process, <= 2 s for the whole command,
memory under 1 GB. Writes ``benchmarks/results/recommend.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ENCORE = ROOT / ".venv" / "bin" / "encore"
sys.path.insert(0, str(ROOT / "src"))


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}"


_WRAP = (
    "import resource, subprocess, sys;"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "sys.stderr.write(p.stderr[-2000:]);"
    "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAP, *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    rc, rss_kb = (int(x) for x in proc.stdout.split())
    if rc != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr}")
    return wall, rss_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=None, help="demo store (built if omitted)")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("ENCORE_DATA", "../shared/data"))
    )
    parser.add_argument("--skip-old", action="store_true", help="skip the refit-per-call path")
    args = parser.parse_args()

    from encore.data.store import Store
    from encore.recommenders import recommend as rec

    tmp = Path(tempfile.mkdtemp(prefix="bench_recommend_"))
    db = args.db
    if db is None:
        db = tmp / "demo.duckdb"
        print(f"building the demo store in {db}", flush=True)
        subprocess.run(
            [str(ENCORE), "ingest", "--all", str(args.data), "--db", str(db)],
            check=True,
            capture_output=True,
        )
    load_before = os.getloadavg()[0]

    train_wall, train_rss = _run([str(ENCORE), "train", "--db", str(db)])
    print(f"train: {train_wall:.1f} s, {train_rss:.0f} MB", flush=True)

    with Store(db, read_only=True) as store:
        users = [
            r[0]
            for r in store.con.execute(
                "SELECT user_id FROM users WHERE user_id LIKE 'lh:%' ORDER BY user_id"
            ).fetchall()
        ]
        started = time.perf_counter()
        model = rec.load_model(rec.model_file(db, "for_you", "track"))
        load_s = time.perf_counter() - started
        times = []
        for user in users:
            started = time.perf_counter()
            answer = rec.recommend_for_user(store, model, user, 20)
            times.append(time.perf_counter() - started)
            assert len(answer.table) == 20 and answer.table["because"].str.len().gt(0).all()
    in_process_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times.sort()
    inproc = {
        "listeners": len(users),
        "load_s": round(load_s, 3),
        "median_s": round(statistics.median(times), 3),
        "p90_s": round(times[int(0.9 * (len(times) - 1))], 3),
        "max_s": round(times[-1], 3),
        "peak_rss_mb": round(in_process_rss),
    }
    print("in process:", inproc, flush=True)

    cli = []
    for user in ("lh:user_05", "lh:user_13", "lh:user_02", "lh:user_09", "lh:user_20"):
        wall, rss = _run(
            [str(ENCORE), "recommend", user, "-n", "20", "--db", str(db), "--format", "json"]
        )
        cli.append({"user": user, "wall_s": round(wall, 2), "peak_rss_mb": round(rss)})
        print("cli:", cli[-1], flush=True)

    old: dict[str, float] = {}
    if not args.skip_old:
        code = (
            "import time; t=time.perf_counter();"
            "from encore.data.store import Store;"
            "from encore.recommenders import recommend as rec;"
            f"s=Store({str(db)!r}, read_only=True);"
            "m=rec.fit_model(s,'item_knn',level='track');"
            "a=rec.recommend_for_user(s,m,'lh:user_05',20);"
            "print(time.perf_counter()-t)"
        )
        wall, rss = _run([sys.executable, "-c", code])
        old = {"wall_s": round(wall, 1), "peak_rss_mb": round(rss)}
        print("refit per call (before):", old, flush=True)

    peer_code = (
        "import time, numpy as np\n"
        "from encore.data.store import Store\n"
        "from encore.data.dataset import InteractionDataset, build_interactions\n"
        "import implicit, implicit.cpu.als\n"
        f"s=Store({str(db)!r}, read_only=True)\n"
        "ds=InteractionDataset.from_interactions(build_interactions(s, level='track'), item_level='track')\n"
        "m=implicit.als.AlternatingLeastSquares(factors=64, iterations=15, random_state=0)\n"
        "m.fit(ds.matrix, show_progress=False)\n"
        f"p={str(tmp / 'implicit_als.npz')!r}\n"
        "m.save(p)\n"
        "u=ds.user_map.to_internal(['lh:user_05'])[0]\n"
        "row=ds.matrix[u]\n"
        "t=time.perf_counter()\n"
        "m2=implicit.cpu.als.AlternatingLeastSquares.load(p)\n"
        "load=time.perf_counter()-t\n"
        "t=time.perf_counter()\n"
        "ids,_=m2.recommend(0, row, N=20, recalculate_user=True, filter_already_liked_items=True)\n"
        "print(load, time.perf_counter()-t)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", peer_code], capture_output=True, text=True, check=True
    )
    peer_load, peer_answer = (float(x) for x in proc.stdout.split())
    peer = {"load_s": round(peer_load, 3), "answer_s": round(peer_answer, 4)}
    print("implicit ALS:", peer, flush=True)

    result = {
        "machine": _machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "train": {"wall_s": round(train_wall, 1), "peak_rss_mb": round(train_rss)},
        "in_process": inproc,
        "cli": cli,
        "refit_per_call_before": old,
        "implicit_als": peer,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommend.json").write_text(json.dumps(result, indent=2))
    cli_walls = sorted(c["wall_s"] for c in cli)
    md = [
        f"`benchmarks/bench_recommend.py`, run {result['date']} on {result['machine']}; "
        f"load average {result['load_average_before']} before, {result['load_average_after']} after.",
        "",
        "| step | time | peak memory |",
        "|---|---:|---:|",
        f"| `encore train` (for_you on the demo store) | {train_wall:.1f} s | {train_rss:.0f} MB |",
        f"| load the saved model (in process) | {inproc['load_s']:.2f} s | |",
        f"| one answer, 20 tracks with reasons, {inproc['listeners']} listeners: median / p90 / max | "
        f"{inproc['median_s']:.3f} / {inproc['p90_s']:.3f} / {inproc['max_s']:.3f} s | {inproc['peak_rss_mb']} MB (process) |",
        f"| whole `encore recommend USER -n 20` command, 5 listeners: median / max | "
        f"{statistics.median(cli_walls):.2f} / {cli_walls[-1]:.2f} s | {max(c['peak_rss_mb'] for c in cli)} MB |",
    ]
    if old:
        md.append(
            f"| before: refit item kNN on the store per call, then answer | {old['wall_s']:.1f} s "
            f"({old['wall_s'] / statistics.median(cli_walls):.0f}x the command now) | {old['peak_rss_mb']} MB |"
        )
    md.append(
        f"| peer: implicit ALS saved with `save`, load + one user's 20 ids (fold-in) | "
        f"{peer['load_s']:.3f} + {peer['answer_s']:.4f} s | |"
    )
    (RESULTS / "recommend.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
