"""Store commands: ``ingest``, ``info``, ``doctor`` and ``data download``."""

from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape

from encore import __version__
from encore.cli.common import (
    DbOpt,
    FormatOpt,
    OutputFormat,
    VerboseOpt,
    console,
    emit,
    err_console,
    state,
)
from encore.errors import ConfigError, EncoreError

data_app = typer.Typer(
    help="Public datasets: download the originals into a local cache.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``ingest``, ``info``, ``doctor`` and the ``data`` group to the main app."""
    app.command("ingest")(ingest_cmd)
    app.command("info")(info_cmd)
    app.command("doctor")(doctor_cmd)
    from encore.data import download

    download.register(data_app)
    app.add_typer(data_app, name="data")


def ingest_cmd(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Argument(
            help="Loader name (see `encore doctor`); or, alone, an export's file or folder "
            "(its formats detected)."
        ),
    ] = None,
    path: Annotated[Path | None, typer.Argument(help="File or folder to load.")] = None,
    all_: Annotated[
        Path | None,
        typer.Option(
            "--all", help="Load every dataset found under this folder, detecting formats."
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="raise: stop at the first bad row; skip: keep bad rows in the rejects table.",
        ),
    ] = "raise",
    user: Annotated[
        str | None,
        typer.Option("--user", help="User id for a personal export (default: folder name)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="parquet (a lake) only: load the events of this UTC day (YYYY-MM-DD) and after.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="parquet (a lake) only: load the events up to this UTC day (inclusive)."
        ),
    ] = None,
    resolve: Annotated[
        bool,
        typer.Option(
            "--resolve/--no-resolve",
            help="On a store with a genre resolution (`encore genre resolve`), bring it up to "
            "date in the same transaction: genres and estimated minutes of the new plays "
            "(with --all, in the last dataset's transaction).",
        ),
    ] = True,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Load a dataset into the store (one transaction per source; re-running adds nothing)."""
    from encore.data import sources
    from encore.data.ingest import IngestResult, ingest
    from encore.data.store import Store

    st = state(ctx, db, fmt, verbose)
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be raise or skip, not {on_error!r}")
    if user is not None:
        from encore.data.ingest import check_user_id

        user = check_user_id(user)  # before the store is opened (or created)
    jobs: list[tuple[Any, Path]] = []
    if all_ is not None:
        if source is not None or path is not None:
            raise ConfigError("give either SOURCE PATH or --all DIR, not both")
        jobs = plan_all(all_)
        if not jobs:
            raise ConfigError(
                f"{all_}: no known dataset format found", hint="see `encore doctor` for the formats"
            )
    else:
        if source is not None and path is None and source not in sources.registry():
            jobs = plan_path(Path(source))  # `encore ingest ~/Downloads/my_spotify_data`
        elif source is None or path is None:
            raise ConfigError(
                "give SOURCE and PATH (e.g. `encore ingest hetrec2011 data/hetrec`), or --all DIR"
            )
        else:
            jobs = [(sources.get_loader(source), path)]
    if start is not None or end is not None:
        jobs = [(_lake_range(jobs, start, end), jobs[0][1])]
    results: list[IngestResult] = []
    try:
        with Store(st.db) as store, err_console.status("ingesting") as status:
            for i, (loader, p) in enumerate(jobs):
                status.update(f"{loader.name}: {p}")
                results.append(
                    ingest(
                        store,
                        loader,
                        p,
                        on_error=on_error,  # type: ignore[arg-type]
                        user=user,
                        progress=lambda m: status.update(m),
                        # --all: the resolution is brought up to date once, by the last
                        # dataset's transaction (a refresh costs seconds, whatever was added)
                        resolve=resolve and i == len(jobs) - 1,
                    )
                )
    except (EncoreError, KeyboardInterrupt) as exc:
        if results and len(jobs) > 1:
            done = ", ".join(f"{r.source} ({r.path})" for r in results)
            left = ", ".join(f"{ld.name} ({pp})" for ld, pp in jobs[len(results) + 1 :])
            note = (
                f"committed before this failure, and kept in the store: {done}"
                + (f"; not attempted: {left}" if left else "")
                + ". Fix the failing dataset and run the same command again (what was "
                "committed is replaced, not doubled)"
            )
            if isinstance(exc, EncoreError):
                exc.hint = f"{exc.hint}\n{note}" if exc.hint else note
            else:
                err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        raise
    rows = []
    for r in results:
        tables = sorted(set(r.loaded) | set(r.rejected) | set(r.duplicates) | set(r.updated))
        for t in tables:
            # loaded: new rows; updated: stored rows changed; already_stored: unchanged
            rows.append(
                {
                    "source": r.source,
                    "path": r.path,
                    "table": t,
                    "loaded": r.loaded.get(t, 0),
                    "updated": r.updated.get(t, 0),
                    "rejected": r.rejected.get(t, 0),
                    "already_stored": r.duplicates.get(t, 0),
                }
            )
    emit(
        pd.DataFrame(
            rows,
            columns=["source", "path", "table", "loaded", "updated", "rejected", "already_stored"],
        ),
        st.fmt,
        title=f"Ingested into {st.db}",
    )
    for note in replaced_notes(results):
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for r in results:
        if not any(r.loaded.values()) and not (
            r.rejected or r.duplicates or r.dropped or r.updated
        ):
            err_console.print(
                f"{r.source} {r.path}: nothing loaded: no rows of this format in it",
                highlight=False,
                markup=False,
            )
        if r.dropped:
            why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(r.dropped.items()))
            total = sum(r.dropped.values())
            err_console.print(
                f"{r.source} {r.path}: {total:,} row{'s' if total != 1 else ''} left out by "
                f"rule (not errors): {why} (docs/data-model.md)",
                highlight=False,
                markup=False,
            )
    refreshed = [r.resolution for r in results if r.resolution]
    if refreshed:
        predicted = sum(r["new_artists_predicted"] for r in refreshed)
        left = refreshed[-1]["new_artists_unpredicted"]
        seconds = sum(r["seconds"] for r in refreshed)  # one refresh (see --all above)
        err_console.print(
            f"genre resolution brought up to date ({seconds:.1f} s): {predicted:,} new artists "
            f"predicted"
            + (
                f", {left:,} left unknown (no saved genre model: run `encore genre resolve`)"
                if left
                else ""
            ),
            highlight=False,
        )


def _lake_range(jobs: list[tuple[Any, Path]], start: str | None, end: str | None) -> Any:
    """The Parquet lake loader of ``jobs`` reading only the days ``start``..``end``."""
    from datetime import date

    from encore.data.sources.parquet_lake import ParquetLakeLoader

    if len(jobs) != 1 or not isinstance(jobs[0][0], ParquetLakeLoader):
        raise ConfigError(
            "--from/--to select a date range of a Parquet lake: use them with `encore ingest parquet DIR`"
        )
    days: list[date | None] = []
    for option, text in (("--from", start), ("--to", end)):
        try:
            days.append(None if text is None else date.fromisoformat(text.strip()))
        except ValueError as exc:
            raise ConfigError(
                f"{option} {text!r} is not a date", hint="use YYYY-MM-DD (a UTC day)"
            ) from exc
    return ParquetLakeLoader(days[0], days[1])


def replaced_notes(results: list[Any]) -> list[str]:
    """A line per earlier ingest of the same content that an ingest replaced from another
    path or for other users (a plain re-run of the same path and user says nothing): its
    plays and likes were removed and loaded again, so they now belong to this ingest's users.
    """
    notes = []
    for r in results:
        for old in r.replaced:
            if old["path"] == r.path and old["users"] == r.users:
                continue
            held = f", user {', '.join(old['users'])}" if old["users"] else ""
            now = ", ".join(r.users) or "no user"
            notes.append(
                f"{r.path}: this content was already in the store as ingest {old['ingest_id']} "
                f"({old['path']}{held}); that ingest was replaced, so its plays and likes now "
                f"belong to {now}"
            )
    return notes


def plan_path(path: Path) -> list[tuple[Any, Path]]:
    """Every (loader, path) for a file or folder given without a loader name: a folder as
    ``--all`` reads it, a file by the loaders that recognise it.

    Raises
    ------
    ConfigError
        ``path`` is neither a loader name nor an existing file or folder, or no loader
        recognises it.
    """
    from encore.data import sources

    known = "known sources: " + ", ".join(sources.registry())
    if not path.exists():
        raise ConfigError(
            f"{path}: neither a source name nor an existing file or folder",
            hint=f"{known}; e.g. `encore ingest spotify_basic ~/Downloads/my_spotify_data`",
        )
    jobs = plan_all(path) if path.is_dir() else [(h, path) for h in sources.detect(path)]
    if not jobs:
        raise ConfigError(
            f"{path}: no known dataset format found",
            hint=f"name the format: `encore ingest SOURCE {path}` ({known})",
        )
    return jobs


def plan_all(root: Path) -> list[tuple[Any, Path]]:
    """Every (loader, path) under ``root``: a folder a loader recognises is not searched deeper."""
    from encore.data import sources

    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    jobs: list[tuple[Any, Path]] = []

    def walk(folder: Path) -> None:
        hits = sources.detect(folder)
        if hits:
            jobs.extend((h, folder) for h in hits)
            return
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                walk(child)

    walk(root)
    jobs.sort(key=lambda j: (j[0].priority, j[0].name, str(j[1])))
    return jobs


def emit_play_coverage(rows: list[dict[str, Any]], *, suffix: str = "") -> None:
    """Play coverage as two narrow tables in %: genre (observed, of which catalogue,
    predicted, unknown) and minutes (observed, estimated, missing).

    One table of nine share columns cut its numbers on an 80-column terminal ('513,7…',
    '0.35…') and two headers to the same 'genre_obse…'; ``--format json`` keeps the shares.
    """
    cover = pd.DataFrame(rows)
    if cover.empty:
        return
    pct = (100 * cover.drop(columns=["source", "plays"])).round(1)
    genre = ["observed", "observed_catalogue", "predicted", "unknown"]
    emit(
        pd.concat([cover[["source", "plays"]], pct[[f"genre_{c}" for c in genre]]], axis=1)
        .rename(columns={f"genre_{c}": c for c in genre})
        .rename(columns={"observed_catalogue": "catalogue"}),
        OutputFormat.table,
        title="Genre of plays, % (catalogue: the part of observed from the catalogue)" + suffix,
    )
    minutes = ["observed", "estimated", "missing"]
    emit(
        pd.concat(
            [cover[["source", "plays"]], pct[[f"minutes_{c}" for c in minutes]]], axis=1
        ).rename(columns={f"minutes_{c}": c for c in minutes}),
        OutputFormat.table,
        title="Minutes of plays, %" + suffix,
    )


def info_cmd(
    ctx: typer.Context, db: DbOpt = None, fmt: FormatOpt = None, verbose: VerboseOpt = 0
) -> None:
    """What the store holds: rows per table and source, time spans, genre coverage, match rate."""
    from encore.data.info import store_info
    from encore.data.store import Store

    st = state(ctx, db, fmt, verbose)
    with Store(st.db, read_only=True) as store:
        info = store_info(store)
    if st.fmt is OutputFormat.json:
        emit(info, st.fmt)
        return
    if st.fmt is OutputFormat.csv:
        emit(pd.DataFrame(info["counts"]), st.fmt)
        return
    console.print(f"[bold]Encore store[/] {info['path']} (schema v{info['schema_version']})")
    emit(pd.DataFrame(info["counts"]), st.fmt, title="Rows per table and source")
    emit(pd.DataFrame(info["spans"]), st.fmt, title="Time spans")
    emit(
        pd.DataFrame(info["genre_coverage"]),
        st.fmt,
        title="Genre coverage (share of plays with a known genre)",
    )
    emit(pd.DataFrame(info["matching"]), st.fmt, title="Catalogue matching across sources")
    resolve = "" if info["resolution"] else " · run `encore genre resolve` to fill them"
    emit_play_coverage(info["play_coverage"], suffix=resolve)
    attrs = info["attribute_coverage"]
    shares = pd.DataFrame(attrs["rows"])
    for kind in ("observed", "derived", "unknown"):
        shares[f"{kind}_%"] = (100 * shares.pop(f"{kind}_share")).round(2)
    emit(
        shares.drop(columns=["observed", "derived", "unknown"]).rename(columns={"entity": "of"}),
        st.fmt,
        title="Catalogue attributes: observed / derived / unknown"
        + (
            ""
            if attrs["resolved"]
            else " · the catalogue's own columns; run `encore catalogue resolve` to derive the rest"
        ),
    )


def doctor_cmd(
    ctx: typer.Context, db: DbOpt = None, fmt: FormatOpt = None, verbose: VerboseOpt = 0
) -> None:
    """What is installed, where the store is, and which optional parts are available."""
    from encore.data import sources

    st = state(ctx, db, fmt, verbose)
    # the optional extras of this version (pyproject.toml): package -> "extra (what needs it)"
    optional = {
        "torch": "ml (genre VAE)",
        "lightgbm": "ml (genre classifier)",
        "openTSNE": "ml (segment maps)",
        "umap": "umap (segment maps with --map umap)",
        "librosa": "audio (encore audio: mel filters, classic features)",
        "soundfile": "audio (encore audio: decoding)",
        "py3langid": "text (encore catalogue resolve: language of titles and lyrics)",
        "pyspark": "spark (analytics --engine spark, ALS on Spark; needs Java 17)",
        "s3fs": "lake (lakes on s3://: --lake, export events --to)",
    }
    parts = []
    for mod, what in optional.items():
        found = importlib.util.find_spec(mod) is not None
        parts.append({"package": mod, "for": what, "available": found})
    store_path = st.db.resolve()
    report = {
        "encore": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "store": str(store_path),
        "store_exists": store_path.exists(),
        "store_bytes": store_path.stat().st_size if store_path.exists() else 0,
        "optional": parts,
        "sources": [
            {"name": n, "description": c.description} for n, c in sources.registry().items()
        ],
    }
    if st.fmt is OutputFormat.json:
        emit(report, st.fmt)
        return
    console.print(f"encore {__version__} on Python {report['python']} ({report['platform']})")
    state_word = "exists" if report["store_exists"] else "not created yet"
    console.print(f"store: {report['store']} ({state_word})")
    emit(pd.DataFrame(parts), st.fmt, title="Optional parts")
    loaders = [{"name": n, "description": c.description} for n, c in sources.registry().items()]
    emit(
        pd.DataFrame(loaders, columns=["name", "description"]),
        st.fmt,
        title="Loaders (encore ingest SOURCE PATH)",
    )
