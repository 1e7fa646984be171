"""Options shared by every command, output rendering, and the error -> exit code bridge.

Every command takes ``--db``, ``--format`` and ``-v`` itself (so ``encore info --db X``
works) and also inherits them from the top level (``encore --db X info``).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import pandas as pd
import typer
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup, TyperOption

# the consoles' one home is encore.cli.console; commands may import them from here too
from encore.cli.console import console, err_console
from encore.config import DEFAULT_DB, default_db_path
from encore.errors import EncoreError, SchemaError


class OutputFormat(StrEnum):
    """How results are printed."""

    table = "table"
    csv = "csv"
    json = "json"


DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", envvar="ENCORE_DB", help=f"Store file (default ./{DEFAULT_DB}).", show_default=False
    ),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format: table, csv or json (for scripts).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")
]
#: Seed of a command's sampling and fitting (where it needs no more words than this).
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
#: Item level of a recommendation or interaction matrix (a Literal: --help lists the choices
#: and a wrong one is refused with them).
LevelOpt = Annotated[
    Literal["track", "artist", "album"], typer.Option("--level", help="Item level.")
]
#: How interactions become weights (the same names as data.dataset.WEIGHTINGS, tested).
WeightingOpt = Annotated[
    Literal["binary", "plays", "log1p", "minutes", "bm25", "tfidf"],
    typer.Option("--weighting", help="How plays become weights."),
]


@dataclass
class State:
    """Global options resolved for one invocation."""

    db: Path
    fmt: OutputFormat
    verbose: int


def state(
    ctx: typer.Context, db: Path | None = None, fmt: OutputFormat | None = None, verbose: int = 0
) -> State:
    """Merge a command's own options with the top-level ones (the command's win).

    A command's ``--db`` read from ``ENCORE_DB`` does not beat a top-level ``--db`` typed
    on the command line (``ENCORE_DB=a encore --db b info`` reads b).
    """
    if db is not None and _from_env(ctx, "db") and not _from_env(ctx.find_root(), "db"):
        db = None  # the top level's value (typed, or the same variable) applies
    root = ctx.find_root().obj if ctx.find_root().obj is not None else None
    base: State = (
        root if isinstance(root, State) else State(default_db_path(), OutputFormat.table, 0)
    )
    st = State(db or base.db, fmt or base.fmt, max(verbose, base.verbose))
    setup_logging(st.verbose)
    return st


R = TypeVar("R")

#: The shared options :func:`with_state` gives a command, in the order ``--help`` lists them.
_SHARED = (
    inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DbOpt),
    inspect.Parameter("fmt", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=FormatOpt),
    inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=0, annotation=VerboseOpt),
)


def with_state(func: Callable[..., R]) -> Callable[..., R]:
    """Give a command ``--db``, ``--format`` and ``-v`` and call it with their :class:`State`.

    The command declares its own options and a parameter ``st: State``; Typer sees them
    followed by the three shared options (where every command lists them in ``--help``) and
    a context, and the command is called with ``st`` resolved by :func:`state` (its own
    options merged with the top-level ones). Put it under ``@app.command(...)``.
    """
    sig = inspect.signature(func, eval_str=True)
    if "st" not in sig.parameters:
        raise TypeError(f"{func.__name__} needs a parameter `st: State` to use with_state")
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for name, p in sig.parameters.items()
        if name != "st"
    ]
    ctx = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    params = [ctx, *own, *_SHARED]

    @functools.wraps(func)
    def command(
        ctx: typer.Context,
        *,
        db: Path | None = None,
        fmt: OutputFormat | None = None,
        verbose: int = 0,
        **kwargs: Any,
    ) -> R:
        return func(st=state(ctx, db, fmt, verbose), **kwargs)

    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def sub_app(help: str) -> typer.Typer:
    """An area's command group (``encore rl``, ``encore keys``, ...): errors to exit codes
    (:class:`EncoreGroup`), its help when called without a command."""
    return typer.Typer(cls=EncoreGroup, help=help, no_args_is_help=True)


def _from_env(ctx: Any, name: str) -> bool:
    """Whether ``ctx``'s parameter ``name`` took its value from an environment variable."""
    source = ctx.get_parameter_source(name)  # Typer's own Click: compare the enum's name
    return getattr(source, "name", None) == "ENVIRONMENT"


