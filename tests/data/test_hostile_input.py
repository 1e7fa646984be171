"""Careless and hostile input, case by case (issue 11): each one a message and a documented
exit code, no doubled or lost plays, and a store left as it was on failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from encore.cli.main import app
from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.errors import ConfigError, DataError, SchemaError

LH = "listening-histories"


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"uncaught {type(res.exception).__name__}: {res.exception}")
    err = res.stderr if res.stderr_bytes is not None else ""
    return res.exit_code, res.stdout, " ".join(err.split())


def _events(db: Path) -> int:
    with Store(db, read_only=True) as s:
        return int(s.scalar("SELECT count(*) FROM events"))


# ----------------------------------------------------------------------------- doubled plays
def test_folder_then_one_of_its_files_adds_no_play(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    folder = shared_data / LH / "user_01"
    code, _, _ = _cli("ingest", "spotify_extended", str(folder), "--db", str(db))
    assert code == 0
    n = _events(db)
    one = folder / "Streaming_History_Audio_2022.json"
    code, out, _ = _cli("ingest", "spotify_extended", str(one), "--db", str(db), "-f", "json")
    assert code == 0
    rows = {r["table"]: r for r in json.loads(out)}
    assert rows["events"]["loaded"] == 0 and rows["events"]["already_stored"] > 0
    assert _events(db) == n


def test_blank_user_is_refused(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    for bad in ("   ", "a\tb", "x" * 300):
        code, _, err = _cli(
            "ingest",
            "spotify_extended",
            str(shared_data / LH / "user_03"),
            "--user",
            bad,
            "--db",
            str(db),
        )
        assert code == ConfigError.exit_code and "--user" in err
    assert not db.exists()


def test_replacing_an_ingest_keeps_users_other_sources_name(
    shared_data: Path, tmp_path: Path
) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        ingest(store, get_loader("spotify_extended"), shared_data / LH / "user_03", user="me")
        ingest(store, get_loader("lastfm_csv"), shared_data / LH / "user_06", user="me")
        # the Spotify export again, now under another id: its old user row is still named
        ingest(store, get_loader("spotify_extended"), shared_data / LH / "user_03", user="you")
        orphans = store.scalar(
            "SELECT count(*) FROM events WHERE user_id NOT IN (SELECT user_id FROM users)"
        )
        users = {
            r[0]: r[1]
            for r in store.execute("SELECT user_id, count(*) FROM events GROUP BY 1").fetchall()
        }
    assert orphans == 0
    assert set(users) == {"me", "you"}


# ----------------------------------------------------------------------------- truncation
def _cut_last_line(src: Path, dst: Path, keep_from_end: int) -> None:
    data = src.read_bytes().rstrip(b"\n")
    dst.write_bytes(data[: len(data) - keep_from_end])


def test_lastfm_csv_cut_inside_last_value(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    # user_08's last column is the Unix time: cut to its first 6 digits it would be 1975
    _cut_last_line(shared_data / LH / "user_08" / "scrobbles.csv", folder / "scrobbles.csv", 4)
    lines = (folder / "scrobbles.csv").read_bytes().count(b"\n") + 1
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader("lastfm_csv"), folder)
        assert err.value.line == lines and "truncated" in str(err.value)
        res = ingest(store, get_loader("lastfm_csv"), folder, on_error="skip")
        assert res.rejected == {"events": 1}
        reason = store.scalar("SELECT reason FROM rejects")
        assert "truncated" in reason


def test_tsv_count_cut_short_at_end_of_file(shared_data: Path, tmp_path: Path) -> None:
    p = tmp_path / "LFM-1b_users.tsv"
    src = (shared_data / "lfm-1b-users" / "LFM-1b_users.tsv").read_bytes()
    head = b"".join(src.splitlines(keepends=True)[:200]).rstrip(b"\n")
    p.write_bytes(head[:-2])  # the last value (a Unix time) loses its last two digits
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader("lfm1b"), p)
        assert err.value.line == 200 and "truncated" in str(err.value)
        res = ingest(store, get_loader("lfm1b"), p, on_error="skip")
        assert res.loaded["users"] == 198 and res.rejected == {"users": 1}


# ----------------------------------------------------------------------------- bounds
@pytest.mark.parametrize(
    ("ts", "ms", "field"),
    [
        ("infinity", "1000", "ts"),
        ("0001-01-01T00:00:00Z", "1000", "ts"),
        ("2024-01-01T00:00:00Z", "1000000000000000000", "ms_played"),
    ],
)
def test_generic_bounds(tmp_path: Path, ts: str, ms: str, field: str) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "events.csv").write_text(
        f"user_id,track_id,ts,ms_played\nu1,t1,2024-01-01T00:00:00Z,1000\nu1,t2,{ts},{ms}\n"
    )
    code, _, err = _cli("ingest", "generic", str(folder), "--db", str(tmp_path / "s.duckdb"))
    assert code == DataError.exit_code
    assert "out of bounds" in err or "not a whole number" in err
    assert f"'{field}'" in err


@pytest.mark.parametrize("ms", ["1e30", "10" + "0" * 29, "1000000000000000"])
def test_spotify_huge_ms_played(tmp_path: Path, ms: str) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    (folder / "StreamingHistory0.json").write_text(
        '[{"endTime": "2024-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1000},\n'
        f' {{"endTime": "2024-01-01 11:00", "artistName": "A", "trackName": "T", "msPlayed": {ms}}}]'
    )
    db = tmp_path / "s.duckdb"
    code, _, err = _cli("ingest", "spotify_basic", str(folder), "--db", str(db))
    assert code == DataError.exit_code and "line 2" in err and "msPlayed" in err
    code, _, _ = _cli("ingest", "spotify_basic", str(folder), "--db", str(db), "--on-error", "skip")
    assert code == 0 and _events(db) == 1


@pytest.mark.parametrize("end_time", ["1900-01-01 10:00", "9999-01-01 10:00", "1970-01-03 00:00"])
def test_spotify_times_outside_bounds(tmp_path: Path, end_time: str) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    (folder / "StreamingHistory0.json").write_text(
        f'[{{"endTime": "{end_time}", "artistName": "A", "trackName": "T", "msPlayed": 1000}}]'
    )
    code, _, err = _cli("ingest", "spotify_basic", str(folder), "--db", str(tmp_path / "s.db"))
    assert code == DataError.exit_code and "endTime" in err


def test_odd_json(tmp_path: Path) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    f = folder / "StreamingHistory0.json"
    db = tmp_path / "s.duckdb"
    f.write_text(
        '[{"endTime": "2024-01-01 10:00", "artistName": "\\ud800", "trackName": "T", "msPlayed": 1}]'
    )
    code, _, err = _cli("ingest", "spotify_basic", str(folder), "--db", str(db))
    assert code == DataError.exit_code and "artistName" in err and "Unicode" in err
    code, _, _ = _cli("ingest", "spotify_basic", str(folder), "--db", str(db), "--on-error", "skip")
    assert code == 0
    f.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = _cli("ingest", "spotify_basic", str(folder), "--db", str(db))
    assert code == DataError.exit_code and "nested too deeply" in err and "line 1" in err


# ----------------------------------------------------------------------------- foreign stores
def test_foreign_duckdb_file_is_refused_and_untouched(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE sales (id INTEGER)")
    con.close()
    before = db.read_bytes()
    code, _, err = _cli(
        "ingest", "spotify_extended", str(shared_data / LH / "user_03"), "--db", str(db)
    )
    assert code == SchemaError.exit_code and "not an Encore store" in err
    code, _, err = _cli("info", "--db", str(db))
    assert code == SchemaError.exit_code and "not an Encore store" in err
    assert db.read_bytes() == before


def test_damaged_schema_migrations(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE schema_migrations")
    con.execute("CREATE TABLE schema_migrations (version VARCHAR)")
    con.execute("INSERT INTO schema_migrations VALUES ('two')")
    con.close()
    code, _, err = _cli("info", "--db", str(db))
    assert code == SchemaError.exit_code and "damaged schema_migrations" in err


# ----------------------------------------------------------------------------- the CLI edge
def test_window_out_of_range_and_bad_chart_before_any_output(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    Store(db).close()
    code, out, err = _cli("analytics", "genres", "--to", "9999-12-31", "--db", str(db))
    assert code == ConfigError.exit_code and "--to 9999-12-31 is out of range" in err
    code, out, err = _cli("analytics", "genres", "--chart", "x.gif", "--db", str(db))
    assert code == ConfigError.exit_code and ".png or .html" in err and out == ""


def test_unexpected_errors_become_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import encore.data.cli as data_cli

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("something broke")

    monkeypatch.setattr(data_cli, "plan_all", boom)
    code, _, err = _cli("ingest", "--all", ".")
    assert code == 70
    assert "internal error in encore ingest: RuntimeError: something broke" in err
    assert "report" in err and "Traceback" not in err

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(data_cli, "plan_all", interrupted)
    code, _, err = _cli("ingest", "--all", ".")
    assert code == 130 and "interrupted" in err


def test_ingest_all_says_what_was_committed(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "exports"
    # spotify_basic is loaded before spotify_extended (same priority, name order)
    shutil.copytree(shared_data / LH / "user_11", root / "a")
    (root / "b").mkdir()
    (root / "b" / "Streaming_History_Audio_2024.json").write_text("[{")
    db = tmp_path / "s.duckdb"
    code, _, err = _cli("ingest", "--all", str(root), "--db", str(db))
    assert code == DataError.exit_code
    assert "committed before this failure" in err and "spotify_basic" in err
    assert _events(db) > 0


def test_typer_exit_is_not_an_internal_error() -> None:
    assert issubclass(typer.Exit, Exception)  # the edge lets it through on purpose
    code, _, err = _cli("info", "--format", "nope")
    assert code == 2 and "internal error" not in err


# ----------------------------------------------------------------------------- messages
def _edit_line(src: Path, dst: Path, index: int, edit: bytes, *, prefix: bool = False) -> None:
    lines = src.read_bytes().split(b"\n")
    lines[index] = edit + lines[index] if prefix else lines[index] + edit
    dst.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    ("loader", "src", "name"),
    [
        ("lastfm_csv", f"{LH}/user_08/scrobbles.csv", "scrobbles.csv"),
        (
            "spotify_extended",
            f"{LH}/user_02/Streaming_History_Audio_2024.csv",
            "Streaming_History_Audio_2024.csv",
        ),
        (
            "spotify_extended",
            f"{LH}/user_03/Streaming_History_Audio_2024_4.json",
            "Streaming_History_Audio_2024_4.json",
        ),
    ],
)
def test_bad_byte_is_reported_at_its_line(
    shared_data: Path, tmp_path: Path, loader: str, src: str, name: str
) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    _edit_line(shared_data / src, folder / name, 2999, b"\xfe")
    with Store(tmp_path / "s.duckdb") as store, pytest.raises(DataError) as err:
        ingest(store, get_loader(loader), folder)
    assert err.value.line == 3000 and "not UTF-8" in str(err.value)


def test_over_long_field_is_one_bad_row(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "me"
    folder.mkdir()
    _edit_line(
        shared_data / LH / "user_08" / "scrobbles.csv",
        folder / "scrobbles.csv",
        50,
        b"A" * 200_000,
        prefix=True,
    )
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader("lastfm_csv"), folder)
        assert (err.value.line, err.value.field) == (51, "artist")
        res = ingest(store, get_loader("lastfm_csv"), folder, on_error="skip")
        assert res.rejected == {"events": 1} and res.loaded["events"] > 5000


def test_utf16_generic_file_is_named_without_nul_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "events.csv").write_bytes("user_id,track_id,ts\nu1,t1,2024-01-01\n".encode("utf-16"))
    code, _, err = _cli("ingest", "generic", str(folder), "--db", str(tmp_path / "s.duckdb"))
    assert code == DataError.exit_code and "UTF-16" in err and "\x00" not in err


# ----------------------------------------------------------------------------- broken CSV records
def test_open_quote_in_last_line_loads_the_rows_before(shared_data: Path, tmp_path: Path) -> None:
    """A scrobble CSV whose last record opens a quote and is cut: the rest loads under skip."""
    folder = tmp_path / "me"
    folder.mkdir()
    rows = (shared_data / LH / "user_06" / "scrobbles.csv").read_bytes().splitlines(True)[:21]
    (folder / "scrobbles.csv").write_bytes(b"".join(rows) + b'"1720684983","11 Jul 2024')
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader("lastfm_csv"), folder)
        assert err.value.line == 22 and "truncated" in str(err.value)
        assert "quoted value is not closed" in str(err.value)
        res = ingest(store, get_loader("lastfm_csv"), folder, on_error="skip")
        assert res.loaded["events"] == 20 and res.rejected == {"events": 1}
        line, raw = store.execute("SELECT line, raw FROM rejects").fetchall()[0]
    assert line == 22 and raw == '"1720684983","11 Jul 2024'


def test_broken_record_mid_file_is_one_bad_row(shared_data: Path, tmp_path: Path) -> None:
    """An extended-history CSV with text after a closing quote on line 10: rows after it load too."""
    folder = tmp_path / "me"
    folder.mkdir()
    src = shared_data / LH / "user_02" / "Streaming_History_Audio_2024.csv"
    rows = src.read_bytes().splitlines(True)[:30]
    rows[9] = b'"x"y' + rows[9]
    (folder / "Streaming_History_Audio_2024.csv").write_bytes(b"".join(rows))
    code, _, err = _cli("ingest", "spotify_extended", str(folder), "--db", str(tmp_path / "a"))
    assert code == DataError.exit_code and "line 10" in err and "bad CSV" in err
    with Store(tmp_path / "s.duckdb") as store:
        res = ingest(store, get_loader("spotify_extended"), folder, on_error="skip")
        assert res.rejected == {"events": 1}
        assert store.execute("SELECT line FROM rejects").fetchall() == [(10,)]
        # every other row of the 29 is a play or a counted non-music row
        kept = store.scalar("SELECT count(*) FROM events")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "Streaming_History_Audio_2024.csv").write_bytes(b"".join(rows[:9] + rows[10:]))
    with Store(tmp_path / "c.duckdb") as store:
        ingest(store, get_loader("spotify_extended"), clean)
        assert store.scalar("SELECT count(*) FROM events") == kept


# ----------------------------------------------------------------------------- bounds with lines
def _tsv_case(shared_data: Path, tmp_path: Path, loader: str) -> tuple[Path, int, str]:
    """A research TSV with a play time outside the bounds on its last line."""
    if loader == "jodie":
        src = shared_data / "lastfm-1k-jodie-sample" / "lastfm_jodie_first10pct.tsv"
        bad, field = b"3\t4\t9999999999\n", "t"
    else:
        src = shared_data / "lastfm-1k" / "userid-timestamp-artid-artname-traid-traname.sample.tsv"
        bad, field = (
            b"user_000001\t1980-05-04T23:08:57Z\t\tSome Artist\t\tSome Track\n",
            "timestamp",
        )
    dst = tmp_path / src.name
    dst.write_bytes(b"".join(src.read_bytes().splitlines(True)[:30]) + bad)
    return dst, 31, field


def _csv_case(shared_data: Path, tmp_path: Path, loader: str) -> tuple[Path, int, str]:
    """A catalogue CSV with a duration of 10^11 ms (or samples) on line 6."""
    rel, field = {
        "spotify_moods": ("spotify-moods/data_moods.csv", "length"),
        "gtzan": ("gtzan-features/features_30_sec.csv", "length"),
        "msd": ("msd-subset-songs/msd_subset_songs.csv", "Duration"),
    }[loader]
    src = shared_data / rel
    rows = src.read_bytes().splitlines(True)[:10]
    head = rows[0].decode().rstrip("\n").split(",")
    cells = rows[5].decode().rstrip("\n").split(",")
    cells[head.index(field)] = "100000000000"
    rows[5] = (",".join(cells) + "\n").encode()
    dst = tmp_path / src.name
    dst.write_bytes(b"".join(rows))
    return dst, 6, field


@pytest.mark.parametrize("loader", ["jodie", "lastfm1k", "spotify_moods", "gtzan", "msd"])
def test_out_of_bounds_values_name_their_line(
    shared_data: Path, tmp_path: Path, loader: str
) -> None:
    """Values found outside the bounds after staging are reported at their line and field."""
    make = _tsv_case if loader in ("jodie", "lastfm1k") else _csv_case
    path, line, field = make(shared_data, tmp_path, loader)
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(DataError) as err:
            ingest(store, get_loader(loader), path)
        e = err.value
        assert (e.file, e.line, e.field) == (str(path), line, field)
        assert "out of bounds" in str(e)
        assert store.scalar("SELECT count(*) FROM ingests") == 0
        ingest(store, get_loader(loader), path, on_error="skip")
        assert store.execute("SELECT file, line, field FROM rejects").fetchall() == [
            (str(path), line, field)
        ]


def test_library_names_that_are_not_text(tmp_path: Path) -> None:
    """A lone surrogate in a playlist or track name (found by the fuzz suite): a bad element."""
    folder = tmp_path / "me"
    folder.mkdir()
    (folder / "Playlist1.json").write_text(
        '{"playlists": [\n'
        '{"name": "\\ud800 song", "lastModifiedDate": "2020-01-24",\n'
        ' "items": [{"track": {"trackName": "A", "artistName": "B"}}]},\n'
        '{"name": "ok", "lastModifiedDate": "2020-01-24", "items": [\n'
        '  {"track": {"trackName": "A\\udc00", "artistName": "B"}},\n'
        '  {"track": {"trackName": "D", "artistName": "E"}}]}]}\n'
    )
    code, _, err = _cli("ingest", "spotify_library", str(folder), "--db", str(tmp_path / "a"))
    assert code == DataError.exit_code and "line 2" in err and "'name'" in err
    with Store(tmp_path / "s.duckdb") as store:
        res = ingest(store, get_loader("spotify_library"), folder, on_error="skip")
        assert res.loaded["playlists"] == 1 and res.rejected == {"playlists": 2}
        assert store.execute("SELECT line, field FROM rejects ORDER BY line").fetchall() == [
            (2, "name"),
            (5, "trackName"),
        ]
