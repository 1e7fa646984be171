"""``encore data download``: public originals into a cache, with checksums and resume.

The catalogue (:data:`CATALOGUE`) names the public originals of the datasets Encore reads.
A download goes to ``<cache>/<name>/<file>`` (cache: ``Settings.from_env().cache_dir``,
env ``ENCORE_CACHE``, or ``--dest``), through a ``.part`` file that an interrupted download
leaves behind and the next one resumes with an HTTP ``Range`` request.

Checksums, honestly: this catalogue was written without network access, so it does not
claim SHA-256 sums it could not compute. An entry whose ``sha256`` is None is verified by
*trust on first use*: the first complete download records its SHA-256 and size in
``<cache>/checksums.json`` and every later download of that entry must match them. An
entry with a ``sha256`` is verified against it on every download. A mismatch removes the
file and fails.

Only the standard library (``urllib``) is used, so downloading needs no extra package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from encore.cli.common import DbOpt, FormatOpt, VerboseOpt
from encore.config import Settings
from encore.errors import DataError, EncoreError, UnknownIdError

log = logging.getLogger(__name__)

CHUNK = 1 << 16
CHECKSUMS = "checksums.json"
USER_AGENT = "encore-data-download (+https://github.com/; stdlib urllib)"


class DownloadError(EncoreError):
    """A download failed: HTTP error, unreachable host, or a response that makes no sense."""

    exit_code = 69  # EX_UNAVAILABLE


@dataclass(frozen=True)
class Dataset:
    """One downloadable public original.

    Attributes
    ----------
    name:
        Catalogue name (``encore data download NAME``).
    url:
        Where the original lives.
    description:
        One line: what it is and which Encore loader reads it.
    sha256:
        Expected SHA-256 (hex), or None: record on first download, verify later.
    size:
        Expected size in bytes when known exactly, else None.
    approx_size:
        Human-readable size for the listing: recalled from the host's page when the
        catalogue was written, not verified (a hint for disk space, nothing checks it).
    """

    name: str
    url: str
    description: str
    sha256: str | None = None
    size: int | None = None
    approx_size: str = "?"

    @property
    def filename(self) -> str:
        """The file name the download is stored under."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


#: Known public originals. None of the checksums could be computed when this was written
#: (no network): they are recorded on first download (see the module docstring).
CATALOGUE: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "hetrec2011-lastfm-2k",
            "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
            "HetRec 2011 Last.fm 2K: user-artist plays, friends, tags (loader hetrec2011)",
            approx_size="2.5 MB",
        ),
        Dataset(
            "lastfm-1k",
            "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-1K.tar.gz",
            "Last.fm 1K users' full listening histories 2005-2009 (loader lastfm1k)",
            approx_size="640 MB",
        ),
        Dataset(
            "lastfm-360k",
            "http://mtg.upf.edu/static/datasets/last.fm/lastfm-dataset-360K.tar.gz",
            "Last.fm 360K users' top artists with play counts",
            approx_size="540 MB",
        ),
        Dataset(
            "jodie-lastfm",
            "http://snap.stanford.edu/jodie/lastfm.csv",
            "JODIE Last.fm temporal user-song interactions (loader jodie)",
            approx_size="120 MB",
        ),
        Dataset(
            "fma-metadata",
            "https://os.unil.cloud.switch.ch/fma/fma_metadata.zip",
            "FMA metadata: tracks, genres taxonomy, features (loader fma reads genres and labels)",
            approx_size="342 MB",
        ),
        Dataset(
            "msd-subset",
            "http://labrosa.ee.columbia.edu/~dpwe/tmp/millionsongsubset.tar.gz",
            "Million Song Subset, 10,000 songs as HDF5 (loader msd reads the flattened CSV)",
            approx_size="1.8 GB",
        ),
        Dataset(
            "lfm-1b",
            "http://www.cp.jku.at/datasets/LFM-1b/LFM-1b.zip",
            "LFM-1b: 120k users, 1 billion listening events (loader lfm1b reads the user table)",
            approx_size="8 GB",
        ),
    )
}


