"""Hostile and careless input: real export files, mutated, through ``encore ingest``.

For every loader family (Spotify extended and basic JSON, Spotify extended CSV, Last.fm
scrobble CSV, a research TSV, the generic CSV layout) a slice of a real export from
``../shared/data`` is mutated the ways a careless or hostile user would: truncated, a byte
flipped, re-encoded, a huge number or an odd string injected, a line duplicated, two lines
swapped. The mutated file is ingested by the CLI into a store that already holds the
original, and:

- the exit code is 0 or a documented code (64, 65, 66, 69, 70), and the output never
  holds a traceback or "internal error";
- on failure the store's content is unchanged (every table, row for row);
- on success no play is in the store twice (the natural key user + time + track, across
  ingests) and every play time, time played and duration is inside the bounds of
  :mod:`encore.data.bounds`.

The example budget is fixed and small by default (``ENCORE_FUZZ_EXAMPLES``, default 6 per
loader, so CI stays fast); set it higher locally for a longer hunt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data import bounds
from encore.data.schema import CATALOGUE_TABLES, INGEST_TABLES
from encore.data.store import Store

EXAMPLES = int(os.environ.get("ENCORE_FUZZ_EXAMPLES", "6"))
#: Exit codes a command may end with (docs/data-model.md, "Exit codes").
DOCUMENTED_EXIT_CODES = {0, 64, 65, 66, 69, 70, 74}
LH = "listening-histories"


@dataclass(frozen=True)
class Case:
    """One loader and how to make its small real input file."""

    loader: str
    folder: str  # the export folder's name (it names the user)
    file: str  # the file name the loader expects
    make: Callable[[Path], bytes]  # bytes of the clean slice, from the shared data


def _json_slice(rel: str, n: int) -> Callable[[Path], bytes]:
    def make(data: Path) -> bytes:
        records = json.loads((data / rel).read_text(encoding="utf-8"))[:n]
        return json.dumps(records, indent=2, ensure_ascii=False).encode()

    return make


def _lines(rel: str, n: int) -> Callable[[Path], bytes]:
    def make(data: Path) -> bytes:
        with (data / rel).open("rb") as fh:
            return b"".join(fh.readline() for _ in range(n))

    return make


def _generic(data: Path) -> bytes:
    """A generic-format events file made from real plays (user 03's extended history)."""
    records = json.loads(
        (data / LH / "user_03" / "Streaming_History_Audio_2024_4.json").read_text("utf-8")
    )[:40]
    rows = ["user_id,track_id,ts,ms_played,skipped"]
    for r in records:
        uri = r.get("spotify_track_uri") or "none"
        rows.append(f"u3,{uri},{r['ts']},{r['ms_played']},{str(r.get('skipped')).lower()}")
    return ("\n".join(rows) + "\n").encode()


CASES = {
    "spotify_extended": Case(
        "spotify_extended",
        "user_03",
        "Streaming_History_Audio_2024_4.json",
        _json_slice(f"{LH}/user_03/Streaming_History_Audio_2024_4.json", 40),
    ),
    "spotify_basic": Case(
        "spotify_basic",
        "user_11",
        "StreamingHistory0.json",
        _json_slice(f"{LH}/user_11/StreamingHistory0.json", 40),
    ),
    "spotify_extended_csv": Case(
        "spotify_extended",
        "user_02",
        "Streaming_History_Audio_2024.csv",
        _lines(f"{LH}/user_02/Streaming_History_Audio_2024.csv", 41),
    ),
    "lastfm_csv": Case(
        "lastfm_csv", "user_06", "scrobbles.csv", _lines(f"{LH}/user_06/scrobbles.csv", 41)
    ),
    "lfm1b": Case("lfm1b", "lfm", "LFM-1b_users.tsv", _lines("lfm-1b-users/LFM-1b_users.tsv", 41)),
    "generic": Case("generic", "service", "events.csv", _generic),
}


# ----------------------------------------------------------------------------- mutations
_HUGE = [b"1" + b"0" * 30, b"1" + b"0" * 18, b"1" + b"0" * 15, b"-1", b"NaN", b"1e400"]
_ODD = [
    b"\\ud800",  # a lone surrogate, as a JSON escape
    b"\x00",
    b"\xff\xfe",
    b"\xe2\x80\xae",  # right-to-left override
    b"   ",
    b"x" * 100_000,
    b"[" * 5_000,  # deeply nested JSON
    b"infinity",
    b"9999-12-31T23:59:59Z",
    b"1900-01-01T00:00:00Z",
    b'","',
    b"\t",
    b"\n",
]


@st.composite
def mutations(draw: st.DrawFn, clean: bytes) -> tuple[str, bytes]:
    """(what was done, mutated bytes) for one clean file."""
    kind = draw(
        st.sampled_from(
            ["truncate", "flip", "reencode", "huge", "odd", "duplicate", "reorder", "stack"]
        )
    )
    data = clean
    if kind == "stack":  # two mutations at once
        _, data = draw(mutations(clean))
        _, data = draw(mutations(data))
        return kind, data
    if kind == "truncate":
        cut = draw(st.integers(0, len(data)))
        return f"truncate at {cut}", data[:cut]
    if kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        b = draw(st.integers(0, 255))
        return f"byte {i} -> {b}", data[:i] + bytes([b]) + data[i + 1 :]
    if kind == "reencode":
        enc = draw(st.sampled_from(["utf-16", "utf-16-le", "latin-1", "utf-8-sig", "cp1252"]))
        text = data.decode("utf-8", errors="replace")
        return f"re-encoded as {enc}", text.encode(enc, errors="replace")
    lines = data.split(b"\n")
    if kind in ("duplicate", "reorder") and len(lines) > 2:
        i = draw(st.integers(1, len(lines) - 2))
        j = draw(st.integers(1, len(lines) - 2))
        if kind == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return f"{kind} lines {i} {j}", b"\n".join(lines)
    # inject: replace a run of digits (huge numbers) or a value (odd strings)
    pool = _HUGE if kind == "huge" else _ODD
    token = draw(st.sampled_from(pool))
    import re

    spans = [m.span() for m in re.finditer(rb"[0-9]+" if kind == "huge" else rb"[A-Za-z]+", data)]
    if not spans:
        return "unchanged", data
    a, b = spans[draw(st.integers(0, len(spans) - 1))]
    return f"{kind} {token[:20]!r} at {a}", data[:a] + token + data[b:]


# ----------------------------------------------------------------------------- the store
def _snapshot(db: Path) -> str:
    """A digest of every table's rows (sorted), i.e. the store's content."""
    h = hashlib.sha256()
    with Store(db, read_only=True) as s:
        for t in (*CATALOGUE_TABLES, *INGEST_TABLES, "ingests", "external_ids"):
            rows = s.execute(f"SELECT * FROM {t}").fetchall()
            h.update(t.encode())
            for r in sorted(repr(x) for x in rows):
                h.update(r.encode())
    return h.hexdigest()


def _check_success(db: Path) -> None:
    with Store(db, read_only=True) as s:
        twice = s.scalar(
            """
            SELECT count(*) FROM (
                SELECT user_id, ts, track_id, artist_id FROM events
                GROUP BY ALL HAVING count(DISTINCT ingest_id) > 1)
            """
        )
        assert twice == 0, "a play entered the store twice (from two ingests)"
        assert s.scalar(f"SELECT count(*) FROM events WHERE {bounds.bound_sql('time', 'ts')}") == 0
        assert (
            s.scalar(f"SELECT count(*) FROM events WHERE {bounds.bound_sql('play', 'ms_played')}")
            == 0
        )
        assert (
            s.scalar(
                f"SELECT count(*) FROM tracks WHERE {bounds.bound_sql('duration', 'duration_ms')}"
            )
            == 0
        )
        orphans = s.scalar(
            "SELECT count(*) FROM events WHERE user_id NOT IN (SELECT user_id FROM users)"
        )
        assert orphans == 0


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Path]:
    """Per case: the clean file (in its export folder) and a store that already holds it."""
    root = tmp_path_factory.mktemp("fuzz")
    out: dict[str, Path] = {}
    for name, case in CASES.items():
        folder = root / name / case.folder
        folder.mkdir(parents=True)
        (folder / case.file).write_bytes(case.make(shared_data))
        db = root / name / "seed.duckdb"
        res = CliRunner().invoke(
            app, ["ingest", case.loader, str(folder), "--db", str(db), "--format", "json"]
        )
        assert res.exit_code == 0, res.output
        loaded = json.loads(res.stdout)
        assert any(r["table"] in ("events", "users") and r["loaded"] > 0 for r in loaded)
        out[name] = root / name
    return out


