"""Hostile and careless input: real export files, mutated, through ``encore ingest``.

Every loader that ``encore ingest`` lists (:func:`encore.data.sources.registry`) gets a
small slice of its real files from ``../shared/data`` (tens of lines per file, written to
a temporary folder), and the slice is mutated the ways a careless or hostile user would:
truncated, a byte flipped, re-encoded, a huge number or an odd string injected, a line
repeated, two lines swapped, or two of these at once; for the generic loader's Parquet
layout the file's bytes are damaged, or a cell, a column or the rows are changed before
it is written (the same for each Parquet file of an Encore lake, whose manifest is
mutated as text). The mutated export is ingested by the CLI into a store that already holds
the clean one, and:

- the exit code is 0 or a documented code (docs/data-model.md, "Exit codes"), and the
  output never holds a traceback or "internal error";
- on failure: a one-line ``error:`` message that names the file (or the folder given),
  and the store's content is unchanged (every table, row for row: counts and a hash);
- on success: no play (event, or play count) is in the store twice, no play of the clean
  export is lost, every play time, time played and duration is inside the bounds of
  :mod:`encore.data.bounds`, no fact points at a missing user, and every row in
  ``rejects`` names its file and line; a line-per-record file whose lines were only
  repeated or swapped adds no play.

The example budget is fixed and small by default (``ENCORE_FUZZ_EXAMPLES``, default 6 per
loader: 114 mutated exports over the 19 cases, 84-90 s on the shared 2 cores at load 25), so
CI stays fast; set it higher locally for a longer hunt (``ENCORE_FUZZ_EXAMPLES=200``).
Hunts at 30-40 per loader found the two bugs fixed with this suite's last extension (a
lone surrogate in a Spotify library name, a truncated Parquet file in an Encore lake).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data import bounds
from encore.data.schema import CATALOGUE_TABLES, INGEST_TABLES
from encore.data.sources import registry
from encore.data.store import Store

EXAMPLES = int(os.environ.get("ENCORE_FUZZ_EXAMPLES", "6"))
#: Exit codes a command may end with (docs/data-model.md, "Exit codes").
DOCUMENTED_EXIT_CODES = {0, 64, 65, 66, 69, 70, 74}
LH = "listening-histories"

Files = dict[str, bytes]


@dataclass(frozen=True)
class Case:
    """One loader and its small real input: the export folder's files, and what to ingest."""

    loader: str
    folder: str  # the export folder's name (it names the user of a personal export)
    make: Callable[[Path], Files]  # relative path -> bytes of the clean slice, from the shared data
    target: str = ""  # what `encore ingest` is given: "" the folder, else one of its files
    lines: bool = False  # one record per line: repeating or swapping lines adds no play


# ----------------------------------------------------------------------------- slices
def _read(data: Path, rel: str) -> bytes:
    return (data / rel).read_bytes()


def _head(raw: bytes, n: int) -> bytes:
    """The first ``n`` lines (each with its line end)."""
    return b"".join(raw.splitlines(keepends=True)[:n])


def _lines(rel: str, n: int, name: str | None = None) -> Callable[[Path], Files]:
    def make(data: Path) -> Files:
        return {name or Path(rel).name: _head(_read(data, rel), n)}

    return make


def _csv_records(rel: str, n: int, name: str | None = None) -> Callable[[Path], Files]:
    """The header and the first ``n`` records of a CSV (records may span lines), as CSV."""

    def make(data: Path) -> Files:
        with (data / rel).open(newline="", encoding="utf-8") as fh:
            rows = [r for _, r in zip(range(n + 1), csv.reader(fh), strict=False)]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return {name or Path(rel).name: out.getvalue().encode()}

    return make


def _json_slice(rel: str, n: int) -> Callable[[Path], Files]:
    def make(data: Path) -> Files:
        records = json.loads((data / rel).read_text(encoding="utf-8"))[:n]
        return {Path(rel).name: json.dumps(records, indent=2, ensure_ascii=False).encode()}

    return make


def _generic_rows(data: Path) -> list[tuple[str, str, datetime, int, bool | None]]:
    """Real plays (user 03's extended history) in the generic layout's columns."""
    records = json.loads(
        (data / LH / "user_03" / "Streaming_History_Audio_2024_4.json").read_text("utf-8")
    )[:40]
    return [
        (
            "u3",
            r.get("spotify_track_uri") or "none",
            datetime.fromisoformat(r["ts"].replace("Z", "+00:00")),
            int(r["ms_played"]),
            r.get("skipped"),
        )
        for r in records
    ]