def setup_logging(verbose: int) -> None:
    """Route library logs to stderr through Rich; -v info, -vv debug."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("encore")
    root.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=err_console, show_path=False))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def to_json(obj: Any) -> str:
    """JSON text for frames (list of records), mappings and scalars; NaN -> null."""
    if isinstance(obj, pd.DataFrame):
        records = [
            {k: _jsonable(v) for k, v in row.items()} for row in obj.to_dict(orient="records")
        ]
        return json.dumps(records, indent=2, default=str, ensure_ascii=False)
    return json.dumps(_nan_to_null(obj), indent=2, default=_jsonable, ensure_ascii=False)


def _nan_to_null(obj: Any) -> Any:
    """``obj`` with every float NaN or infinity (also inside mappings and lists) as None:
    they are not JSON, and strict parsers (JavaScript's, jq) refuse them."""
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_null(v) for v in obj]
    return obj


def emit(
    obj: pd.DataFrame | Mapping[str, Any], fmt: OutputFormat, *, title: str | None = None
) -> None:
    """Print a result as a Rich table, CSV or JSON."""
    if fmt is OutputFormat.json:
        sys.stdout.write(to_json(obj) + "\n")
        return
    frame = obj if isinstance(obj, pd.DataFrame) else pd.DataFrame([obj])
    if fmt is OutputFormat.csv:
        frame.to_csv(sys.stdout, index=False)
        return
    table = Table(title=title, show_lines=False)
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


def emit_json(payload: Mapping[str, Any]) -> None:
    """Print one JSON object; a frame among its values becomes a list of records
    (``DataFrame.to_dict(orient="records")``), the form the commands' JSON has always had."""
    frames_as_records = {
        k: v.to_dict(orient="records") if isinstance(v, pd.DataFrame) else v
        for k, v in payload.items()
    }
    typer.echo(to_json(frames_as_records))


def write_csvs(out: Path, tables: Mapping[str, pd.DataFrame | None]) -> list[Path]:
    """Write each table to ``out/NAME.csv`` (the folder made if missing; None skipped)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        if table is not None:
            table.to_csv(out / f"{name}.csv", index=False)
            paths.append(out / f"{name}.csv")
    return paths


def say_written(paths: Iterable[Path | str], *, stderr: bool = False) -> None:
    """One line ``wrote PATH`` per file a command wrote (charts, tables)."""
    for path in paths:
        # soft_wrap: a long path stays one line (the terminal folds it), so it can be copied
        (err_console if stderr else console).print(f"wrote {path}", soft_wrap=True)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


@contextmanager
def progress_status(message: str) -> Iterator[Any]:
    """A Rich status spinner on stderr whose text long work can update."""
    with err_console.status(message) as status:
        yield status


#: Exit code of an interrupted command (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Exit code of a file-system failure (EX_IOERR): disk full, permission denied, ...
EXIT_IO = 74
#: Exit code of an unexpected error, a bug in Encore (EX_SOFTWARE).
EXIT_BUG = 70


def _verbose() -> bool:
    """Whether -v was given (to the command or at the top level)."""
    level = logging.getLogger("encore").level
    if level != logging.NOTSET and level <= logging.INFO:
        return True
    return any(a in ("-v", "-vv", "--verbose") for a in sys.argv[1:])


def _is_cli_flow(exc: BaseException) -> bool:
    """Click's own exceptions (usage errors, Exit, Abort), whichever copy of Click raised them.

    Typer ships its own copy of Click (``typer._click``), so the classes are matched by name.
    """
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"ClickException", "Exit", "Abort"})


def _command_name(ctx: Any) -> str:
    """The command words of this command line (``encore analytics genres``)."""
    path = str(getattr(ctx, "command_path", "") or "encore")
    sub = getattr(ctx, "invoked_subcommand", None)
    return f"{path} {sub}" if sub else path


_typer_display_type = TyperOption.display_type_rich


def _display_type(self: TyperOption, ctx: Any) -> str | None:
    """The value column of an option in ``--help``: none for a flag (``--explain``,
    ``--no-explain``, ``-v``, ``--help`` take no value; Typer's own shows ``<bool>`` and
    ``<int>``, which read as if they did); Typer's otherwise (``<table|csv|json>`` for
    choices, ``<int>``, ``<path>``)."""
    if self.is_flag or self.count:
        return None
    return _typer_display_type(self, ctx)


TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]


def _tidy_usage_error(exc: BaseException) -> None:
    """Drop the ``Value error, `` prefix Pydantic's validation gives a bad value's message
    (Typer checks values with it): ``--format yaml`` reads "Invalid value for '--format' /
    '-f': 'yaml' is not one of 'table', 'csv', 'json'."."""
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message.startswith("Value error, "):
        exc.message = message.removeprefix("Value error, ")  # type: ignore[attr-defined]


