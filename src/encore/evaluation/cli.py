"""Commands of the evaluation area: ``encore evaluate`` and ``encore recommend``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
from encore.errors import ConfigError, DataError, UnknownIdError

if TYPE_CHECKING:
    import pandas as pd

    from encore.data.store import Store
    from encore.recommenders.base import Recommender


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``recommend`` to the main app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("recommend")(recommend_cmd)


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
        out.setdefault(model.strip(), {})[fieldname.strip()] = _value(raw.strip())
    return out


def _value(raw: str) -> Any:
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


def evaluate_cmd(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Source(s) in the store (e.g. hetrec2011, jodie), listening-histories, or all.",
        ),
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="Item level: track, artist or album.")
    ] = "track",
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="global-time, last-n, user-time (each user's own last share by time), random, "
            "or auto (global-time when the data has times).",
        ),
    ] = "auto",
    models: Annotated[
        str, typer.Option("--models", help="all, or model names separated by commas.")
    ] = "all",
    k: Annotated[str, typer.Option("--k", help="Cut-off(s), e.g. 10 or 10,20,50,100.")] = "10",
    test_fraction: Annotated[
        float,
        typer.Option("--test-fraction", help="Share held out (global-time, user-time, random)."),
    ] = 0.2,
    last_n: Annotated[int, typer.Option("--n", help="Items per user held out by last-n.")] = 1,
    weighting: Annotated[
        str, typer.Option("--weighting", help="binary, plays, log1p, minutes, bm25 or tfidf.")
    ] = "log1p",
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
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the report (default out/evaluate/DATA-LEVEL-SPLIT)."
        ),
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Fit each model on a train split, score it on the test split, write a comparison.

    Writes comparison.md/.csv/.json, per_user.csv and comparison.png/.html to --out.
    """
    from encore.evaluation import runner
    from encore.evaluation.report import (
        report_table,
        small_sample_note,
        summary_columns,
        write_report,
    )
    from encore.evaluation.splits import given_split

    st = state(ctx, db, fmt, verbose)
    ks = parse_ks(k)
    configs = parse_params(param)
    genres = None
    if (train_file is None) != (test_file is None):
        raise ConfigError("give both --train and --test, or neither")
    with err_console.status("splitting") as status:
        if train_file is not None and test_file is not None:
            if data is not None:
                raise ConfigError("--data and --train/--test exclude each other")
            sp = given_split(train_file, test_file)
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
                )
                info = runner.item_info(store, level, sp.train["item_id"].unique())
                genres = info["genre"].dropna()
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
        )
        status.update("writing the report")
        out_dir = out or Path("out") / "evaluate" / f"{name}-{level}-{sp.method}".replace(",", "+")
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


def _fit_or_load(
    store: Store,
    *,
    model_name: str,
    model_file: Path | None,
    data: str | None,
    level: str,
    weighting: str,
    params: dict[str, Any],
) -> Recommender:
    from encore.data.dataset import InteractionDataset, build_interactions
    from encore.evaluation.runner import select_data
    from encore.recommenders.base import Recommender
    from encore.recommenders.registry import get_model

    if model_file is not None:
        return Recommender.load(model_file)
    sel = select_data(store, data)
    frame = build_interactions(
        store, level=level, weighting=weighting, source=sel.sources, users=sel.users
    )
    ds = InteractionDataset.from_interactions(frame, item_level=level)
    return get_model(model_name, **params).fit(ds)


def _names(store: Store, level: str, ids: Any) -> pd.DataFrame:
    from encore.evaluation.runner import item_info

    return item_info(store, level, ids)


def _label(info: pd.DataFrame, item: Any) -> str:
    if item in info.index:
        row = info.loc[item]
        name = str(row["name"])
        return (
            name
            if row["artist"] in (None, name) or str(row["artist"]) == "nan"
            else f"{name} - {row['artist']}"
        )
    return str(item)