def _generic(data: Path) -> Files:
    rows = ["user_id,track_id,ts,ms_played,skipped"]
    for u, t, ts, ms, sk in _generic_rows(data):
        rows.append(f"{u},{t},{ts:%Y-%m-%dT%H:%M:%SZ},{ms},{str(sk).lower()}")
    return {"events.csv": ("\n".join(rows) + "\n").encode()}


def _generic_table(data: Path) -> pa.Table:
    rows = _generic_rows(data)
    return pa.table(
        {
            "user_id": [r[0] for r in rows],
            "track_id": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], type=pa.timestamp("us", tz="UTC")),
            "ms_played": pa.array([r[3] for r in rows], type=pa.int64()),
            "skipped": pa.array([r[4] for r in rows], type=pa.bool_()),
        }
    )


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _generic_parquet(data: Path) -> Files:
    return {"events.parquet": _parquet_bytes(_generic_table(data))}


def _hetrec(data: Path) -> Files:
    """A consistent HetRec slice: 60 play counts, their artists, tags and tag assignments."""
    root = "hetrec2011-lastfm-2k"

    def rows(name: str, enc: str = "utf-8") -> tuple[str, list[list[str]]]:
        text = _read(data, f"{root}/{name}").decode(enc)
        lines = text.split("\n")
        return lines[0], [ln.split("\t") for ln in lines[1:] if ln]

    def out(head: str, body: list[list[str]], enc: str = "utf-8") -> bytes:
        return ("\n".join([head, *("\t".join(r) for r in body)]) + "\n").encode(enc)

    ua_head, ua = rows("user_artists.dat")
    ua = ua[:60]
    users = {r[0] for r in ua}
    artist_ids = {r[1] for r in ua}
    a_head, artists = rows("artists.dat")
    ta_head, tagged = rows("user_taggedartists.dat")
    tagged = [r for r in tagged if r[0] in users and r[1] in artist_ids][:60]
    t_head, tags = rows("tags.dat", "iso-8859-1")
    tag_ids = {r[2] for r in tagged}
    f_head, friends = rows("user_friends.dat")
    return {
        "user_artists.dat": out(ua_head, ua),
        "artists.dat": out(a_head, [r for r in artists if r[0] in artist_ids]),
        "user_taggedartists.dat": out(ta_head, tagged),
        "tags.dat": out(t_head, [r for r in tags if r[0] in tag_ids], "iso-8859-1"),
        "user_friends.dat": out(f_head, [r for r in friends if r[0] in users][:40]),
    }


def _lastfm1k(data: Path) -> Files:
    events = "userid-timestamp-artid-artname-traid-traname.sample.tsv"
    return {
        "userid-profile.tsv": _head(_read(data, "lastfm-1k/userid-profile.tsv"), 30),
        events: _head(_read(data, f"lastfm-1k/{events}"), 40),
    }


def _library(data: Path) -> Files:
    """User 13's library files: liked tracks and albums, follows, account, three playlists."""
    folder = data / LH / "user_13"

    def load(name: str) -> dict[str, object]:
        doc = json.loads((folder / name).read_text(encoding="utf-8"))
        assert isinstance(doc, dict)
        return doc

    lib = load("YourLibrary.json")
    lib["tracks"] = lib["tracks"][:30]  # type: ignore[index]
    lib["albums"] = lib["albums"][:10]  # type: ignore[index]
    playlists = load("Playlist1.json")
    playlists["playlists"] = [
        {**p, "items": p["items"][:6]}
        for p in playlists["playlists"][:3]  # type: ignore[index]
    ]

    def dump(doc: object) -> bytes:
        return json.dumps(doc, indent=2, ensure_ascii=False).encode()

    return {
        "YourLibrary.json": dump(lib),
        "Playlist1.json": dump(playlists),
        "Follow.json": (folder / "Follow.json").read_bytes(),
        "Userdata.json": (folder / "Userdata.json").read_bytes(),
    }


def _lake(data: Path) -> Files:
    """An Encore Parquet lake (`encore export events`) of a real slice: user 03's plays."""
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        export = tmp / "user_03"
        export.mkdir()
        for name, raw in _json_slice(f"{LH}/user_03/Streaming_History_Audio_2024_4.json", 40)(
            data
        ).items():
            (export / name).write_bytes(raw)
        db, lake = tmp / "s.duckdb", tmp / "lake"
        for args in (
            ["ingest", "spotify_extended", str(export), "--db", str(db)],
            ["export", "events", "--to", str(lake), "--db", str(db)],
        ):
            res = CliRunner().invoke(app, args)
            assert res.exit_code == 0, res.output
        return {
            str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*")) if p.is_file()
        }


