"""Run every ``benchmarks/bench_*.py`` script in turn (``make bench``).

Each script measures Encore against its peer in the same run and writes its own section
of ``docs/benchmarks.md``. The shared data folder is passed as ``ENCORE_DATA``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("only", nargs="*", help="names of scripts to run (default: all)")
    args = parser.parse_args()
    env = {**os.environ, "ENCORE_DATA": str(args.data.resolve())}
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        if args.only and script.stem not in args.only and script.name not in args.only:
            continue
        print(f"== {script.name}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], env=env)
        print(
            f"== {script.name}: exit {rc} after {time.perf_counter() - started:.0f} s", flush=True
        )
        if rc != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
