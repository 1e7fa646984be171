"""Commands of the recommenders area: ``encore recommend`` and ``encore train``.

Both are thin: they parse options and call :mod:`encore.recommenders.recommend`, which the
demos call too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from encore.cli.common import (
    DbOpt,
    FormatOpt,
    LevelOpt,
    OutputFormat,
    State,
    VerboseOpt,
    WeightingOpt,
    console,
    emit,
    err_console,
    parse_value,
    state,
    with_state,
)
from encore.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add ``recommend``, ``why`` and ``train`` to the main app."""
    app.command("recommend")(recommend_cmd)
    app.command("why")(why_cmd)
    app.command("train")(train_cmd)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs of ``--param`` as a config dict."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param must look like FIELD=VALUE, not {item!r}")
        params[key.strip()] = parse_value(raw.strip())
    return params


@with_state
def why_cmd(
    st: State,
    user: Annotated[str, typer.Argument(help="User id, e.g. lh:user_05 or me.")],
    track: Annotated[
        str, typer.Argument(help="Track: an item_id of `encore recommend`, or its exact title.")
    ],
    n: Annotated[
        int, typer.Option("-n", "--n", min=1, help="Length of the list asked about.")
    ] = 10,
    model_file: Annotated[
        Path | None,
        typer.Option("--model-file", help="Use a for_you model saved with `encore train`."),
    ] = None,
) -> None:
    """Why would this track be recommended to this user (for_you's reason, or why not)?

    The same candidates, ranking and reasons as `encore recommend USER --explain`, for one
    track: its rank in the list of -n, or, when it is not there, the source that brings it
    up and where the ranker puts it among the listener's candidates; a song the listener
    already played (under any source's id), an anonymous track, or one no source brings up
    is said so.
    """
    from encore.data.store import Store
    from encore.recommenders import recommend as rec
    from encore.recommenders.for_you import ForYou
    from encore.recommenders.why import resolve_track, why

    with Store(st.db, read_only=True) as store:
        rec.resolve_user(store, user)  # before any fitting
        resolve_track(store, track)
        with err_console.status("getting for_you ready"):
            loaded = rec.get_model_for(
                store, st.db, rec.DEFAULT_TRACK_MODEL, level="track", model_path=model_file
            )
        for note in loaded.notes:
            err_console.print(f"[dim]{note}[/]")
        if not isinstance(loaded.model, ForYou):
            raise ConfigError(
                f"{model_file} is not a for_you model: `encore why` explains for_you's list",
                hint="give a file saved by `encore train --model for_you`",
            )
        answer = why(store, loaded.model, user, track, n)
    record = answer.as_dict()
    if st.fmt is OutputFormat.table:  # one answer: read down, not across
        shown = {
            k: "" if v is None else f"{v:,}" if isinstance(v, int) else v for k, v in record.items()
        }
        emit(
            pd.DataFrame({"": list(shown), "answer": list(shown.values())}),
            st.fmt,
            title=f"Why {answer.track} for {answer.user_id}?",
        )
    else:
        emit(record, st.fmt)