def _fma(data: Path) -> Files:
    return {
        "genres.csv": _read(data, "fma-genres/genres.csv"),
        **_lines("fma-genres/tracks_small_genre_labels.csv", 40)(data),
    }


def _artist_genres(data: Path) -> Files:
    return {
        **_csv_records("spotify-artist-genres/data_w_genres_swarupa29.csv", 30)(data),
        **_csv_records("spotify-artist-genres/artist_genres_veronicasoden.csv", 30)(data),
    }


CASES = {
    # personal exports
    "spotify_extended": Case(
        "spotify_extended",
        "user_03",
        _json_slice(f"{LH}/user_03/Streaming_History_Audio_2024_4.json", 40),
    ),
    "spotify_basic": Case(
        "spotify_basic", "user_11", _json_slice(f"{LH}/user_11/StreamingHistory0.json", 40)
    ),
    "spotify_extended_csv": Case(
        "spotify_extended",
        "user_02",
        _lines(f"{LH}/user_02/Streaming_History_Audio_2024.csv", 41),
        lines=True,
    ),
    "lastfm_csv": Case(
        "lastfm_csv", "user_06", _lines(f"{LH}/user_06/scrobbles.csv", 41), lines=True
    ),
    "spotify_library": Case("spotify_library", "user_13", _library),
    # a service's own logs
    "generic": Case("generic", "service", _generic, lines=True),
    "generic_parquet": Case("generic", "service", _generic_parquet),
    "parquet_lake": Case("parquet", "lake", _lake),
    # research datasets
    "hetrec2011": Case("hetrec2011", "hetrec", _hetrec, lines=True),
    "lastfm1k": Case("lastfm1k", "lastfm1k", _lastfm1k, lines=True),
    "jodie": Case(
        "jodie",
        "jodie",
        _lines("lastfm-1k-jodie-sample/lastfm_jodie_first10pct.tsv", 60),
        lines=True,
    ),
    "lfm1b": Case("lfm1b", "lfm", _lines("lfm-1b-users/LFM-1b_users.tsv", 41), "LFM-1b_users.tsv"),
    # catalogue files
    "msd": Case("msd", "msd", _csv_records("msd-subset-songs/msd_subset_songs.csv", 30)),
    "tcc_ceds": Case(
        "tcc_ceds", "tcc", _csv_records("tcc-ceds-music-sample/tcc_ceds_music_sample.csv", 12)
    ),
    "spotify_moods": Case(
        "spotify_moods", "moods", _csv_records("spotify-moods/data_moods.csv", 30)
    ),
    "gtzan": Case("gtzan", "gtzan", _csv_records("gtzan-features/features_30_sec.csv", 20)),
    "fma": Case("fma", "fma", _fma),
    "spotify_artist_genres": Case("spotify_artist_genres", "genres", _artist_genres),
    "billboard_lyrics": Case(
        "billboard_lyrics",
        "billboard",
        _csv_records("lyrics-billboard-hot100-sample/billboard_lyrics.csv", 8),
    ),
}


def test_every_loader_is_fuzzed() -> None:
    """A loader added to the registry without a case here fails this test."""
    assert set(registry()) == {c.loader for c in CASES.values()}


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
    b'"',  # a quote left open
    b"\t",
    b"\n",
]
#: Kinds that only repeat or swap whole lines (no play changes in a line-per-record file).
SAME_PLAYS = ("duplicate", "reorder")


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
        if not data:
            return "unchanged", data
        i = draw(st.integers(0, len(data) - 1))
        b = draw(st.integers(0, 255))
        return f"byte {i} -> {b}", data[:i] + bytes([b]) + data[i + 1 :]
    if kind == "reencode":
        enc = draw(st.sampled_from(["utf-16", "utf-16-le", "latin-1", "utf-8-sig", "cp1252"]))
        text = data.decode("utf-8", errors="replace")
        return f"re-encoded as {enc}", text.encode(enc, errors="replace")
    lines = data.split(b"\n")
    if kind in SAME_PLAYS:
        if len(lines) <= 3:
            return "unchanged", data
        i = draw(st.integers(1, len(lines) - 2))
        j = draw(st.integers(1, len(lines) - 2))
        if kind == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return f"{kind} lines {i} {j}", b"\n".join(lines)
    # inject: replace a run of digits (huge numbers) or a word (odd strings)
    pool = _HUGE if kind == "huge" else _ODD
    token = draw(st.sampled_from(pool))
    spans = [m.span() for m in re.finditer(rb"[0-9]+" if kind == "huge" else rb"[A-Za-z]+", data)]
    if not spans:
        return "unchanged", data
    a, b = spans[draw(st.integers(0, len(spans) - 1))]
    return f"{kind} {token[:20]!r} at {a}", data[:a] + token + data[b:]