def recommend_cmd(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Argument(help="User id, e.g. hetrec:2 (omit with --all-users).")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="How many recommendations.")] = 10,
    model: Annotated[
        str, typer.Option("--model", help="Model name (see `encore evaluate`).")
    ] = "item_knn",
    data: Annotated[
        str | None, typer.Option("--data", help="Source(s) to fit on (default: the whole store).")
    ] = None,
    level: Annotated[
        str, typer.Option("--level", help="Item level: track, artist or album.")
    ] = "track",
    weighting: Annotated[str, typer.Option("--weighting", help="Interaction weighting.")] = "log1p",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Model setting FIELD=VALUE (repeatable).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Name the user's items that contributed most.")
    ] = False,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Recommend for every user in one batch.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to FILE.csv or FILE.parquet (with --all-users)."),
    ] = None,
    model_file: Annotated[
        Path | None, typer.Option("--model-file", help="Use a model saved with --save (no refit).")
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="Save the fitted model to this .npz file.")
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Recommend new items for a user (or all users) with name, artist, genre and score.

    Users unseen by a saved model get recommendations from their events in the store
    without a refit (fold-in), for models that support it.
    """
    from encore.data.dataset import build_interactions
    from encore.data.store import Store

    st = state(ctx, db, fmt, verbose)
    if n < 1:
        raise ConfigError(f"-n must be positive, not {n}")
    if all_users == (user is not None):
        raise ConfigError("give a USER or --all-users (not both)")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"--out must end in .csv or .parquet, not {out.name!r}")
    params: dict[str, Any] = {}
    for item in param or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--param must look like FIELD=VALUE, not {item!r}")
        params[key.strip()] = _value(raw.strip())
    with Store(st.db, read_only=True) as store:
        with err_console.status(
            f"fitting {model}" if model_file is None else f"loading {model_file}"
        ):
            rec = _fit_or_load(
                store,
                model_name=model,
                model_file=model_file,
                data=data,
                level=level,
                weighting=weighting,
                params=params,
            )
        if save is not None:
            err_console.print(f"saved {rec.save(save)}")
        lvl = rec.item_level_ or level
        assert rec.user_map_ is not None
        if all_users:
            with err_console.status(f"recommending for {len(rec.user_map_):,} users"):
                recs = rec.recommend(rec.user_map_.external_ids, k=n)
            info = _names(store, lvl, recs["item_id"].unique())
            recs = recs.join(info, on="item_id")
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.suffix.lower() == ".parquet":
                    recs.to_parquet(out, index=False)
                else:
                    recs.to_csv(out, index=False)
                console.print(
                    f"wrote {len(recs):,} recommendations for {recs['user_id'].nunique():,} users to {out}"
                )
            else:
                emit(recs, st.fmt)
            return
        assert user is not None
        fold_in: pd.DataFrame | None = None
        if user in rec.user_map_:
            recs = rec.recommend([user], k=n)
        else:
            try:
                fold_in = build_interactions(store, level=lvl, weighting=weighting, users=[user])
            except DataError:
                known = store.scalar("SELECT source FROM users WHERE user_id = ?", [user])
                hint = (
                    f"{user} ({known}) has no {lvl}-level interactions; try --level artist"
                    if known is not None and lvl != "artist"
                    else f"{user} has no {lvl}-level interactions in the store"
                    if known is not None
                    else "no such user in the store (see `encore info`)"
                )
                raise UnknownIdError("user", [user], hint=hint) from None
            if not rec.supports_fold_in:
                raise ConfigError(
                    f"user {user!r} was not in {rec.name}'s fit data and {rec.name} cannot fold in new users",
                    hint="refit including the user, or use a model that supports fold-in",
                )
            recs = rec.recommend_for_interactions(fold_in.assign(user_id=user), k=n)
            err_console.print(
                f"[dim]{user} was unseen at fit time: folded in from {len(fold_in):,} interactions[/]"
            )
        ids = list(recs["item_id"])
        why: pd.DataFrame | None = None
        if explain:
            if not rec.supports_explain:
                raise ConfigError(
                    f"{rec.name} cannot explain its recommendations",
                    hint="try item_knn, ease or als",
                )
            why = (
                rec.explain(user, ids, n=3)
                if fold_in is None
                else rec.explain_interactions(fold_in, ids, n=3)
            )
            ids += list(why["contributor_item_id"])
        info = _names(store, lvl, ids)
    table = recs.join(info, on="item_id")[["rank", "item_id", "name", "artist", "genre", "score"]]
    if lvl == "artist":
        table = table.drop(columns="artist")
    if why is not None and len(why):
        because = (
            why.assign(
                label=[
                    f"{_label(info, c)} ({v:.3g})"
                    for c, v in zip(why["contributor_item_id"], why["contribution"], strict=True)
                ]
            )
            .groupby("item_id")["label"]
            .agg("; ".join)
        )
        table["because"] = table["item_id"].map(because).fillna("")
    emit(
        table,
        st.fmt,
        title=f"{model if model_file is None else rec.name} recommendations for {user}",
    )
