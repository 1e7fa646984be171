"""Spotify streaming histories as people download them: ``spotify_basic`` and ``spotify_extended``.

Both loaders read one person's export folder (the user id is ``--user`` if given, else
``lh:<folder name>``, the same for every loader of that folder) or a single file.

``spotify_basic`` -- the "Account data" export: ``StreamingHistory<N>.json`` and the newer
``StreamingHistory_music_<N>.json`` (``StreamingHistory_podcast_<N>.json`` is not music and is
not read). Each record has ``endTime`` ("YYYY-MM-DD HH:MM", UTC, end of the play),
``artistName``, ``trackName`` and ``msPlayed``. The format has no skip flag (the writer derives
one from ``msPlayed``, see :data:`encore.data.writer.SKIP_RULE`) and no album or URI. Older
basic exports mix podcast episodes into the same files with the show's name as
``artistName`` and the episode title as ``trackName``: they cannot be told apart from music
reliably, so they are loaded as plays. Records by ``Unknown Artist`` titled ``Unknown Track``
(Spotify's placeholder for local files and unavailable items) name no track: they are
skipped and counted, like podcasts in the extended format.

``spotify_extended`` -- the "Extended streaming history": ``Streaming_History_Audio_*.json``,
the older ``endsong_*.json``, and CSV conversions ``Streaming_History_Audio_*.csv`` with the
same columns (a CSV whose JSON twin of the same name is present is not read twice). Used
fields: ``ts`` (UTC, end of the play), ``ms_played``, ``master_metadata_track_name``,
``master_metadata_album_artist_name``, ``master_metadata_album_album_name``,
``spotify_track_uri`` (-> ``track_uri``), ``skipped`` and ``reason_end``. Rows without a track
name are podcast episodes, audiobooks or video/unknown plays: they are not music plays and are
skipped and counted (not rejected). Skip flag: ``skipped`` when given; when it is null (older
exports) ``reason_end`` decides: ``fwdbtn``, ``backbtn`` and ``endplay`` mean skipped,
``trackdone`` means not skipped, anything else leaves it to the writer's rule.
``conn_country``: the most frequent connection country of the music plays (ties:
alphabetical; ``ZZ``, Spotify's unknown, ignored) becomes the listener's ``country`` with
``country_basis`` ``'plays'`` (a country declared in ``Userdata.json`` is kept over it). In the three
development exports that have both, ``skipped`` is true exactly when ``reason_end`` is one of
those three (41,705 of 41,705 music rows agree).

Bad records (missing key, bad date, negative duration, ...) go through
:meth:`~encore.data.ingest.IngestContext.reject` with the file, the line where the record
starts and the field; a file that is empty or not valid JSON raises :class:`DataError` with the
line (and column) the JSON parser stopped at.
"""

from __future__ import annotations

import bisect
import csv
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from encore.data import bounds
from encore.data.ingest import IngestContext, Loader, Staged
from encore.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Namespace of user ids made from an export folder's name (``lh:user_11``).
USER_NAMESPACE = "lh"

_TRUNCATED_HINT = "the file may be truncated or edited; download the export again"