def get_dataset(name: str, catalogue: Mapping[str, Dataset] | None = None) -> Dataset:
    """The catalogue entry called ``name``.

    Raises
    ------
    UnknownIdError
        No such entry; the hint lists the known names.
    """
    cat = CATALOGUE if catalogue is None else catalogue
    if name not in cat:
        raise UnknownIdError("dataset", [name], hint="known datasets: " + ", ".join(cat))
    return cat[name]


def cache_dir(dest: Path | None = None) -> Path:
    """Where downloads go: ``dest``, else ``ENCORE_CACHE`` / ``~/.cache/encore``."""
    return Path(dest) if dest is not None else Settings.from_env().cache_dir


def _load_records(root: Path) -> dict[str, dict[str, object]]:
    path = root / CHECKSUMS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(
            f"cannot read the checksum record: {exc}",
            file=str(path),
            hint="delete it to record checksums afresh",
        ) from exc
    return data if isinstance(data, dict) else {}


def _save_records(root: Path, records: Mapping[str, object]) -> None:
    path = root / CHECKSUMS
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2, sort_keys=True))
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass
class DownloadResult:
    """What :func:`download` did."""

    name: str
    path: Path
    size: int
    sha256: str
    resumed_from: int
    cached: bool
    recorded: bool
    verified: bool

    @property
    def checksum_status(self) -> str:
        """``verified``, ``recorded`` (first download of an entry without a published sum) or ``unverified``."""
        return "verified" if self.verified else "recorded" if self.recorded else "unverified"


Progress = Callable[[int, int | None], None]


