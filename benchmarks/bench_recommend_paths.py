"""Two steps of one listener's answer, before and after, in the same run: ``--mood`` with
``for_you`` and the named-only filter of a CF answer.

Usage (from the repository root; a store with a listener who ingested their own export)::

    cp /path/to/demo/encore.duckdb /tmp/me/ && encore ingest HISTORY --user me --db /tmp/me/encore.duckdb
    .venv/bin/python benchmarks/bench_recommend_paths.py --db /tmp/me/encore.duckdb --user me

1. **--mood** (``recommend_for_user(..., mood=M)`` with the store's saved ``for_you``):
   *old* is the loop the recommend path ran before, kept here as the reference: the whole
   answer (history, profile, candidates, ranking, audio picks, names and reasons of every
   candidate) again for each longer list (200, then x8) until enough tracks have the mood;
   *new* scores the candidates once, selects each longer list from them and names only the
   tracks kept. The two answers are checked equal (ids, order, every column).
2. **Named only** (``_named_only``, a CF model's filter for a listener whose history is
   named): *old* read every named track id (the reference copy below), *new* reads the
   anonymous ones (the complement), once per store generation: timed on a first call (the
   cache emptied, as in a fresh ``encore recommend``) and on later calls (the HTTP service);
   the item lists are checked equal. Then a whole CF answer
   (``popular`` fitted on the store, track level, 10 items) with either.

Old and new run interleaved after a warm-up; wall milliseconds, median and fastest of
``--repeats``; the machine's load average is printed with them (it is shared). Appends a
section to docs/benchmarks.md with ``--write``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.data.store import Store
from encore.recommenders import recommend as rec
from encore.recommenders.base import Recommender
from encore.recommenders.listeners import NAMED_TRACKS
from encore.text import mood as moodlib

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## One listener's answer: --mood and the named-only filter, before and after"


def old_mood(store: Store, model: Any, user: str, k: int, mood: str) -> rec.Recommendations:
    """The --mood path as it was: the whole answer again for each longer list."""
    wanted = moodlib.check_mood(store, mood)
    asked = moodlib.candidates_for(k)
    while True:
        wide = rec.recommend_for_user(store, model, user, asked)
        table, note = moodlib.keep_mood(store, wide.table, wanted, k)
        if len(table) >= k or len(wide.table) < asked or asked >= moodlib.MOOD_MAX_CANDIDATES:
            break
        asked = min(asked * 8, moodlib.MOOD_MAX_CANDIDATES)
    notes = [*wide.notes, note]
    if len(table) < k:
        notes.append(moodlib.short_list_hint(store, wanted, model.name))
    return rec.Recommendations(wide.user_id, wide.model, wide.level, table, notes)


def old_named_only(store: Store, model: Recommender, user: str, level: str) -> list[Any] | None:
    """The named-only filter as it was: every named track id read from the store."""
    if level != "track" or model.item_map_ is None:
        return None
    named_ids = f"SELECT t.track_id FROM {NAMED_TRACKS}"
    has_named = store.scalar(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM events e WHERE e.user_id = $u AND e.track_id IN ({named_ids})
        ) OR EXISTS (
            SELECT 1 FROM likes l WHERE l.user_id = $u AND l.entity_type = 'track'
              AND l.entity_id IN ({named_ids})
        )
        """,
        {"u": user},
    )
    if not has_named:
        return None
    named = store.con.execute(named_ids).fetchnumpy()["track_id"]
    known = np.asarray(model.item_map_.external_ids)
    keep = known[np.isin(known, named)]
    if len(keep) == len(known):
        return None
    return list(keep)