# ----------------------------------------------------------------------------- shared helpers
def export_user(path: Path, ctx: IngestContext) -> str:
    """The user id of a personal export: ``ctx.user`` if given, else ``lh:<folder name>``.

    Parameters
    ----------
    path:
        The export folder, or one file in it (then its folder names the user).
    ctx:
        The ingest context (``ctx.user`` is the ``--user`` option).

    Returns
    -------
    str
        The same id for every loader reading the same folder.
    """
    if ctx.user:
        return ctx.user
    folder = path if path.is_dir() else path.parent
    return f"{USER_NAMESPACE}:{folder.resolve().name}"


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def matching_files(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Files directly in ``folder`` whose name matches ``pattern``, in natural order."""
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and pattern.fullmatch(p.name)), key=_natural_key
    )


def find_export_files(path: Path, pattern: re.Pattern[str], what: str) -> list[Path]:
    """The export files to read from ``path``.

    A file is read as given. In a folder, the matching files directly inside are used; when
    there are none, the folder is searched below (an unpacked download often has one more
    level, e.g. ``MyData/``), which must find them in a single folder.

    Raises
    ------
    DataError
        No matching file was found.
    ConfigError
        Matching files lie in several folders (several exports: ingest each on its own).
    """
    if path.is_file():
        return [path]
    direct = matching_files(path, pattern)
    if direct:
        return direct
    below = sorted(
        (p for p in path.rglob("*") if p.is_file() and pattern.fullmatch(p.name)),
        key=lambda p: (str(p.parent), _natural_key(p)),
    )
    folders = sorted({p.parent for p in below})
    if len(folders) > 1:
        shown = ", ".join(str(f) for f in folders[:5])
        raise ConfigError(
            f"{path}: {what} files found in {len(folders)} folders ({shown})",
            hint="ingest each person's export folder on its own, or use `encore ingest --all`",
        )
    if not below:
        raise DataError(
            f"no {what} files found",
            file=str(path),
            hint=f"point at the unpacked export folder that holds the {what} files",
        )
    return below


class JsonText:
    """A JSON file's text with positions: lets loaders report the line of a bad record.

    Containers are walked with :meth:`json.JSONDecoder.raw_decode`, so each element's start
    offset is known and turned into a line number only when a record is reported.

    Parameters
    ----------
    path:
        The file (UTF-8, an optional byte-order mark is accepted).

    Raises
    ------
    DataError
        The file is empty, not UTF-8, or (on walking) not valid JSON.
    """

    _ws = re.compile(r"[ \t\n\r]*")

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raw = path.read_bytes()
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise DataError(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {col})",
                file=str(path),
                line=line,
                hint="Spotify exports are UTF-8 JSON; was the file re-saved in another encoding?",
            ) from exc
        self._decoder = json.JSONDecoder()
        self._newlines: list[int] | None = None
        self.root = self.skip_ws(0)
        if self.root >= len(self.text):
            raise DataError(
                "empty file: expected JSON", file=str(path), line=1, hint=_TRUNCATED_HINT
            )

    # -- positions
    def skip_ws(self, i: int) -> int:
        """Offset of the first non-blank character at or after ``i``."""
        m = self._ws.match(self.text, i)
        return m.end() if m else i

    def line(self, i: int) -> int:
        """1-based line of offset ``i``."""
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self._newlines, i) + 1

    def column(self, i: int) -> int:
        """1-based column of offset ``i``."""
        return i - self.text.rfind("\n", 0, i)

    def error(self, i: int, reason: str, field: str | None = None) -> DataError:
        """A :class:`DataError` at offset ``i`` (line, and the column in the message)."""
        return DataError(
            f"{reason} (column {self.column(i)})",
            file=str(self.path),
            line=self.line(i),
            field=field,
            hint=_TRUNCATED_HINT,
        )

    # -- parsing
    def value(self, i: int) -> tuple[Any, int]:
        """Decode the JSON value starting at offset ``i``; returns it and the offset after it."""
        try:
            return self._decoder.raw_decode(self.text, i)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"invalid JSON (column {exc.colno}): {exc.msg}",
                file=str(self.path),
                line=exc.lineno,
                hint=_TRUNCATED_HINT,
            ) from exc
        except RecursionError as exc:
            raise self.error(
                i, "JSON nested too deeply (a streaming history is an array of flat records)"
            ) from exc

    def _expect_end(self, j: int) -> None:
        k = self.skip_ws(j)
        if k < len(self.text):
            raise self.error(k, "unexpected text after the end of the JSON value")

    def array(self, i: int, *, top: bool = False) -> list[tuple[int, Any]]:
        """The elements of the JSON array at offset ``i`` as ``(start offset, value)`` pairs."""
        text = self.text
        if i >= len(text) or text[i] != "[":
            raise self.error(min(i, len(text)), "expected a JSON array ('[')")
        out: list[tuple[int, Any]] = []
        i = self.skip_ws(i + 1)
        if i < len(text) and text[i] == "]":
            if top:
                self._expect_end(i + 1)
            return out
        while True:
            if i >= len(text):
                raise self.error(len(text), "unexpected end of file inside an array")
            obj, j = self.value(i)
            out.append((i, obj))
            i = self.skip_ws(j)
            if i >= len(text):
                raise self.error(len(text), "unexpected end of file: the array is not closed")
            c = text[i]
            if c == ",":
                i = self.skip_ws(i + 1)
            elif c == "]":
                if top:
                    self._expect_end(i + 1)
                return out
            else:
                raise self.error(i, "expected ',' or ']' after an array element")

    def members(self, i: int, *, top: bool = False) -> dict[str, tuple[int, Any]]:
        """The members of the JSON object at offset ``i``: key -> (value start offset, value)."""
        text = self.text
        if i >= len(text) or text[i] != "{":
            raise self.error(min(i, len(text)), "expected a JSON object ('{')")
        out: dict[str, tuple[int, Any]] = {}
        i = self.skip_ws(i + 1)
        if i < len(text) and text[i] == "}":
            if top:
                self._expect_end(i + 1)
            return out
        while True:
            if i >= len(text) or text[i] != '"':
                raise self.error(min(i, len(text)), "expected a quoted key")
            key, j = self.value(i)
            j = self.skip_ws(j)
            if j >= len(text) or text[j] != ":":
                raise self.error(min(j, len(text)), "expected ':' after a key")
            v_start = self.skip_ws(j + 1)
            if v_start >= len(text):
                raise self.error(len(text), "unexpected end of file after a key")
            val, k = self.value(v_start)
            out[str(key)] = (v_start, val)
            i = self.skip_ws(k)
            if i >= len(text):
                raise self.error(len(text), "unexpected end of file: the object is not closed")
            if text[i] == ",":
                i = self.skip_ws(i + 1)
            elif text[i] == "}":
                if top:
                    self._expect_end(i + 1)
                return out
            else:
                raise self.error(i, "expected ',' or '}' after an object member")


def compact(rec: Any, limit: int = 2000) -> str:
    """A record as one line of JSON (for the rejects table)."""
    try:
        s = json.dumps(rec, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        s = repr(rec)
    # lone surrogates cannot be stored: keep them visible as escapes
    return s[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


_MISSING: Any = object()


@dataclass
class Bad:
    """One problem found in a record: its row index, field and reason."""

    row: int
    field: str | None
    reason: str


def report_bad(
    ctx: IngestContext,
    table: str,
    problems: list[Bad],
    where: Callable[[int], tuple[Path, int | None]],
    raw: Callable[[int], str],
) -> np.ndarray:
    """Send the first problem of each row to ``ctx.reject`` in file order; returns a keep mask.

    ``where(row)`` gives the file and line of a row, ``raw(row)`` its text. In strict mode
    the first problem raises :class:`DataError`.
    """
    first: dict[int, Bad] = {}
    for b in problems:
        if b.row not in first:
            first[b.row] = b
    for r in sorted(first):
        f, line = where(r)
        ctx.reject(table, f, line, first[r].field, first[r].reason, raw(r))
    return np.array(sorted(first), dtype=np.int64)


def check_text(
    values: Sequence[Any], field: str, *, required: bool, out: list[Bad], missing_ok: bool = False
) -> None:
    """Check a column of string fields: present (unless ``missing_ok``), a string or null,
    and non-blank when ``required``."""
    for i, v in enumerate(values):
        if v is _MISSING:
            if not missing_ok:
                out.append(Bad(i, field, f"missing field {field!r}"))
        elif v is None:
            if required:
                out.append(Bad(i, field, f"{field} is null"))
        elif not isinstance(v, str):
            out.append(Bad(i, field, f"{field} must be text, not {type(v).__name__} {v!r}"))
        elif required and not v.strip():
            out.append(Bad(i, field, f"{field} is empty"))
        elif len(v) > MAX_TEXT:
            out.append(
                Bad(i, field, f"{field} is {len(v):,} characters long (at most {MAX_TEXT:,})")
            )
        elif _SURROGATE.search(v):
            out.append(
                Bad(
                    i,
                    field,
                    f"{field} is not valid Unicode text (a lone surrogate such as \\ud800)",
                )
            )


#: Longest name or title a record may carry (a longer one is damage, not a title).
MAX_TEXT = 10_000

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_ms(values: Sequence[Any], field: str, out: list[Bad]) -> np.ndarray:
    """Milliseconds played: a whole number from 0 to under 24 hours (JSON number or digits in CSV text).

    The upper bound is :data:`encore.data.bounds.MAX_PLAY_MS`; larger values (10^15, 10^30)
    are reported, never cast.
    """
    res = np.zeros(len(values), dtype=np.int64)
    limit = bounds.MAX_PLAY_MS
    for i, v in enumerate(values):
        n: int | None = None
        if type(v) is int:
            n = v
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
            n = int(v.strip())
        if n is not None and 0 <= n < limit:
            res[i] = n
        elif n is not None and n >= limit:
            out.append(Bad(i, field, f"{field} {n} is out of bounds: {bounds.bound_text('play')}"))
        elif v is _MISSING:
            out.append(Bad(i, field, f"missing field {field!r}"))
        else:
            shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
            out.append(
                Bad(
                    i,
                    field,
                    f"{field} must be a non-negative whole number of milliseconds, not {shown}",
                )
            )
    return res


def parse_times(
    values: Sequence[Any], field: str, fmt: str, expected: str, out: list[Bad]
) -> pd.Series:
    """Parse a column of UTC timestamps with ``fmt`` (``"ISO8601"`` allowed) into naive UTC."""
    s = pd.Series([v if isinstance(v, str) else None for v in values], dtype=object)
    parsed = pd.to_datetime(s, format=fmt, errors="coerce", utc=True).dt.tz_convert(None)
    for i in np.flatnonzero(parsed.isna().to_numpy()):
        v = values[int(i)]
        if v is _MISSING:
            out.append(Bad(int(i), field, f"missing field {field!r}"))
        elif v is None or (isinstance(v, str) and not v.strip()):
            out.append(Bad(int(i), field, f"{field} is empty"))
        else:
            out.append(Bad(int(i), field, f"bad date {v!r}: expected {expected}"))
    lo, hi = pd.Timestamp(bounds.MIN_TIME), pd.Timestamp(bounds.max_time())
    for i in np.flatnonzero(((parsed < lo) | (parsed > hi)).to_numpy()):
        out.append(
            Bad(int(i), field, f"{values[int(i)]!r} is out of bounds: {bounds.bound_text('time')}")
        )
    return parsed


def _column(records: Sequence[Any], key: str) -> list[Any]:
    return [r.get(key, _MISSING) if isinstance(r, dict) else _MISSING for r in records]


def _not_objects(records: Sequence[Any], out: list[Bad]) -> None:
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            out.append(Bad(i, None, f"expected a JSON object, got {type(r).__name__}"))


@dataclass
class _Chunk:
    """Rows of one file, column-wise, before validation."""

    path: Path
    starts: list[int]  # JSON: start offset of each record; CSV: line number
    records: list[Any]  # the raw records (dicts) or CSV rows (for the rejects table)
    cols: dict[str, list[Any]]
    json_text: JsonText | None = None

    def where(self, row: int) -> tuple[Path, int | None]:
        if self.json_text is not None:
            return self.path, self.json_text.line(self.starts[row])
        return self.path, self.starts[row]

    def raw(self, row: int) -> str:
        rec = self.records[row]
        if self.json_text is None:
            return ",".join(str(x) for x in rec)[:2000]
        return compact(rec)


def _json_chunk(path: Path, keys: Sequence[str]) -> _Chunk:
    doc = JsonText(path)
    pairs = doc.array(doc.root, top=True)
    records = [v for _, v in pairs]
    return _Chunk(path, [s for s, _ in pairs], records, {k: _column(records, k) for k in keys}, doc)


class BrokenRecord(list[str]):
    """A CSV record the reader could not split (a quote not closed, text after a quote).

    Yielded by :func:`csv_rows` with ``tolerant=True`` in place of the record's fields; it
    holds the record's raw text as its one element (for the ``rejects`` table) and
    ``reason`` in words. Readers report it as one bad row at its first line.
    """

    reason: str

    def __init__(self, text: str, reason: str) -> None:
        super().__init__([text])
        self.reason = reason


class _Tee:
    """The lines a CSV reader takes from a file, kept until the record they make is done."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.taken: list[str] = []

    def __iter__(self) -> _Tee:
        return self

    def __next__(self) -> str:
        line = str(next(self.fh))
        self.taken.append(line)
        return line

    def text(self) -> str:
        out = "".join(self.taken)
        self.taken = []
        return out


def csv_rows(path: Path, *, tolerant: bool = False) -> Generator[tuple[int, list[str]], None, None]:
    """(start line, fields) of every CSV row, header included.

    A record the reader cannot split raises :class:`DataError` at its first line; with
    ``tolerant`` it is yielded as a :class:`BrokenRecord` instead and reading goes on with
    the next line, so the rows before it (and after it, where the reader can resume) load
    under ``--on-error skip``. A quote left open at the end of the file makes the rest of
    the file one broken record; when the file also ends without a line end it is reported
    as truncated.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        # strict: a quote left open at the end of the file (a cut download) is an error,
        # not a last field that silently runs to the end of the file
        # an over-long field is judged per row (check_text), not by the CSV module's limit,
        # which would stop the whole file at the wrong line
        csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
        lines = _Tee(fh)
        reader = csv.reader(lines, strict=True)
        prev = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    reason = (
                        f"{TRUNCATED_LAST_LINE} (a quoted value is not closed)"
                        if ends_without_newline(path)
                        else f"a quoted value opened on line {prev + 1} is not closed before the "
                        "end of the file"
                    )
                    hint = "download or export the file again"
                else:
                    reason, hint = f"bad CSV: {exc}", "fix the quoting of the record"
                if not tolerant:
                    raise DataError(reason, file=str(path), line=prev + 1, hint=hint) from exc
                yield prev + 1, BrokenRecord(lines.text()[:2000], reason)
                prev = reader.line_num
                continue
            except UnicodeDecodeError as exc:
                line, byte = first_bad_utf8(path)
                raise DataError(
                    f"not UTF-8 text (byte 0x{byte:02x})",
                    file=str(path),
                    line=line or prev + 1,
                    hint="the file was saved in another encoding or damaged; export it again as UTF-8",
                ) from exc
            lines.taken = []
            yield prev + 1, row
            prev = reader.line_num


def first_bad_utf8(path: Path) -> tuple[int | None, int]:
    """(1-based line, value) of the first byte that is not UTF-8 in ``path`` (line None if none).

    The text readers decode in blocks, so their position says which block failed, not
    which line: this finds the line itself.
    """
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, data[exc.start]
    return None, 0


def ends_without_newline(path: Path) -> bool:
    """True when the (non-empty) file's last byte is not a line end."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            if fh.tell() == 0:
                return False
            fh.seek(-1, 2)
            return fh.read(1) not in (b"\n", b"\r")
    except OSError:
        return False


#: Said of a last line that has no line end and does not parse.
TRUNCATED_LAST_LINE = "the last line has no line end and does not parse: the file looks truncated"


def mark_truncation(path: Path, problems: list[Bad], n_rows: int) -> None:
    """Say "truncated" for the problems of the last row when the file ends without a line end.

    A final line that was cut (a timestamp cut to its first digits, a missing closing
    quote) is a truncated download, and the message should say so rather than only
    "bad date".
    """
    if n_rows == 0 or not ends_without_newline(path):
        return
    for b in problems:
        if b.row == n_rows - 1 and not b.reason.startswith(TRUNCATED_LAST_LINE):
            b.reason = f"{TRUNCATED_LAST_LINE} ({b.reason}); download or export it again"


def _csv_chunk(path: Path, keys: Sequence[str], required: Sequence[str], out: list[Bad]) -> _Chunk:
    """Read a CSV with a header into columns (empty cells -> None, absent columns -> missing)."""
    rows = csv_rows(path, tolerant=True)
    first = next(rows, None)
    if first is None:
        raise DataError("empty file: expected a CSV header", file=str(path), line=1)
    if isinstance(first[1], BrokenRecord):
        raise DataError(first[1].reason, file=str(path), line=first[0])
    header = [h.strip() for h in first[1]]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"missing column {missing[0]!r} (header has: {', '.join(header)})",
            file=str(path),
            line=first[0],
            field=missing[0],
            hint="expected the columns of Spotify's extended streaming history",
        )
    index = {h: i for i, h in enumerate(header)}
    starts: list[int] = []
    records: list[list[str]] = []
    for line, row in rows:
        if isinstance(row, BrokenRecord):
            out.append(Bad(len(records), None, row.reason))
        elif not row:
            continue
        elif len(row) != len(header):
            out.append(Bad(len(records), None, f"expected {len(header)} fields, got {len(row)}"))
        starts.append(line)
        records.append(row)
    cols: dict[str, list[Any]] = {}
    n = len(header)
    if ends_without_newline(path) and records and len(records[-1]) != n:
        mark_truncation(path, out, len(records))
    for k in keys:
        j = index.get(k)
        if j is None:
            cols[k] = [_MISSING] * len(records)
        else:
            cols[k] = [(r[j] if r[j] != "" else None) if len(r) == n else None for r in records]
    return _Chunk(path, starts, records, cols)