#: Cell values a Parquet file can hold that no play should: (what, arrow type, value).
_CELLS: list[tuple[str, pa.DataType, object]] = [
    ("int 10^18", pa.int64(), 10**18),
    ("int -1", pa.int64(), -1),
    ("int max", pa.int64(), 2**63 - 1),
    ("float NaN", pa.float64(), float("nan")),
    ("float inf", pa.float64(), float("inf")),
    ("float 1e300", pa.float64(), 1e300),
    ("float 12.5", pa.float64(), 12.5),
    ("time year 1", pa.timestamp("us"), datetime(1, 1, 1)),
    ("time year 9999", pa.timestamp("us", tz="UTC"), datetime(9999, 12, 31, tzinfo=UTC)),
    ("time 1970", pa.timestamp("s"), datetime(1970, 1, 3)),
    ("null", pa.null(), None),
    ("text blank", pa.string(), "   "),
    ("text NUL", pa.string(), "\x00"),
    ("text long", pa.string(), "x" * 100_000),
    ("text infinity", pa.string(), "infinity"),
    ("text 9999", pa.string(), "9999-12-31T23:59:59Z"),
    ("bytes not UTF-8", pa.binary(), b"\xff\xfe\xed"),
    ("bool", pa.bool_(), True),
]


@st.composite
def parquet_mutations(draw: st.DrawFn, clean: bytes) -> tuple[str, bytes]:
    """(what was done, bytes) for a Parquet file: damaged bytes, or a changed cell, column or rows."""
    kind = draw(st.sampled_from(["bytes", "cell", "cell", "column", "rows"]))
    if kind == "bytes":
        what, data = draw(mutations(clean).filter(lambda m: m[0].startswith(("trunc", "byte"))))
        return what, data
    table = pq.read_table(io.BytesIO(clean))
    names = table.column_names
    if table.num_rows == 0 and kind in ("cell", "rows"):
        kind = "column"  # an empty table has no cell or row to change
    if kind == "cell":
        col = draw(st.sampled_from(names))
        row = draw(st.integers(0, table.num_rows - 1))
        what, typ, value = draw(st.sampled_from(_CELLS))
        old = table.column(col)
        target = old.type if pa.types.is_null(typ) else typ
        if target != old.type:  # the column takes the value's type: text of the old values
            values = [None if v is None else str(v) for v in old.to_pylist()]
            if pa.types.is_binary(target):
                cells: list[object] = [None if v is None else v.encode() for v in values]
            elif pa.types.is_string(target):
                cells = list(values)
            else:  # a number or time column that was not one: all null but this cell
                cells = [None] * len(values)
        else:
            cells = old.to_pylist()
        cells[row] = value
        table = table.set_column(names.index(col), col, pa.array(cells, type=target))
        return f"cell {col}[{row}] = {what}", _parquet_bytes(table)
    if kind == "column":
        col = draw(st.sampled_from(names))
        how = draw(st.sampled_from(["drop", "rename", "repeat"]))
        i = names.index(col)
        if how == "drop":
            table = table.remove_column(i)
        elif how == "rename":
            table = table.rename_columns([n if n != col else col + "_x" for n in names])
        else:
            table = table.append_column(col, table.column(i))
        return f"column {col} {how}", _parquet_bytes(table)
    i = draw(st.integers(0, table.num_rows - 1))
    j = draw(st.integers(0, table.num_rows - 1))
    order = list(range(table.num_rows))
    if draw(st.booleans()):
        order.insert(j, i)
        what = f"duplicate rows {i} {j}"
    else:
        order[i], order[j] = order[j], order[i]
        what = f"reorder rows {i} {j}"
    return what, _parquet_bytes(table.take(order))