def _run(case: Case, base: Path, tmp: Path, data: bytes, on_error: str) -> tuple[int, str, Path]:
    db = tmp / "store.duckdb"
    shutil.copyfile(base / "seed.duckdb", db)
    folder = tmp / case.folder
    folder.mkdir()
    (folder / case.file).write_bytes(data)
    res = CliRunner().invoke(
        app, ["ingest", case.loader, str(folder), "--db", str(db), "--on-error", on_error]
    )
    out = res.output + (res.stderr if res.stderr_bytes is not None else "")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"uncaught {type(res.exception).__name__}: {res.exception}")
    return res.exit_code, out, db


@pytest.mark.parametrize("name", list(CASES))
def test_mutated_exports(
    name: str, seeded: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    case = CASES[name]
    base = seeded[name]
    clean = (base / case.folder / case.file).read_bytes()
    before = _snapshot(base / "seed.duckdb")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(m=mutations(clean), on_error=st.sampled_from(["raise", "skip"]))
    def check(m: tuple[str, bytes], on_error: str) -> None:
        what, data = m
        tmp = tmp_path_factory.mktemp("case")
        code, out, db = _run(case, base, tmp, data, on_error)
        assert code in DOCUMENTED_EXIT_CODES, f"{what}: exit {code}\n{out}"
        assert "Traceback" not in out and "internal error" not in out, f"{what}:\n{out}"
        if code != 0:
            assert "error:" in out, f"{what}: exit {code} without a message\n{out}"
            assert _snapshot(db) == before, f"{what}: a failed ingest changed the store"
        else:
            _check_success(db)

    check()


def test_same_export_by_another_path_is_not_doubled(
    seeded: dict[str, Path], tmp_path: Path
) -> None:
    """The clean file again: as the file itself, and from a copied folder with another name."""
    case = CASES["spotify_extended"]
    base = seeded["spotify_extended"]
    db = tmp_path / "s.duckdb"
    shutil.copyfile(base / "seed.duckdb", db)
    with Store(db, read_only=True) as s:
        n = s.scalar("SELECT count(*) FROM events")
    copy = tmp_path / "copied_export"
    shutil.copytree(base / case.folder, copy)
    for target in (base / case.folder / case.file, copy):
        res = CliRunner().invoke(
            app, ["ingest", case.loader, str(target), "--db", str(db), "--user", "lh:user_03"]
        )
        assert res.exit_code == 0, res.output
    with Store(db, read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM events") == n
    _check_success(db)