def _events_frame(
    user: str,
    ts: pd.Series,
    ms: np.ndarray,
    skipped: Sequence[bool | None] | None,
    cols: dict[str, Sequence[Any]],
) -> pd.DataFrame:
    data: dict[str, Any] = {
        "user_id": pd.Series([user] * len(ts), dtype=object),
        "ts": ts.reset_index(drop=True),
        "ms_played": pd.array(ms, dtype="Int64"),
        "skipped": pd.array(
            list(skipped) if skipped is not None else [None] * len(ts), dtype="boolean"
        ),
    }
    for k, v in cols.items():
        data[k] = pd.Series(list(v), dtype=object)
    return pd.DataFrame(data)


def _take(values: Sequence[Any], idx: np.ndarray) -> list[Any]:
    return [values[i] for i in idx]


# ----------------------------------------------------------------------------- spotify_basic
BASIC_FILES = re.compile(r"StreamingHistory(_music_)?\d+\.json", re.IGNORECASE)
#: Spotify's placeholder for plays of local files and unavailable items.
UNKNOWN_PLACEHOLDER = ("Unknown Artist", "Unknown Track")


class SpotifyBasic(Loader):
    """Spotify account-data streaming history (``StreamingHistory*.json``)."""

    name: ClassVar[str] = "spotify_basic"
    description: ClassVar[str] = (
        "Spotify account-data export: StreamingHistory<N>.json / StreamingHistory_music_<N>.json"
    )
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, path: Path) -> bool:
        """A ``StreamingHistory*.json`` file, or a folder holding one directly."""
        if path.is_file():
            return bool(BASIC_FILES.fullmatch(path.name))
        return bool(matching_files(path, BASIC_FILES))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every basic history file of the export into ``events``."""
        user = export_user(path, ctx)
        files = find_export_files(path, BASIC_FILES, "StreamingHistory*.json")
        keys = ("endTime", "artistName", "trackName", "msPlayed")
        frames: list[pd.DataFrame] = []
        n_unknown = 0
        for f in files:
            ctx.step(f"{self.name}: parsing {f.name}")
            chunk = _json_chunk(f, keys)
            problems: list[Bad] = []
            _not_objects(chunk.records, problems)
            ts = parse_times(
                chunk.cols["endTime"],
                "endTime",
                "%Y-%m-%d %H:%M",
                "'YYYY-MM-DD HH:MM' (UTC)",
                problems,
            )
            check_text(chunk.cols["artistName"], "artistName", required=True, out=problems)
            check_text(chunk.cols["trackName"], "trackName", required=True, out=problems)
            ms = parse_ms(chunk.cols["msPlayed"], "msPlayed", problems)
            bad = report_bad(
                ctx, "events", sorted(problems, key=lambda b: b.row), chunk.where, chunk.raw
            )
            keep = np.ones(len(chunk.records), dtype=bool)
            keep[bad] = False
            artists, tracks = chunk.cols["artistName"], chunk.cols["trackName"]
            unknown = np.fromiter(
                ((a, t) == UNKNOWN_PLACEHOLDER for a, t in zip(artists, tracks, strict=True)),
                dtype=bool,
                count=len(artists),
            )
            n_unknown += int((unknown & keep).sum())
            idx = np.flatnonzero(keep & ~unknown)
            frames.append(
                _events_frame(
                    user,
                    ts.iloc[idx],
                    ms[idx],
                    None,
                    {"artist": _take(artists, idx), "track": _take(tracks, idx)},
                )
            )
        events = pd.concat(frames, ignore_index=True)
        ctx.drop("'Unknown Artist - Unknown Track' placeholder plays", n_unknown)
        ctx.step(
            f"{self.name}: {len(events):,} plays for {user} from {len(files)} file(s); "
            f"skipped {n_unknown:,} 'Unknown Artist - Unknown Track' placeholder plays "
            "(podcast episodes cannot be told apart in this format and are kept)"
        )
        st = Staged()
        st.add("events", events)
        return st


# ----------------------------------------------------------------------------- spotify_extended
EXTENDED_FILES = re.compile(
    r"(Streaming_History_Audio_.*\.(json|csv)|endsong_\d+\.json)", re.IGNORECASE
)
_EXT_KEYS = (
    "ts",
    "ms_played",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "skipped",
    "reason_end",
    "episode_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "conn_country",
)
#: A connection country: ISO alpha-2 (Spotify writes ``ZZ`` when it does not know).
_COUNTRY = re.compile(r"(?!ZZ)[A-Z]{2}")
_EXT_REQUIRED = (
    "ts",
    "ms_played",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
)
#: ``reason_end`` values that mean the listener left the track early (used when ``skipped`` is null).
SKIP_REASONS = frozenset({"fwdbtn", "backbtn", "endplay"})
#: ``reason_end`` values that mean the track played to its end.
DONE_REASONS = frozenset({"trackdone"})
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _skip_flags(flags: Sequence[Any], reasons: Sequence[Any], out: list[Bad]) -> list[bool | None]:
    res: list[bool | None] = []
    for i, (f, r) in enumerate(zip(flags, reasons, strict=True)):
        if isinstance(f, bool):
            res.append(f)
            continue
        if isinstance(f, str) and f.strip().lower() in _BOOL_TEXT:
            res.append(_BOOL_TEXT[f.strip().lower()])
            continue
        if f is not None and f is not _MISSING:
            out.append(Bad(i, "skipped", f"skipped must be true, false or null, not {f!r}"))
        if r in SKIP_REASONS:
            res.append(True)
        elif r in DONE_REASONS:
            res.append(False)
        else:
            res.append(None)
    return res


class SpotifyExtended(Loader):
    """Spotify extended streaming history (``Streaming_History_Audio_*.json``/``.csv``, ``endsong_*.json``)."""

    name: ClassVar[str] = "spotify_extended"
    description: ClassVar[str] = (
        "Spotify extended streaming history: Streaming_History_Audio_*.json (or its CSV copy), endsong_*.json"
    )
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, path: Path) -> bool:
        """An extended-history file, or a folder holding one directly."""
        if path.is_file():
            return bool(EXTENDED_FILES.fullmatch(path.name))
        return bool(matching_files(path, EXTENDED_FILES))

    def load(self, path: Path, ctx: IngestContext) -> Staged:
        """Read every extended history file of the export into ``events``."""
        user = export_user(path, ctx)
        files = find_export_files(path, EXTENDED_FILES, "Streaming_History_Audio_*.json")
        stems = {f.stem.lower() for f in files if f.suffix.lower() == ".json"}
        frames: list[pd.DataFrame] = []
        non_music: Counter[str] = Counter()
        countries: Counter[str] = Counter()
        for f in files:
            if f.suffix.lower() == ".csv" and f.stem.lower() in stems:
                log.info("%s: %s has a JSON twin; the CSV copy is not read", self.name, f.name)
                continue
            ctx.step(f"{self.name}: parsing {f.name}")
            problems: list[Bad] = []
            if f.suffix.lower() == ".csv":
                chunk = _csv_chunk(f, _EXT_KEYS, _EXT_REQUIRED, problems)
            else:
                chunk = _json_chunk(f, _EXT_KEYS)
                _not_objects(chunk.records, problems)
            c = chunk.cols
            for k in _EXT_REQUIRED[2:]:
                check_text(c[k], k, required=False, out=problems)
            for k in ("master_metadata_album_album_name", "spotify_track_uri", "reason_end"):
                check_text(c[k], k, required=False, out=problems, missing_ok=True)
            titled = np.fromiter(
                (isinstance(t, str) and bool(t.strip()) for t in c["master_metadata_track_name"]),
                dtype=bool,
                count=len(chunk.records),
            )
            for i in np.flatnonzero(titled):
                a = c["master_metadata_album_artist_name"][i]
                if a is None or (isinstance(a, str) and not a.strip()):
                    problems.append(
                        Bad(
                            int(i),
                            "master_metadata_album_artist_name",
                            "a track without an artist name",
                        )
                    )
            ts = parse_times(
                c["ts"],
                "ts",
                "ISO8601",
                "an ISO 8601 UTC time like '2024-01-31T23:59:59Z'",
                problems,
            )
            ms = parse_ms(c["ms_played"], "ms_played", problems)
            skipped = _skip_flags(c["skipped"], c["reason_end"], problems)
            # non-music rows are not checked further (their problems would not matter)
            problems = [
                b
                for b in problems
                if titled[b.row]
                or b.field in ("ts", "ms_played", None)
                or b.field == "master_metadata_track_name"
            ]
            bad = report_bad(
                ctx, "events", sorted(problems, key=lambda b: b.row), chunk.where, chunk.raw
            )
            keep = np.ones(len(chunk.records), dtype=bool)
            keep[bad] = False
            for i in np.flatnonzero(keep & ~titled):
                if c["episode_name"][i] not in (None, _MISSING) or c["spotify_episode_uri"][
                    i
                ] not in (None, _MISSING):
                    non_music["podcast episodes"] += 1
                elif c["audiobook_title"][i] not in (None, _MISSING) or c["audiobook_uri"][
                    i
                ] not in (None, _MISSING):
                    non_music["audiobooks"] += 1
                else:
                    non_music["video or unidentified"] += 1
            idx = np.flatnonzero(keep & titled)
            countries.update(
                v
                for v in _take(c["conn_country"], idx)
                if isinstance(v, str) and _COUNTRY.fullmatch(v)
            )
            album = [
                None if v is _MISSING else v
                for v in _take(c["master_metadata_album_album_name"], idx)
            ]
            uri = [None if v is _MISSING else v for v in _take(c["spotify_track_uri"], idx)]
            frames.append(
                _events_frame(
                    user,
                    ts.iloc[idx],
                    ms[idx],
                    _take(skipped, idx),
                    {
                        "artist": _take(c["master_metadata_album_artist_name"], idx),
                        "track": _take(c["master_metadata_track_name"], idx),
                        "album": album,
                        "track_uri": uri,
                    },
                )
            )
        if not frames:
            raise DataError("no extended history files left to read", file=str(path))
        events = pd.concat(frames, ignore_index=True)
        detail = ", ".join(f"{k} {v:,}" for k, v in sorted(non_music.items())) or "none"
        for kind, count in non_music.items():
            ctx.drop(f"{kind} (not music)", count)
        ctx.step(
            f"{self.name}: {len(events):,} plays for {user} from {len(files)} file(s); "
            f"skipped {sum(non_music.values()):,} non-music rows ({detail})"
        )
        st = Staged()
        st.add("events", events)
        if countries:
            # the listener's country: the connection country of most of their music plays
            # (ties: alphabetical); a declared one (Userdata.json) is kept over it
            code = min(countries, key=lambda k: (-countries[k], k))
            ctx.step(
                f"{self.name}: {user}'s country {code} "
                f"({countries[code]:,} of {sum(countries.values()):,} plays with a connection country)"
            )
            st.add(
                "users",
                pd.DataFrame({"user_id": [user], "country": [code], "country_basis": ["plays"]}),
            )
        return st