# ----------------------------------------------------------------------------- the store
def _snapshot(db: Path) -> str:
    """A digest of every table's rows (sorted), i.e. the store's content."""
    h = hashlib.sha256()
    with Store(db, read_only=True) as s:
        for t in (*CATALOGUE_TABLES, *INGEST_TABLES, "ingests", "external_ids", "rejects"):
            rows = s.execute(f"SELECT * FROM {t}").fetchall()
            h.update(f"{t}:{len(rows)}".encode())
            for r in sorted(repr(x) for x in rows):
                h.update(r.encode())
    return h.hexdigest()


#: Plays by their natural key, in names (ids may be re-made when an ingest is replaced).
_PLAYS = """
    SELECT e.user_id, e.ts, t.title, a.name FROM events e
    LEFT JOIN tracks t ON t.track_id = e.track_id LEFT JOIN artists a ON a.artist_id = e.artist_id
"""
_COUNTS = """
    SELECT p.user_id, p.plays, t.title, a.name FROM playcounts p
    LEFT JOIN tracks t ON t.track_id = p.track_id LEFT JOIN artists a ON a.artist_id = p.artist_id
"""


#: Other facts by their natural key (per source for tags and features): none from two ingests.
_FACT_KEYS = {
    "friends": "user_id, friend_id",
    "playlists": "user_id, name, position, track_id",
    "artist_tags": "source, artist_id, tag, user_id, tagged_at",
    "track_tags": "source, track_id, tag, kind",
    "track_features": "source, track_id, feature",
    "artist_features": "source, artist_id, feature",
    "lyrics": "source, track_id",
}


def _plays(db: Path) -> tuple[set[tuple[object, ...]], int, int]:
    """(distinct plays and play counts, number of events, number of play counts)."""
    with Store(db, read_only=True) as s:
        plays = set(s.execute(_PLAYS).fetchall()) | set(s.execute(_COUNTS).fetchall())
        return (
            plays,
            int(s.scalar("SELECT count(*) FROM events")),
            int(s.scalar("SELECT count(*) FROM playcounts")),
        )


def _check_success(db: Path, seed: Path, what: str, lines: bool) -> None:
    with Store(db, read_only=True) as s:
        twice = s.scalar(
            """
            SELECT count(*) FROM (
                SELECT user_id, ts, track_id, artist_id FROM events
                GROUP BY ALL HAVING count(DISTINCT ingest_id) > 1)
            """
        )
        assert twice == 0, f"{what}: a play entered the store twice (from two ingests)"
        counted_twice = s.scalar(
            """
            SELECT count(*) FROM (
                SELECT user_id, artist_id, track_id FROM playcounts
                GROUP BY ALL HAVING count(DISTINCT ingest_id) > 1)
            """
        )
        assert counted_twice == 0, f"{what}: a play count entered the store twice"
        for table, key in _FACT_KEYS.items():
            twice = s.scalar(
                f"SELECT count(*) FROM (SELECT {key} FROM {table} "
                "GROUP BY ALL HAVING count(DISTINCT ingest_id) > 1)"
            )
            assert twice == 0, f"{what}: a row of {table} entered the store twice"
        for kind, table, col in (
            ("time", "events", "ts"),
            ("play", "events", "ms_played"),
            ("duration", "tracks", "duration_ms"),
        ):
            n = s.scalar(f"SELECT count(*) FROM {table} WHERE {bounds.bound_sql(kind, col)}")
            assert n == 0, f"{what}: {n} values of {table}.{col} out of bounds"
        for table in ("events", "likes", "playcounts", "playlists"):
            orphans = s.scalar(
                f"SELECT count(*) FROM {table} WHERE user_id NOT IN (SELECT user_id FROM users)"
            )
            assert orphans == 0, f"{what}: {table} rows point at a missing user"
        unplaced = s.execute(
            "SELECT reason FROM rejects WHERE file IS NULL OR line IS NULL LIMIT 1"
        ).fetchall()
        assert not unplaced, f"{what}: a rejected row names no file or line: {unplaced}"
    before, n_events, n_counts = _plays(seed)
    after, m_events, m_counts = _plays(db)
    assert before <= after, f"{what}: plays of the clean export were lost"
    if lines and what.startswith(SAME_PLAYS):
        assert (m_events, m_counts) == (n_events, n_counts), f"{what}: plays added"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Path]:
    """Per case: the clean files (in their export folder) and a store that already holds them."""
    root = tmp_path_factory.mktemp("fuzz")
    out: dict[str, Path] = {}
    for name, case in CASES.items():
        folder = root / name / case.folder
        folder.mkdir(parents=True)
        for file, data in case.make(shared_data).items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_bytes(data)
        db = root / name / "seed.duckdb"
        res = CliRunner().invoke(
            app,
            ["ingest", case.loader, str(folder / case.target), "--db", str(db), "-f", "json"],
        )
        assert res.exit_code == 0, f"{name}: {res.output}"
        assert any(r["loaded"] > 0 for r in json.loads(res.stdout)), f"{name}: nothing loaded"
        out[name] = root / name
    return out


