"""``encore mood TRACK``, ``encore moods compute|evaluate|chart``, ``encore lyrics summarize|evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from encore.cli.common import (
    OutputFormat,
    State,
    console,
    emit,
    err_console,
    say_written,
    sub_app,
    to_json,
    with_state,
    write_csvs,
)
from encore.errors import ConfigError, DataError

moods_app = sub_app(
    "Track moods (happy / angry / sad / calm) from sound and words: compute, evaluate, chart."
)
lyrics_app = sub_app("Lyrics: chorus-aware extractive summaries and their evaluation.")


def register(app: typer.Typer) -> None:
    """Add ``mood``, ``moods`` and ``lyrics`` to the main app."""
    app.command("mood")(mood_cmd)
    app.add_typer(moods_app, name="moods")
    app.add_typer(lyrics_app, name="lyrics")


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


@with_state
def mood_cmd(
    st: State,
    track: Annotated[str, typer.Argument(help="Track id, 'artist - title', or a title.")],
) -> None:
    """The mood quadrant of a track with the evidence from sound and from words."""
    from encore.data.catalogue import item_info
    from encore.data.store import Store
    from encore.text import mood as moodlib

    with Store(st.db, read_only=True) as store:
        track_id = moodlib.resolve_track(store, track)
        with err_console.status("reading the evidence"):
            row = moodlib.mood_of(store, track_id, st.db)
        info = item_info(store, "track", [track_id])
    name = f"{info.loc[track_id, 'name']!s} - {info.loc[track_id, 'artist']!s}"
    lines = row.pop("lines", {})
    if st.fmt is not OutputFormat.table:
        emit({"track": name, **row, **{f"line ({k})": v for k, v in lines.items()}}, st.fmt)
        return
    console.print(
        f"[bold]{name}[/] (id {track_id}): [bold]{row['mood']}[/] "
        f"(basis {row['basis']}, confidence {row['confidence']:.2f}; "
        f"valence {_num(row['valence'])}, arousal {_num(row['arousal'])})"
    )

    def has(key: str) -> bool:  # a value, not None or NaN (the row comes from a frame)
        value = row.get(key)
        return value is not None and bool(pd.notna(value))

    evidence = pd.DataFrame(
        [
            {
                "side": "sound (audio features)",
                "quadrant": row.get("audio_mood") if has("audio_mood") else "-",
                "valence": _num(row.get("audio_valence")),
                "arousal": _num(row.get("audio_arousal")),
                "detail": "valence and energy" if has("audio_mood") else "no audio features",
            },
            {
                "side": "words (lyrics)",
                "quadrant": row.get("lyrics_mood") if has("lyrics_mood") else "-",
                "valence": _num(row.get("lyrics_valence")),
                "arousal": _num(row.get("lyrics_arousal")),
                "detail": f"VADER compound {_num(row.get('vader'))}"
                if has("vader")
                else "no lyrics",
            },
        ]
    )
    emit(evidence, st.fmt, title="Evidence")
    for kind, text in lines.items():
        console.print(f"[dim]{kind} line:[/] {text}")
    if row.get("disagreement"):
        console.print(f"[yellow]words and sound disagree:[/] {row['disagreement']}")


@moods_app.command("compute")
@with_state
def compute_cmd(
    st: State,
    refit: Annotated[
        bool, typer.Option("--refit", help="Refit the lyrics model even if one is saved.")
    ] = False,
    lyrics_model: Annotated[
        Path | None,
        typer.Option(
            "--lyrics-model",
            help="A lyrics mood model saved by another store's `moods compute` "
            "(<store>.models/lyrics-mood.npz).",
        ),
    ] = None,
) -> None:
    """Compute every track's mood (audio features, lyrics, or both) into the store.

    The lyrics model (sentence embedding + VADER, ridge on audio valence and energy) is
    fitted on the store's tracks that have both lyrics and audio features, and saved beside
    the store; embedding the 4,600 tcc_ceds lyrics takes a few minutes on 2 cores.
    """
    from encore.data.store import Store
    from encore.text import mood as moodlib

    with Store(st.db) as store, err_console.status("computing moods") as status:
        rows = moodlib.compute_moods(
            store, st.db, refit=refit, model_file=lyrics_model, progress=status.update
        )
    summary = (
        rows.groupby(["basis", "mood"]).size().rename("tracks").reset_index()
        if not rows.empty
        else pd.DataFrame(columns=["basis", "mood", "tracks"])
    )
    emit(summary, st.fmt, title=f"Moods of {len(rows):,} tracks")
    if st.fmt is OutputFormat.table:
        dis = rows["disagreement"].value_counts()
        for what, n in dis.items():
            err_console.print(f"[dim]{n:,} tracks: {what}[/]")
    for note in rows.attrs.get("notes", []):
        err_console.print(f"[dim]{note}[/]")


@moods_app.command("evaluate")
@with_state
def evaluate_cmd(
    st: State,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most this many lyrics (seeded sample; default all)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the tables as CSV and JSON.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Folds and sampling seed.")] = 0,
) -> None:
    """Cross-validate mood from sound (spotify_moods labels) and from words (tcc valence)."""
    from encore.data.store import Store
    from encore.text import evaluate as ev

    tables: dict[str, pd.DataFrame] = {}
    with Store(st.db, read_only=True) as store, err_console.status("mood from sound") as status:
        tables["sound"] = ev.evaluate_audio_mood(store, seed=seed)
        status.update("mood from words")
        tables["words"], tables["quadrants"] = ev.evaluate_lyrics_mood(
            store, limit=limit, seed=seed, progress=status.update
        )
    _emit_tables(tables, st.fmt, out)


def _emit_tables(tables: dict[str, pd.DataFrame], fmt: OutputFormat, out: Path | None) -> None:
    if fmt is OutputFormat.json:
        payload = {
            k: {"rows": json_rows(v), "notes": {a: _plain(b) for a, b in v.attrs.items()}}
            for k, v in tables.items()
        }
        typer.echo(to_json(payload))
    else:
        for key, table in tables.items():
            notes = ", ".join(f"{a}: {_plain(b)}" for a, b in table.attrs.items())
            emit(table, fmt, title=f"{key} ({notes})" if notes else key)
    if out is not None:
        write_csvs(out, tables)
        err_console.print(f"wrote {', '.join(f'{k}.csv' for k in tables)} to {out}")


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-able records."""
    import json

    return list(json.loads(to_json(frame)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value.item() if hasattr(value, "item") else value


@moods_app.command("chart")
@with_state
def chart_cmd(
    st: State,
    user: Annotated[str | None, typer.Argument(help="User id (default: every listener).")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start of the window (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End of the window (YYYY-MM-DD, exclusive).")
    ] = None,
    chart: Annotated[
        list[Path] | None,
        typer.Option("--chart", help="Write the chart to FILE.png or FILE.html (repeatable)."),
    ] = None,
) -> None:
    """The mood of what a listener played, by month (needs `encore moods compute`)."""
    from encore.analytics.window import parse_when
    from encore.data.store import Store
    from encore.text.charts import mood_by_month, save_mood_chart

    lo = parse_when(start, option="--from")[0] if start else None
    hi = parse_when(end, option="--to")[0] if end else None
    with Store(st.db, read_only=True) as store:
        if not store.scalar("SELECT count(*) FROM track_moods"):
            raise DataError("no track has a mood yet", hint="run `encore moods compute` first")
        if user is not None:
            from encore.recommenders.recommend import resolve_user

            user = resolve_user(store, user)
        frame = mood_by_month(store, user, start=lo, end=hi)
    emit(frame, st.fmt, title=f"Mood by month: {frame.attrs['user']}")
    say_written((save_mood_chart(frame, path) for path in chart or []), stderr=True)


def _read_text(store: Any, track: str | None, file: Path | None) -> tuple[str, str]:
    if (track is None) == (file is None):
        raise ConfigError("give a TRACK or --file (one of them)")
    if file is not None:
        if not file.exists():
            raise DataError("no such file", file=str(file))
        try:
            return file.read_text(encoding="utf-8"), str(file)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"not UTF-8 text (byte {exc.start})", file=str(file), hint="save it as UTF-8"
            ) from exc
    from encore.text import mood as moodlib

    assert track is not None
    track_id = moodlib.resolve_track(store, track)
    lyr = moodlib.lyrics_of(store, [track_id])
    if lyr.empty:
        raise DataError(
            f"track {track_id} has no lyrics in the store",
            hint="ingest billboard_lyrics or tcc_ceds, or pass --file",
        )
    return str(lyr["text"].iloc[0]), f"track {track_id}"


@lyrics_app.command("summarize")
@with_state
def summarize_cmd(
    st: State,
    track: Annotated[
        str | None, typer.Argument(help="Track id, 'artist - title', or a title.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A lyrics text file.")] = None,
    words: Annotated[
        int | None, typer.Option("--words", help="Target length in words (default: --ratio).")
    ] = None,
    ratio: Annotated[
        float, typer.Option("--ratio", help="Target length as a share of the lyrics.")
    ] = 0.3,
    method: Annotated[
        str, typer.Option("--method", help="chorus (default), textrank or first (baselines).")
    ] = "chorus",
) -> None:
    """A chorus-aware extractive summary of a song's lyrics (chorus once + central lines)."""
    from encore.text.lyrics import summarize

    if file is not None and track is None:
        text, where = _read_text(None, None, file)
    else:
        from encore.data.store import Store

        with Store(st.db, read_only=True) as store:
            text, where = _read_text(store, track, file)
    with err_console.status("summarizing"):
        summary = summarize(text, max_words=words, ratio=ratio, method=method)
    if st.fmt is OutputFormat.table:
        chorus = summary.chorus
        console.print(
            f"[dim]{where}: {summary.words} of {summary.source_words} words "
            f"({summary.compression:.0%}); "
            + (f"chorus found, {chorus.count} times" if chorus else "no repeated section")
            + "[/]"
        )
        for unit, kind in zip(summary.units, summary.kinds, strict=True):
            console.print(f"[bold]{unit}[/]" if kind == "chorus" else unit)
        return
    frame = pd.DataFrame({"line": summary.units, "kind": summary.kinds})
    emit(frame, st.fmt)


@lyrics_app.command("evaluate")
@with_state
def lyrics_evaluate_cmd(
    st: State,
    limit: Annotated[
        int, typer.Option("--limit", help="tcc lyrics sampled for the topic proxy (seeded).")
    ] = 400,
    ratio: Annotated[float, typer.Option("--ratio", help="Target length share.")] = 0.3,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the tables as CSV.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Folds and sampling seed.")] = 0,
) -> None:
    """Summaries by proxy: topic agreement (tcc), compression, chorus retained, redundancy."""
    from encore.data.store import Store
    from encore.text import evaluate as ev

    tables: dict[str, pd.DataFrame] = {}
    with Store(st.db, read_only=True) as store, err_console.status("summaries") as status:
        tables["topic"] = ev.evaluate_summaries_topic(
            store, limit=limit, ratio=ratio, seed=seed, progress=status.update
        )
        verbatim = store.df("SELECT text FROM lyrics WHERE NOT processed ORDER BY track_id")
        if not verbatim.empty:
            status.update("verbatim lyrics")
            tables["verbatim"], _ = ev.summary_proxies(
                list(verbatim["text"]), ratio=ratio, progress=status.update
            )
    _emit_tables(tables, st.fmt, out)
