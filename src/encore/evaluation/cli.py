"""Commands of the evaluation area: ``encore evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from encore.cli.common import (
    DbOpt,
    FormatOpt,
    LevelOpt,
    OutputFormat,
    VerboseOpt,
    WeightingOpt,
    console,
    emit,
    err_console,
    parse_value,
    state,
)
from encore.errors import ConfigError

if TYPE_CHECKING:
    pass


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the main app (``recommend`` lives in :mod:`encore.recommenders.cli`)."""
    app.command("evaluate")(evaluate_cmd)
    app.command("evaluate-listeners")(evaluate_listeners_cmd)


def parse_ks(text: str) -> list[int]:
    """``"10"`` or ``"10,20,50"`` -> sorted distinct positive ints.

    Raises
    ------
    ConfigError
        For anything else.
    """
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"--k must be integers separated by commas, not {text!r}") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k must be positive, not {text!r}")
    return ks


def parse_params(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["ease.l2=500", "als.factors=64"]`` -> ``{"ease": {"l2": 500.0}, "als": {"factors": 64}}``.

    Raises
    ------
    ConfigError
        For an item that is not ``MODEL.FIELD=VALUE``.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        model, dot, fieldname = key.partition(".")
        if not sep or not dot or not model or not fieldname:
            raise ConfigError(f"--param must look like MODEL.FIELD=VALUE, not {item!r}")
        out.setdefault(model.strip(), {})[fieldname.strip()] = parse_value(raw.strip())
    return out


def evaluate_cmd(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Source(s) in the store (e.g. hetrec2011, jodie), listening-histories, or all.",
        ),
    ] = None,
    level: LevelOpt = "track",
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="global-time, last-n, user-time (each user's own last share by time), random, "
            "or auto (global-time when the data has times).",
        ),
    ] = "auto",
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="all, or model names separated by commas; the baselines popular, "
            "recent_popular and item_knn are always added, to compare against.",
        ),
    ] = "all",
    k: Annotated[str, typer.Option("--k", help="Cut-off(s), e.g. 10 or 10,20,50,100.")] = "10",
    test_fraction: Annotated[
        float,
        typer.Option("--test-fraction", help="Share held out (global-time, user-time, random)."),
    ] = 0.2,
    last_n: Annotated[int, typer.Option("--n", help="Items per user held out by last-n.")] = 1,
    weighting: WeightingOpt = "log1p",
    min_user: Annotated[int, typer.Option("--min-user", help="Minimum items per train user.")] = 1,
    min_item: Annotated[int, typer.Option("--min-item", help="Minimum users per train item.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of random splits and models.")] = 0,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune", help="Grid-search each model on a validation split carved from train."
        ),
    ] = False,
    trials: Annotated[
        int, typer.Option("--trials", help="Most configs tried per model with --tune.")
    ] = 8,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Model setting MODEL.FIELD=VALUE (repeatable)."),
    ] = None,
    train_file: Annotated[
        Path | None,
        typer.Option(
            "--train", help="Train file made elsewhere (CSV/Parquet: user, item, weight, time)."
        ),
    ] = None,
    test_file: Annotated[
        Path | None, typer.Option("--test", help="Test file made elsewhere (with --train).")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="new: the next new items (those a user had in train are neither ranked nor "
            "relevant); play: the next plays, repeats allowed; first-new: each user's first new "
            "item after the cut-off only; next-new: every next new item, from everything the user "
            "did before it (time splits).",
        ),
    ] = "new",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the report (default out/evaluate/DATA-LEVEL-SPLIT)."
        ),
    ] = None,
    save_split: Annotated[
        Path | None,
        typer.Option(
            "--save-split",
            help="Also write the split as DIR/train.csv and DIR/test.csv (weights as the models "
            "saw them), to rerun or share: --train DIR/train.csv --test DIR/test.csv "
            "--weighting plays.",
        ),
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Fit each model on a train split, score it on the test split, write a comparison.

    Writes comparison.md/.csv/.json, per_user.csv and comparison.png/.html to --out.
    """
    from encore.data.catalogue import item_info
    from encore.evaluation import runner
    from encore.evaluation.report import (
        report_table,
        small_sample_note,
        summary_columns,
        write_report,
    )
    from encore.evaluation.splits import given_split

    st = state(ctx, db, fmt, verbose)
    runner.check_task(task)
    ks = parse_ks(k)
    configs = parse_params(param)
    genres = None
    if (train_file is None) != (test_file is None):
        raise ConfigError("give both --train and --test, or neither")
    with err_console.status("splitting") as status:
        if train_file is not None and test_file is not None:
            if data is not None:
                raise ConfigError("--data and --train/--test exclude each other")
            sp = given_split(train_file, test_file, weighting=weighting)
            name = train_file.stem
        else:
            from encore.data.store import Store

            with Store(st.db, read_only=True) as store:
                sel = runner.select_data(store, data)
                name = sel.name
                sp = runner.split_store(
                    store,
                    level=level,
                    method=split,
                    source=sel.sources,
                    users=sel.users,
                    weighting=weighting,
                    test_fraction=test_fraction,
                    n=last_n,
                    seed=seed,
                    min_user_interactions=min_user,
                    min_item_interactions=min_item,
                    keep_seen=task == "play",
                )
                info = item_info(store, level, sp.train["item_id"].unique())
                genres = info["genre"].dropna()
        if save_split is not None:
            from encore.evaluation.splits import save_split as write_split

            for path in write_split(sp, save_split):
                err_console.print(f"wrote {path}", soft_wrap=True)
        comparison = runner.evaluate_models(
            sp,
            models,
            ks=ks,
            level=level,
            data_name=name,
            configs=configs,
            tune=tune,
            tune_trials=trials,
            item_genres=genres,
            seed=seed,
            progress=lambda m: status.update(m),
            task=task,
        )
        status.update("writing the report")
        suffix = "" if task == "new" else f"-{task}"
        out_dir = out or Path("out") / "evaluate" / f"{name}-{level}-{sp.method}{suffix}".replace(
            ",", "+"
        )
        paths = write_report(comparison, out_dir)
    table = report_table(comparison)
    note = small_sample_note(comparison)
    main = comparison.main_metric
    if main in table.columns:
        table = table.sort_values(main, ascending=False, na_position="last")
    cols = [c for c in summary_columns(comparison) if c in table.columns]
    if st.fmt is OutputFormat.table:
        k0 = min(ks)
        short = [
            "model",
            f"ndcg@{k0}",
            f"recall@{k0}",
            f"map@{k0}",
            f"hit_rate@{k0}",
            f"coverage@{k0}",
            "fit_s",
            "recommend_s",
            "significant",
        ]
        cols = [c for c in short if c in table.columns and table[c].notna().any()]
        err_console.print(f"[dim]{sp.description}[/]")
        emit(table[cols], st.fmt, title=f"{name} ({level}s), {main}")
        if "significant" in cols:
            best = comparison.best(main).name
            console.print(
                f"significant: differs from {best} on {main} (paired bootstrap over users, 95% interval)"
            )
        if note is not None:
            console.print(note)
        for p in paths:
            console.print(f"wrote {p}")
    else:
        if note is not None:
            err_console.print(note)
        emit(table, st.fmt)


def evaluate_listeners_cmd(
    ctx: typer.Context,
    fraction: Annotated[
        float,
        typer.Option("--fraction", help="Each listener's cut, as a share of their history."),
    ] = 0.8,
    k: Annotated[int, typer.Option("-k", "--k", help="List length.")] = 20,
    max_per_artist: Annotated[
        int, typer.Option("--max-per-artist", help="At most this many tracks per artist.")
    ] = 2,
    min_events: Annotated[
        int, typer.Option("--min-events", help="Listeners with fewer named plays are left out.")
    ] = 50,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write Markdown/CSV/JSON and charts here.")
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Score what listeners would have been recommended against what they went on to play.

    Each listener's history is cut at their own --fraction point; the recommender (sources
    and ranker) learns only from what lies before the cuts. Rows: popularity, each candidate
    source alone, and for_you.
    """
    from encore.data.store import Store
    from encore.evaluation.listeners import evaluate_listeners, write_listener_report

    st = state(ctx, db, fmt, verbose)
    if not 0 < fraction < 1:
        raise ConfigError(f"--fraction must be between 0 and 1, not {fraction}")
    if k < 1 or max_per_artist < 1:
        raise ConfigError("-k and --max-per-artist must be positive")
    with (
        Store(st.db, read_only=True) as store,
        err_console.status("training on the listeners' earlier events and scoring them"),
    ):
        report = evaluate_listeners(
            store, fraction=fraction, k=k, max_per_artist=max_per_artist, min_events=min_events
        )
    emit(report.summary(), st.fmt, title=f"{report.n_users} listeners, k={k}")
    if out is not None:
        for path in write_listener_report(report, out):
            console.print(f"wrote {path}")