def recommend_cmd(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Argument(help="User id, e.g. lh:user_05 (omit with --all-users).")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="How many recommendations.")] = 10,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model name (default: for_you at track level, item_knn otherwise; "
            "see `encore evaluate`).",
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Source(s) to fit on (default: the whole store).")
    ] = None,
    level: LevelOpt = "track",
    weighting: WeightingOpt = "log1p",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Model setting FIELD=VALUE (repeatable).")
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain/--no-explain",
            help="Say why each item is recommended (default: on for for_you).",
        ),
    ] = False,
    new_artists_only: Annotated[
        bool,
        typer.Option("--new-artists-only", help="Only artists you never played (for_you)."),
    ] = False,
    max_per_artist: Annotated[
        int, typer.Option("--max-per-artist", help="At most this many tracks per artist (for_you).")
    ] = 2,
    discovery: Annotated[
        float | None,
        typer.Option(
            "--discovery",
            help="Share of the list for artists you never played, 0 to 1 (for_you; default 0.4).",
        ),
    ] = None,
    mood: Annotated[
        str | None,
        typer.Option(
            "--mood",
            # checked by text.mood.check_mood (any case; exit 64 naming the moods)
            metavar="<happy|angry|sad|calm>",
            help="Only tracks of this mood (needs `encore moods compute`).",
        ),
    ] = None,
    all_users: Annotated[
        bool, typer.Option("--all-users", help="Recommend for every user in one batch.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to FILE.csv or FILE.parquet (with --all-users)."),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option("--model-file", help="Use a model saved with --save or `encore train`."),
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="Save the model used to this .npz file.")
    ] = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Recommend new items for a user (or all users) with name, artist, genre and a reason.

    At track level the default model, for_you, returns only named tracks new to the
    listener (under any source's id), at most --max-per-artist per artist, 40 % of them by
    artists the listener never played. A model saved by `encore train` answers in about a
    second; the user's current events are folded in, so a listener who ingested after
    training is recommended for too.

    The table is in the model's order: the rank and the reason say why a track is there.
    It shows no score: a model's score only orders its own list (for_you's ranker gives
    most picks a negative one, which does not mean a bad match, and scores of different
    models do not compare). --format csv/json and the HTTP API give it as raw_score
    (score holds the same number, the name earlier versions used).
    """
    from encore.data.store import Store
    from encore.recommenders import recommend as rec

    st = state(ctx, db, fmt, verbose)
    if n < 1:
        raise ConfigError(f"-n must be positive, not {n}")
    if max_per_artist < 1:
        raise ConfigError(f"--max-per-artist must be positive, not {max_per_artist}")
    if all_users == (user is not None):
        raise ConfigError("give a USER or --all-users (not both)")
    if mood is not None and all_users:
        raise ConfigError("--mood applies to one USER's list, not --all-users")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"--out must end in .csv or .parquet, not {out.name!r}")
    params = parse_params(param)
    name = model or rec.default_model(level)
    started = time.perf_counter()
    with Store(st.db, read_only=True) as store:
        if user is not None:
            user = rec.resolve_user(store, user)  # before any fitting
        if mood is not None:  # a bad mood, or a store without moods: before any fitting
            from encore.text import mood as moodlib

            if level != "track":
                raise ConfigError("--mood applies to track-level recommendations")
            moodlib.check_mood(store, mood)
        with err_console.status(
            f"loading {name}" if model_file is not None else f"getting {name} ready"
        ):
            loaded = rec.get_model_for(
                store,
                st.db,
                name,
                level=level,
                data=data,
                weighting=weighting,
                params=params,
                model_path=model_file,
            )
        for note in loaded.notes:
            err_console.print(f"[dim]{note}[/]")
        if save is not None:
            err_console.print(f"saved {loaded.model.save(save)}")
        if all_users:
            with err_console.status("recommending for every user"):
                table = rec.recommend_all(store, loaded.model, n, level=level)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.suffix.lower() == ".parquet":
                    table.to_parquet(out, index=False)
                else:
                    table.to_csv(out, index=False)
                console.print(
                    f"wrote {len(table):,} recommendations for "
                    f"{table['user_id'].nunique():,} users to {out}"
                )
            else:
                emit(rec.for_people(table) if st.fmt is OutputFormat.table else table, st.fmt)
            return
        assert user is not None
        answer = rec.recommend_for_user(
            store,
            loaded.model,
            user,
            n,
            explain=explain or name == rec.DEFAULT_TRACK_MODEL,
            level=level,
            weighting=weighting,
            new_artists_only=new_artists_only,
            max_per_artist=max_per_artist,
            discovery_share=discovery,
            mood=mood,
        )
    for note in answer.notes:
        err_console.print(f"[dim]{note}[/]")
    table = answer.table
    if answer.level == "artist" and "artist" in table:
        table = table.drop(columns="artist")
    if table.empty and st.fmt is OutputFormat.table:
        err_console.print(f"no tracks to recommend to {answer.user_id}: see the notes above")
    else:
        shown = rec.for_people(table) if st.fmt is OutputFormat.table else table
        emit(shown, st.fmt, title=f"{answer.model} recommendations for {answer.user_id}")
    err_console.print(
        f"[dim]{loaded.how} {answer.model} and answered in {time.perf_counter() - started:.2f} s[/]"
    )


def train_cmd(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="Model(s) to train (repeatable; default: for_you, plus item_knn when "
            "--level is not track).",
        ),
    ] = None,
    level: LevelOpt = "track",
    data: Annotated[
        str | None, typer.Option("--data", help="Source(s) CF models fit on (default: all).")
    ] = None,
    weighting: WeightingOpt = "log1p",
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Fit models on the store and save them beside it (<store>.models/), for fast answers.

    `encore recommend` then loads them instead of refitting, and folds in each user's
    current events.
    """
    from encore.data.store import Store
    from encore.recommenders import recommend as rec

    st = state(ctx, db, fmt, verbose)
    names = list(model or [rec.default_model(level)])
    with (
        Store(st.db, read_only=True) as store,
        err_console.status(f"training {', '.join(names)} on {st.db}"),
    ):
        done = rec.train(
            store,
            st.db,
            names,
            level=level,
            data=data,
            weighting=weighting,
            show_progress=verbose > 0,
        )
    for name, path, seconds in done:
        console.print(f"trained {name} in {seconds:.1f} s -> {path}")