def download(
    dataset: Dataset,
    *,
    dest: Path | None = None,
    url_base: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> DownloadResult:
    """Fetch ``dataset`` into the cache, resuming a ``.part`` file and verifying the checksum.

    Parameters
    ----------
    dataset:
        The catalogue entry.
    dest:
        Cache folder (default :func:`cache_dir`); the file goes to ``dest/<name>/<file>``.
    url_base:
        Fetch ``<url_base>/<file name>`` instead of the catalogue URL (a mirror).
    force:
        Download again even when a verified copy is cached.
    progress:
        Called with (bytes so far, total bytes or None) as data arrives.
    timeout:
        Seconds to wait for the server on connect and on each read.

    Raises
    ------
    DownloadError
        HTTP error (e.g. 404), unreachable host, or a truncated response.
    DataError
        The checksum or size does not match: the downloaded file is removed.
    """
    root = cache_dir(dest)
    folder = root / dataset.name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / dataset.filename
    part = target.with_name(target.name + ".part")
    records = _load_records(root)
    rec = records.get(dataset.name)
    expected = dataset.sha256 or (
        str(rec["sha256"]) if isinstance(rec, dict) and "sha256" in rec else None
    )

    if target.is_file() and not force:
        digest = file_sha256(target)
        if expected is None or digest == expected:
            log.info("%s: already cached at %s", dataset.name, target)
            return DownloadResult(
                dataset.name,
                target,
                target.stat().st_size,
                digest,
                0,
                True,
                False,
                expected is not None,
            )
        log.warning("%s: cached copy does not match its checksum; downloading again", dataset.name)
        target.unlink()

    url = f"{url_base.rstrip('/')}/{dataset.filename}" if url_base else dataset.url
    offset = part.stat().st_size if part.is_file() else 0
    resumed_from = _fetch(url, part, offset, progress, timeout)

    size = part.stat().st_size
    digest = file_sha256(part)
    want_size = (
        dataset.size
        if dataset.size is not None
        else (int(rec["size"]) if isinstance(rec, dict) and "size" in rec else None)  # type: ignore[call-overload]
    )
    if expected is not None and digest != expected:
        part.unlink()
        raise DataError(
            f"checksum mismatch for {dataset.name}: expected sha256 {expected}, got {digest}; the file was removed",
            file=str(target),
            hint="try again; if it persists the original changed upstream",
        )
    if want_size is not None and size != want_size:
        part.unlink()
        raise DataError(
            f"size mismatch for {dataset.name}: expected {want_size} bytes, got {size}; "
            "the file was removed",
            file=str(target),
        )
    os.replace(part, target)
    recorded = False
    if dataset.sha256 is None and expected is None:
        records[dataset.name] = {
            "sha256": digest,
            "size": size,
            "url": url,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _save_records(root, records)
        recorded = True
        log.info(
            "%s: no published checksum; recorded sha256 %s for later downloads",
            dataset.name,
            digest,
        )
    return DownloadResult(
        dataset.name, target, size, digest, resumed_from, False, recorded, expected is not None
    )


def _fetch(url: str, part: Path, offset: int, progress: Progress | None, timeout: float) -> int:
    """Stream ``url`` into ``part``, resuming at ``offset``; returns the offset actually resumed from."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # the .part is already complete (or longer than the file): start over cleanly
            log.info("server refused range %d-: restarting %s", offset, url)
            part.unlink()
            return _fetch(url, part, 0, progress, timeout)
        raise DownloadError(
            f"HTTP {exc.code} {exc.reason} for {url}",
            hint="check the URL or --url-base; the server may be down",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url}: {reason}", hint="check the network or use --url-base"
        ) from exc
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:
            log.info(
                "server ignored the range request (HTTP %s): downloading %s from the start",
                status,
                url,
            )
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else None
        done = offset
        mode = "ab" if offset else "wb"
        try:
            with part.open(mode) as fh:
                if progress is not None:
                    progress(done, total)
                while block := response.read(CHUNK):
                    fh.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except OSError as exc:
            raise DownloadError(
                f"download of {url} interrupted after {done} bytes: {exc}",
                hint="run the command again to resume",
            ) from exc
    if total is not None and done != total:
        raise DownloadError(
            f"download of {url} ended after {done} of {total} bytes",
            hint="run the command again to resume",
        )
    return offset


def catalogue_frame(
    dest: Path | None = None, catalogue: Mapping[str, Dataset] | None = None
) -> pd.DataFrame:
    """The catalogue with what is cached: one row per dataset."""
    root = cache_dir(dest)
    cat = CATALOGUE if catalogue is None else catalogue
    records = _load_records(root) if root.is_dir() else {}
    rows = []
    for d in cat.values():
        path = root / d.name / d.filename
        part = path.with_name(path.name + ".part")
        rec = records.get(d.name)
        checksum = d.sha256 or (str(rec.get("sha256")) if isinstance(rec, dict) else None)
        rows.append(
            {
                "name": d.name,
                "approx_size": d.approx_size,
                "cached": "yes"
                if path.is_file()
                else (f"partial ({part.stat().st_size} B)" if part.is_file() else "no"),
                "checksum": (
                    "published" if d.sha256 else "recorded" if checksum else "on first download"
                ),
                "url": d.url,
                "description": d.description,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ CLI
def register(app: typer.Typer) -> None:
    """Add ``download`` and ``list`` to the ``data`` group."""
    app.command("download")(download_cmd)
    app.command("list")(list_cmd)


def download_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name (see `encore data list`).")],
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Cache folder (default: $ENCORE_CACHE or ~/.cache/encore)."),
    ] = None,
    url_base: Annotated[
        str | None,
        typer.Option("--url-base", help="Fetch <URL>/<file name> from a mirror instead."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even when cached.")
    ] = False,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Download a public dataset into the cache (resumes; verifies the SHA-256)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from encore.cli.common import emit, err_console, state

    st = state(ctx, db, fmt, verbose)
    dataset = get_dataset(name)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(dataset.name, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = download(dataset, dest=dest, url_base=url_base, force=force, progress=update)
    emit(
        {
            "name": result.name,
            "path": str(result.path),
            "bytes": result.size,
            "sha256": result.sha256,
            "status": "cached"
            if result.cached
            else ("resumed" if result.resumed_from else "downloaded"),
            "checksum": result.checksum_status,
        },
        st.fmt,
        title="Download",
    )


def list_cmd(
    ctx: typer.Context,
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Cache folder (default: $ENCORE_CACHE or ~/.cache/encore)."),
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """The downloadable datasets and which of them are cached."""
    from encore.cli.common import emit, state

    st = state(ctx, db, fmt, verbose)
    emit(catalogue_frame(dest), st.fmt, title=f"Datasets (cache: {cache_dir(dest)})")