def timed(pairs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall milliseconds of each callable, interleaved, after one warm-up call each."""
    for f in pairs.values():
        f()
    out: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(repeats):
        for name, f in pairs.items():
            started = time.perf_counter()
            f()
            out[name].append((time.perf_counter() - started) * 1e3)
    return out


def row(step: str, times: dict[str, list[float]]) -> str:
    old, new = times["old"], times["new"]
    return (
        f"| {step} | {min(old):.1f} | {statistics.median(old):.1f} | {min(new):.1f} | "
        f"{statistics.median(new):.1f} | {statistics.median(new) / statistics.median(old):.2f}x |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="a store with a saved for_you (encore train)")
    ap.add_argument("--user", default="me")
    ap.add_argument("--mood", default="calm")
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--write", action="store_true", help="append a section to docs/benchmarks.md")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    lines: list[str] = []
    with Store(args.db, read_only=True) as store:
        listener = rec.get_model_for(store, args.db, rec.DEFAULT_TRACK_MODEL).model
        user = rec.resolve_user(store, args.user)

        # 1. --mood with for_you
        a = old_mood(store, listener, user, args.n, args.mood)
        b = rec.recommend_for_user(store, listener, user, args.n, mood=args.mood)
        pd.testing.assert_frame_equal(a.table, b.table)
        assert a.notes == b.notes, (a.notes, b.notes)
        asked = moodlib.candidates_for(args.n)
        first = rec.recommend_for_user(store, listener, user, asked).table
        wanted = moodlib.check_mood(store, args.mood)
        widened = (
            len(first) == asked and len(moodlib.keep_mood(store, first, wanted, args.n)[0]) < args.n
        )
        mood_times = timed(
            {
                "old": lambda: old_mood(store, listener, user, args.n, args.mood),
                "new": lambda: rec.recommend_for_user(
                    store, listener, user, args.n, mood=args.mood
                ),
            },
            args.repeats,
        )
        mood_note = next(n for n in b.notes if n.startswith("--mood"))

        # 2. the named-only filter and a whole CF answer
        started = time.perf_counter()
        popular = rec.fit_model(store, "popular", level="track")
        assert isinstance(popular, Recommender)
        fit_s = time.perf_counter() - started
        x, y = (
            old_named_only(store, popular, user, "track"),
            rec._named_only(store, popular, user, "track"),
        )
        assert (x is None) == (y is None) and (x is None or list(x) == list(y or [])), "differ"
        filter_times = timed(
            {
                "old": lambda: old_named_only(store, popular, user, "track"),
                "new": lambda: rec._named_only(store, popular, user, "track"),
            },
            args.repeats,
        )

        def first_call() -> Any:  # a fresh process: the anonymous ids not read yet
            rec._ANONYMOUS.clear()
            return rec._named_only(store, popular, user, "track")

        cold_times = timed(
            {"old": lambda: old_named_only(store, popular, user, "track"), "new": first_call},
            args.repeats,
        )
        new_filter = rec._named_only

        def cf_answer(which: Callable[..., Any]) -> pd.DataFrame:
            rec._named_only = which
            try:
                return rec.recommend_for_user(store, popular, user, args.n, explain=False).table
            finally:
                rec._named_only = new_filter

        pd.testing.assert_frame_equal(cf_answer(old_named_only), cf_answer(new_filter))
        cf_times = timed(
            {"old": lambda: cf_answer(old_named_only), "new": lambda: cf_answer(new_filter)},
            args.repeats,
        )
        counts = store.con.execute(
            f"SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM {NAMED_TRACKS})"
        ).fetchone()
        assert counts is not None
    load_after = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines += [
        SECTION,
        "",
        f"`benchmarks/bench_recommend_paths.py --db STORE --user {args.user}`, run {when} on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
        f"before/after {load_before:.1f} / {load_after:.1f} (a shared machine: medians are "
        "pessimistic). Store: the make-demo store with one shared listening history "
        f"ingested as `{args.user}`; {counts[0]:,} tracks, {counts[1]:,} named, "
        f"{counts[0] - counts[1]:,} anonymous (JODIE's). Old and new interleaved, "
        f"{args.repeats} runs each after a warm-up, wall ms; answers checked equal.",
        "",
        "| step | old min | old median | new min | new median | new / old (median) |",
        "|---|---:|---:|---:|---:|---:|",
        row(
            f"`recommend {args.user} --mood {args.mood} -n {args.n}` (for_you, in process"
            + (", list widened)" if widened else ")"),
            mood_times,
        ),
        row("named-only filter (`_named_only`), first call in a process", cold_times),
        row(
            "named-only filter, later calls (anonymous ids cached per store generation)",
            filter_times,
        ),
        row(f"whole CF answer (`popular`, {args.n} items, no reasons)", cf_times),
        "",
        f"The mood answer: {mood_note}. `popular` fitted in {fit_s:.1f} s (not timed above).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with DOC.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
        print(f"appended to {DOC}")


if __name__ == "__main__":
    main()
