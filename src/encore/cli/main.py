"""Entry point of the ``encore`` command.

Each capability registers its commands from its own ``cli`` module (``register(app)``),
so adding an area touches one line here. Heavy libraries are imported inside commands,
which keeps ``encore --help`` instant.
"""

from __future__ import annotations

import typer

from encore import __version__
from encore.cli.common import (
    DbOpt,
    EncoreGroup,
    FormatOpt,
    OutputFormat,
    State,
    VerboseOpt,
    setup_logging,
)
from encore.cli.examples import apply_examples
from encore.config import default_db_path

app = typer.Typer(
    name="encore",
    cls=EncoreGroup,
    help="Encore: music recommendation and listening analytics on an embedded DuckDB store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"encore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Global options; every command also accepts --db, --format and -v itself."""
    ctx.obj = State(db or default_db_path(), fmt or OutputFormat.table, verbose)
    setup_logging(verbose)


def _register_all() -> None:
    from encore.analytics import cli as analytics_cli
    from encore.audio import cli as audio_cli
    from encore.data import attributes_cli
    from encore.data import cli as data_cli
    from encore.evaluation import cli as evaluation_cli
    from encore.genre import cli as genre_cli
    from encore.lake import cli as lake_cli
    from encore.recommenders import cli as recommenders_cli
    from encore.rl import cli as rl_cli
    from encore.segments import cli as segments_cli
    from encore.serving import cli as serving_cli
    from encore.text import cli as text_cli

    for module in (
        data_cli,
        attributes_cli,
        analytics_cli,
        recommenders_cli,
        evaluation_cli,
        genre_cli,
        segments_cli,
        serving_cli,
        text_cli,
        audio_cli,
        rl_cli,
        lake_cli,
    ):
        module.register(app)
    apply_examples(app)  # every command's --help ends with examples (cli/examples.py)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
