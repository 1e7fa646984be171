"""Commands of the genre area: ``encore genre train | evaluate | predict | resolve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from encore.cli.common import (
    OutputFormat,
    SeedOpt,
    State,
    emit,
    err_console,
    sub_app,
    with_state,
    write_csvs,
)
from encore.genre.saved import DEFAULT_DATASET, DEFAULT_MODEL, ENV

genre_app = sub_app("Predict the genre of tracks or artists whose genre is unknown.")

ModelDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        envvar=ENV,
        help="Where trained genre models are kept (default: beside the store, in "
        "<store>.models/genre/; a model found only in the shared <cache>/models/genre of "
        "earlier versions is read from there, with a note).",
        show_default=False,
    ),
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset", "-d", help="hetrec, histories, tcc_ceds, msd, all-artists or all-tracks."
    ),
]
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="majority, artist_prior, logreg, lightgbm or vae.")
]
GroupsOpt = Annotated[
    str | None,
    typer.Option(
        "--groups",
        help="Feature groups for logreg/lightgbm, comma separated: collab,text,meta.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``genre`` sub-app to the main app."""
    app.add_typer(genre_app, name="genre")


def _note(text: str) -> None:
    from rich.markup import escape

    err_console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _options(model: str, groups: str | None) -> dict[str, object]:
    from encore.errors import ConfigError

    if groups is None:
        return {}
    if model not in ("logreg", "lightgbm"):
        raise ConfigError("--groups applies to logreg and lightgbm only")
    return {"groups": tuple(g.strip() for g in groups.split(",") if g.strip())}


@genre_app.command("train")
@with_state
def train_cmd(
    st: State,
    model: ModelOpt = DEFAULT_MODEL,
    dataset: DatasetOpt = DEFAULT_DATASET,
    groups: GroupsOpt = None,
    seed: SeedOpt = 0,
    model_dir: ModelDirOpt = None,
    curve_dir: Annotated[
        Path | None,
        typer.Option("--curve-dir", help="Write the VAE training curve here.", show_default=False),
    ] = None,
) -> None:
    """Train a genre model on every labelled item of a dataset and save it beside the store
    (<store>.models/genre/<model>-<dataset>.npz), where predict and the API read it."""
    from encore.data.store import Store
    from encore.errors import ConfigError
    from encore.genre.base import make_model, model_path
    from encore.genre.features import load_genre_data
    from encore.genre.saved import fit_all, save_dir, store_dir

    if store_dir(st.db) is None:
        raise ConfigError(
            "an in-memory store has no folder beside it to keep a genre model in (and no "
            "data to train on)",
            hint="give --db a store file, e.g. the one `make demo` builds",
        )
    options = _options(model, groups)
    # an unknown name or option fails before any data is read
    make_model(model, seed=seed, **options)
    with Store(st.db, read_only=True) as store:
        data = load_genre_data(store, dataset)
    directory = save_dir(st.db, model_dir)  # before a fit of minutes, not after it
    with err_console.status(
        f"training {model} on {dataset} ({len(data.labelled):,} labelled items)"
    ):
        m = fit_all(data, model, seed=seed, **options)
    path = m.save(model_path(directory, model, dataset))
    outputs = [str(path)]
    save_curve = getattr(m, "save_curve", None)
    if save_curve is not None:
        outputs += [str(p) for p in save_curve(curve_dir or path.parent, stem=f"vae-{dataset}")]
    emit(
        {
            "model": model,
            "dataset": dataset,
            "level": data.level,
            "items": len(data),
            "labelled": len(data.labelled),
            "genres": len(m.classes_),
            "fit_seconds": round(m.fit_seconds_, 2),
            "saved": ", ".join(outputs),
        },
        st.fmt,
        title="Genre model trained",
    )


