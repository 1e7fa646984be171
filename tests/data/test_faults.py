"""Faults during ingest: truncated files, wrong encodings, and a process killed mid-write."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import DataError

LFM1B = "lfm-1b-users/LFM-1b_users.tsv"
EVENTS = "lastfm-1k/userid-timestamp-artid-artname-traid-traname.sample.tsv"


def _copy(shared_data: Path, rel: str, tmp_path: Path) -> Path:
    dst = tmp_path / Path(rel).name
    shutil.copyfile(shared_data / rel, dst)
    dst.chmod(0o644)
    return dst


@pytest.fixture
def seeded(store: Store, shared_data: Path) -> Store:
    """A store that already holds the Last.fm 1K sample (so 'unchanged' is not trivially 'empty')."""
    ingest(store, get_loader("lastfm1k"), shared_data / "lastfm-1k")
    return store


# ----------------------------------------------------------------------------- truncation
def test_truncated_mid_line(seeded: Store, shared_data: Path, tmp_path: Path) -> None:
    p = _copy(shared_data, LFM1B, tmp_path)
    data = p.read_bytes()
    # cut line 60,000 right after its first tab: "<user id>\t" is all that is left of it
    start = 0
    for _ in range(60_000 - 1):
        start = data.index(b"\n", start) + 1
    cut = data.index(b"\t", start) + 1
    p.write_bytes(data[:cut])
    before = seeded.counts()
    with pytest.raises(DataError) as err:
        ingest(seeded, get_loader("lfm1b"), p)
    assert (err.value.line, err.value.field) == (60_000, None)
    assert "expected 6 tab-separated fields, found 2" in str(err.value)
    pd.testing.assert_frame_equal(before, seeded.counts())
    # skip mode loads everything before the cut
    res = ingest(seeded, get_loader("lfm1b"), p, on_error="skip")
    assert res.loaded["users"] == 60_000 - 2 and res.rejected == {"users": 1}


def test_truncated_inside_a_multibyte_character(
    seeded: Store, shared_data: Path, tmp_path: Path
) -> None:
    p = _copy(shared_data, EVENTS, tmp_path)
    data = p.read_bytes()
    name = "坂本龍一".encode()
    cut = data.index(name) + 4  # after 1 whole character and 1 byte of the next one
    p.write_bytes(data[:cut])
    before = seeded.counts()
    with pytest.raises(DataError) as err:
        ingest(seeded, get_loader("lastfm1k"), p)
    assert err.value.line == data[:cut].count(b"\n") + 1
    assert err.value.field == "artist" and "not valid utf-8" in str(err.value)
    pd.testing.assert_frame_equal(before, seeded.counts())


# ----------------------------------------------------------------------------- encodings
def test_latin1_bytes_in_utf8_file(seeded: Store, shared_data: Path, tmp_path: Path) -> None:
    p = _copy(shared_data, EVENTS, tmp_path)
    lines = p.read_bytes().split(b"\n")
    fields = lines[1].split(b"\t")
    fields[5] = "Hoppípolla".encode("latin-1")
    lines[1] = b"\t".join(fields)
    p.write_bytes(b"\n".join(lines))
    before = seeded.counts()
    with pytest.raises(DataError) as err:
        ingest(seeded, get_loader("lastfm1k"), p)
    e = err.value
    assert (e.line, e.field) == (2, "track")
    assert e.file is not None and e.file.endswith(p.name)
    assert "not valid utf-8" in e.reason and e.hint is not None and "iconv" in e.hint
    pd.testing.assert_frame_equal(before, seeded.counts())


def test_utf16_file(seeded: Store, shared_data: Path, tmp_path: Path) -> None:
    p = tmp_path / "LFM-1b_users.tsv"
    head = (shared_data / LFM1B).read_text(encoding="utf-8").split("\n")[:50]
    p.write_text("\n".join(head) + "\n", encoding="utf-16")
    with pytest.raises(DataError) as err:
        ingest(seeded, get_loader("lfm1b"), p)
    assert err.value.line == 1 and "another encoding" in str(err.value)


def test_cli_reports_data_error(shared_data: Path, tmp_path: Path) -> None:
    p = _copy(shared_data, LFM1B, tmp_path)
    lines = p.read_bytes().split(b"\n")
    lines[9] = b"9\tDE\tforty\tm\t5\t1100000000"
    p.write_bytes(b"\n".join(lines))
    db = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(app, ["ingest", "lfm1b", str(p), "--db", str(db)])
    assert result.exit_code == DataError.exit_code
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    out = " ".join(out.split())  # the message is wrapped to the terminal's width
    assert "line 10" in out and "age" in out


# ----------------------------------------------------------------------------- kill -9
def _counts(db: Path) -> pd.DataFrame:
    with Store(db) as s:
        return s.counts()


@pytest.mark.parametrize("seed", [False, True], ids=["empty-store", "seeded-store"])
def test_kill_mid_ingest_leaves_store_as_before(
    shared_data: Path, tmp_path: Path, seed: bool
) -> None:
    """SIGKILL `encore ingest` while it writes: the reopened store is as before; a rerun works."""
    db = tmp_path / "kill.duckdb"
    with Store(db) as s:
        if seed:
            ingest(s, get_loader("lastfm1k"), shared_data / "lastfm-1k")
        before = s.counts()
    hetrec = shared_data / "hetrec2011-lastfm-2k"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "encore.cli.main",
            "ingest",
            "hetrec2011",
            str(hetrec),
            "--db",
            str(db),
            "-v",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    try:
        # wait until the writer runs, then until it has put uncommitted blocks into the file
        for line in proc.stderr:
            if "matching and writing" in line:
                break
        size = db.stat().st_size
        deadline = time.monotonic() + 60
        while db.stat().st_size <= size and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        grew = db.stat().st_size > size
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ingest finished before it could be killed"
    assert grew, "the ingest had not written to the store file when killed"

    after = _counts(db)
    pd.testing.assert_frame_equal(before, after)
    with Store(db) as s:
        assert s.scalar("SELECT count(*) FROM ingests WHERE source = 'hetrec2011'") == 0
        if not seed:
            assert after.empty  # nothing in any table
            return
        res = ingest(s, get_loader("hetrec2011"), hetrec)  # a new ingest then works
        assert res.loaded["playcounts"] == 92_834 and res.loaded["friends"] == 25_434
        assert s.scalar("SELECT count(*) FROM users WHERE source = 'lastfm1k'") == 992
