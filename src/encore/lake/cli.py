"""``encore export events``: write the store's events and catalogue as a Parquet lake.

Read it back with ``encore ingest parquet DIR``; query it in place with ``encore
analytics ... --lake DIR`` (DuckDB) or ``--engine spark``. ``--to`` may be an object-store
URI (``s3://``, ``gs://``: :mod:`encore.lake.objectstore`).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from encore.cli.common import (
    DbOpt,
    EncoreGroup,
    FormatOpt,
    VerboseOpt,
    emit,
    err_console,
    progress_status,
    state,
)

export_app = typer.Typer(
    cls=EncoreGroup,
    help="Export the store: events and catalogue as a Parquet lake.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``export`` sub-app to the main app."""
    app.add_typer(export_app, name="export")


@export_app.command("events")
def events_cmd(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Lake folder or object-store URI (s3://bucket/prefix, gs://...; default "
            "<store>.lake/); an existing lake there is replaced.",
            show_default=False,
        ),
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Write events (Parquet, one partition per day) and the catalogue, with a manifest."""
    from encore.data.store import Store
    from encore.lake import default_lake
    from encore.lake.objectstore import export_lake_to, parse_location

    st = state(ctx, db, fmt, verbose)
    target = parse_location(to if to is not None else default_lake(st.db))
    with Store(st.db, read_only=True) as store, progress_status("exporting") as status:
        summary = export_lake_to(store, target, progress=lambda m: status.update(m))
    emit(
        {
            "lake": summary.uri,
            "events": summary.events,
            "partitions": summary.partitions,
            "catalogue_tables": summary.tables,
            "megabytes": round(summary.bytes / 1e6, 2),
            "seconds": round(summary.seconds, 2),
        },
        st.fmt,
        title="lake written",
    )
    where = escape(summary.uri)
    read_back = "" if target.remote else f"read it back with `encore ingest parquet {where}`; "
    err_console.print(
        f"{read_back}query it with `encore analytics genres --lake {where} [--engine spark]`",
        highlight=False,
    )