def _run(
    case: Case, base: Path, tmp: Path, file: str, data: bytes, on_error: str
) -> tuple[int, str, Path, Path]:
    db = tmp / "store.duckdb"
    shutil.copyfile(base / "seed.duckdb", db)
    folder = tmp / case.folder
    shutil.copytree(base / case.folder, folder)
    (folder / file).write_bytes(data)
    res = CliRunner().invoke(
        app,
        ["ingest", case.loader, str(folder / case.target), "--db", str(db), "--on-error", on_error],
    )
    out = res.output + (res.stderr if res.stderr_bytes is not None else "")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"uncaught {type(res.exception).__name__}: {res.exception}")
    return res.exit_code, out, db, folder


def _squeezed(text: str) -> str:
    """Text without whitespace (Rich wraps long paths across lines)."""
    return "".join(text.split())


@pytest.mark.parametrize("name", list(CASES))
def test_mutated_exports(
    name: str, seeded: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    case = CASES[name]
    base = seeded[name]
    folder = base / case.folder
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    before = _snapshot(base / "seed.duckdb")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data(), on_error=st.sampled_from(["raise", "skip"]))
    def check(data: st.DataObject, on_error: str) -> None:
        file = data.draw(st.sampled_from(files), label="file")
        mutate = parquet_mutations if file.endswith(".parquet") else mutations
        what, mutated = data.draw(mutate((folder / file).read_bytes()), label="how")
        what = f"{file}: {what} ({on_error})"
        tmp = tmp_path_factory.mktemp("case")
        code, out, db, copy = _run(case, base, tmp, file, mutated, on_error)
        assert code in DOCUMENTED_EXIT_CODES, f"{what}: exit {code}\n{out}"
        assert "Traceback" not in out and "internal error" not in out, f"{what}:\n{out}"
        if code != 0:
            assert "error:" in out, f"{what}: exit {code} without a message\n{out}"
            assert _squeezed(str(copy)) in _squeezed(out), f"{what}: no file named\n{out}"
            assert _snapshot(db) == before, f"{what}: a failed ingest changed the store"
        else:
            _check_success(db, base / "seed.duckdb", what, case.lines)

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
    file = next((base / case.folder).iterdir())
    for target in (file, copy):
        res = CliRunner().invoke(
            app, ["ingest", case.loader, str(target), "--db", str(db), "--user", "lh:user_03"]
        )
        assert res.exit_code == 0, res.output
    with Store(db, read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM events") == n
    _check_success(db, base / "seed.duckdb", "same export", lines=False)


def test_edited_copy_of_hetrec_doubles_nothing(seeded: dict[str, Path], tmp_path: Path) -> None:
    """HetRec from a copied folder with one count changed: no count, friendship or tag is added again."""
    base = seeded["hetrec2011"]
    db = tmp_path / "s.duckdb"
    shutil.copyfile(base / "seed.duckdb", db)
    copy = tmp_path / "hetrec_copy"
    shutil.copytree(base / "hetrec", copy)
    counts = (copy / "user_artists.dat").read_text().split("\n")
    user, artist, _ = counts[1].split("\t")
    counts[1] = f"{user}\t{artist}\t7"
    (copy / "user_artists.dat").write_text("\n".join(counts))
    res = CliRunner().invoke(
        app, ["ingest", "hetrec2011", str(copy), "--db", str(db), "-f", "json"]
    )
    assert res.exit_code == 0, res.output
    rows = {r["table"]: r for r in json.loads(res.stdout)}
    assert rows["playcounts"]["loaded"] == 0
    assert rows["playcounts"]["already_stored"] == len([c for c in counts[1:] if c])
    for table in ("friends", "artist_tags"):  # unchanged in the copy: nothing added
        assert rows[table]["loaded"] == 0 and rows[table]["already_stored"] > 0
    _check_success(db, base / "seed.duckdb", "edited copy", lines=False)