class EncoreGroup(TyperGroup):
    """The CLI's error edge: every failure becomes one message and a documented exit code.

    - :class:`EncoreError`: its message, hint and exit code (64-70, see ``errors.py``);
    - Ctrl-C: "interrupted" and exit 130 (an ingest in progress is rolled back);
    - :class:`OSError` (disk full, permission denied): the system's message, exit 74;
    - anything else is a bug: one line naming the command and asking for a report, exit 70;
      the traceback only with ``-v``.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            _tidy_usage_error(exc)  # this group's own options (``encore --format yaml info``)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EncoreError as exc:
            # soft_wrap: paths and ids in the message stay whole (the terminal folds lines)
            err_console.print(
                f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True
            )
            if exc.hint:
                err_console.print(
                    f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True
                )
            raise typer.Exit(exc.exit_code) from exc
        except KeyboardInterrupt as exc:
            err_console.print(
                f"[bold red]interrupted:[/] {_command_name(ctx)} stopped; nothing it was writing "
                "was committed",
                highlight=False,
            )
            raise typer.Exit(EXIT_INTERRUPTED) from exc
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            err_console.print(
                f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}",
                highlight=False,
            )
            raise typer.Exit(EXIT_IO) from exc
        except Exception as exc:
            if _is_cli_flow(exc):
                _tidy_usage_error(exc)  # a command's options (``encore info --format yaml``)
                raise  # usage errors, --help, typer.Exit: the CLI parser reports them itself
            missing = _missing_table(exc)
            if missing is not None:
                # a reader (opened read-only, so never migrated) of a store an older Encore
                # wrote: the table came with a later schema version
                err_console.print(
                    f"[bold red]error:[/] the store has no table {escape(missing)}: it was "
                    "written by an older Encore, and this command only reads it",
                    highlight=False,
                )
                err_console.print(
                    "[yellow]hint:[/] any command that writes to the store upgrades it in "
                    "place (e.g. `encore moods compute`, `encore catalogue resolve` or an "
                    "ingest); then run this one again",
                    highlight=False,
                )
                raise typer.Exit(SchemaError.exit_code) from exc
            if _verbose():
                err_console.print_exception(show_locals=False)
            text = str(exc).splitlines()[0] if str(exc) else ""
            err_console.print(
                f"[bold red]internal error in {_command_name(ctx)}:[/] "
                f"{type(exc).__name__}{': ' + escape(text[:300]) if text else ''}. "
                "This is a bug in Encore: please report it with the command you ran"
                + ("" if _verbose() else " and the traceback that -v prints"),
                highlight=False,
            )
            raise typer.Exit(EXIT_BUG) from exc


def _missing_table(exc: BaseException) -> str | None:
    """The table a DuckDB catalog error says does not exist, else None."""
    import re

    import duckdb

    if not isinstance(exc, duckdb.CatalogException):
        return None
    found = re.search(r"Table with name (\S+) does not exist", str(exc))
    return found.group(1) if found else None


def parse_value(raw: str) -> Any:
    """A ``--param`` value: numbers, true/false and none/null as such, else the text."""
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