@genre_app.command("evaluate")
@with_state
def evaluate_cmd(
    st: State,
    dataset: DatasetOpt = "hetrec",
    split: Annotated[
        str, typer.Option("--split", help="artist (artist-disjoint) or time (by release year).")
    ] = "artist",
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated subset of the comparison (labels as in the table, or model names); "
            "default: all.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write charts and CSVs to this folder.", show_default=False),
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Compare baselines, classifiers and VAEs on an artist- or time-disjoint split."""
    from encore.data.store import Store
    from encore.errors import ConfigError
    from encore.genre.charts import confusion_chart, per_genre_chart
    from encore.genre.evaluate import DEFAULT_SPECS, evaluate
    from encore.genre.features import load_genre_data

    if split not in ("artist", "time"):
        raise ConfigError(f"unknown split {split!r}", hint="use 'artist' or 'time'")
    specs = list(DEFAULT_SPECS)
    if models:
        want = {w.strip() for w in models.split(",") if w.strip()}
        specs = [s for s in DEFAULT_SPECS if s.title in want or s.model in want]
        if not specs:
            raise ConfigError(
                f"no model matches {models!r}",
                hint="known: " + ", ".join(s.title for s in DEFAULT_SPECS),
            )
    with Store(st.db, read_only=True) as store:
        data = load_genre_data(store, dataset)
    with err_console.status(f"evaluating {len(specs)} models on {dataset} ({split} split)"):
        result = evaluate(data, specs, split=split, seed=seed)  # type: ignore[arg-type]
    table = result.table
    emit(table, st.fmt, title=f"Genre prediction on {dataset}, {split} split")
    if out is not None:
        tables = {
            f"genre-eval-{dataset}-{split}": table,
            f"genre-per-genre-{dataset}-{split}": result.per_genre(),
        }
        files = write_csvs(out, tables)
        best = str(table.sort_values(["macro_f1", "accuracy"]).iloc[-1]["model"])
        files += confusion_chart(result, best, out)
        files += per_genre_chart(result, list(dict.fromkeys([table["model"].iloc[0], best])), out)
        for title, m in result.models.items():
            save_curve = getattr(m, "save_curve", None)
            if save_curve is not None:
                files += save_curve(
                    out, stem=f"vae-{dataset}-{split}-{''.join(c for c in title if c.isalnum())}"
                )
        if st.fmt is OutputFormat.table:
            err_console.print("wrote " + ", ".join(str(f) for f in files))


@genre_app.command("predict")
@with_state
def predict_cmd(
    st: State,
    item_id: Annotated[
        int | None,
        typer.Argument(
            help="Track id in the store (an artist id for artist-level models such as hetrec).",
            show_default=False,
        ),
    ] = None,
    artist: Annotated[
        str | None, typer.Option("--artist", help="Artist name (item not in the store).")
    ] = None,
    album: Annotated[str | None, typer.Option("--album", help="Album title.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Track title.")] = None,
    year: Annotated[int | None, typer.Option("--year", help="Release year.")] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Duration in seconds.")
    ] = None,
    model: ModelOpt = DEFAULT_MODEL,
    dataset: DatasetOpt = DEFAULT_DATASET,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many genres to list.")] = 3,
    unlabelled: Annotated[
        bool,
        typer.Option(
            "--unlabelled", help="Predict every item of the dataset whose genre is unknown."
        ),
    ] = False,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Store top-1 predictions in predicted_genres (never for "
            "items with a known genre).",
        ),
    ] = False,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Treat --artist/--title as an item not in the store, even when one of that "
            "name is.",
        ),
    ] = False,
    model_dir: ModelDirOpt = None,
) -> None:
    """Ranked genres with probabilities for a track in the store or one described by name.

    Names of an artist (or track) the store has are predicted from its listeners, as its
    id would be; --new uses the names alone. The model is the one `encore genre train` saved
    beside the store (<store>.models/genre/).
    """
    from encore.data.store import Store
    from encore.errors import ConfigError
    from encore.genre.predict import (
        predict_new,
        predict_store_items,
        predict_store_named,
        unlabelled_ids,
        write_predictions,
    )
    from encore.genre.saved import load

    given_names = any(v is not None for v in (artist, album, title))
    if sum([item_id is not None, given_names, unlabelled]) != 1:
        raise ConfigError(
            "give exactly one of: an ITEM_ID, --artist/--album/--title, or --unlabelled"
        )
    m = load(st.db, model, dataset, model_dir, say=_note)
    if item_id is None and not unlabelled and not new and Path(st.db).exists():
        with Store(st.db, read_only=True) as store:
            named, frame = predict_store_named(
                store, m, artist=artist, album=album, title=title, k=k
            )
        if frame is not None:
            err_console.print(
                f"[dim]{title or artist} is in the store (id {named}): predicted from its "
                "listeners; --new treats the names as an item the store does not have[/]"
            )
            emit(frame, st.fmt, title="Predicted genres")
            return
    if item_id is None and not unlabelled:
        if write:
            raise ConfigError("--write needs items of the store (ITEM_ID or --unlabelled)")
        frame = predict_new(
            m,
            artist=artist,
            album=album,
            title=title,
            release_year=year,
            duration_ms=None if duration is None else duration * 1000,
            k=k,
        )
        emit(frame.drop(columns=["item_id"]), st.fmt, title="Predicted genres")
        return
    with Store(st.db, read_only=not write) as store:
        ids = [item_id] if item_id is not None else unlabelled_ids(store, dataset)
        frame = predict_store_items(store, m, ids, k=k)
        written = write_predictions(store, m, frame) if write else None
    emit(
        frame
        if item_id is not None or st.fmt is not OutputFormat.table
        else frame[frame["rank"] == 1],
        st.fmt,
        title="Predicted genres",
    )
    if written is not None:
        err_console.print(
            f"predicted_genres: {written['written']} written, "
            f"{written['skipped_known']} skipped (genre already known)"
        )


@genre_app.command("resolve")
@with_state
def resolve_cmd(
    st: State,
    model: ModelOpt = "logreg",
    no_predict: Annotated[
        bool,
        typer.Option(
            "--no-predict", help="Observed steps and minute estimates only (no genre model)."
        ),
    ] = False,
    seed: SeedOpt = 0,
) -> None:
    """Give every play a genre and minutes: match artists across sources, predict the rest,
    estimate durations; the analytics then count them, marked (see docs/coverage.md)."""
    from encore.data.resolve import coverage, resolve
    from encore.data.store import Store

    with Store(st.db) as store:
        with err_console.status("resolving genres") as status:
            report = resolve(
                store,
                predict=not no_predict,
                model=model,
                seed=seed,
                progress=lambda line: status.update(line),
            )
        cov = coverage(store)
    if st.fmt is OutputFormat.json:
        emit({**report, "coverage": cov["by_source"]}, st.fmt)
        return
    import pandas as pd

    emit(pd.DataFrame(report["steps"]), st.fmt, title="What each step adds (plays)")
    if st.fmt is OutputFormat.table:
        m = report.get("model") or {}
        if m.get("by_threshold"):
            emit(
                pd.DataFrame(m["by_threshold"]),
                st.fmt,
                title=f"Genre model ({m['model']}) on {m['test_artists']:,} held-out artists",
            )
        err = report["minutes"]
        if err.get("plays"):
            emit(
                pd.DataFrame(err["by_rule"]),
                st.fmt,
                title=f"Minute estimates on {err['plays']:,} full Spotify plays, own length "
                f"hidden: median abs. error {err['median_abs_error_min']} min",
            )
        from encore.data.cli import emit_play_coverage

        emit_play_coverage(cov["by_source"])  # in %, two tables that fit 80 columns
