"""``encore analytics``: genre popularity, top tracks and artists per genre, genre trends.

Every command answers over a window (``--from``/``--to``, inclusive; default the last
365 days of data) and optional filters (``--source``, ``--country``, ``--segment``),
prints a table, CSV or JSON on stdout, notes (empty window, measure chosen, data span)
on stderr, and draws a chart with ``--chart FILE.png|FILE.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape

from encore.cli.common import (
    DbOpt,
    EncoreGroup,
    FormatOpt,
    OutputFormat,
    State,
    VerboseOpt,
    emit,
    err_console,
    state,
)
from encore.errors import ConfigError

analytics_app = typer.Typer(
    cls=EncoreGroup,
    help="Genre popularity, top tracks and artists per genre, and genre trends over any window.",
    no_args_is_help=True,
)

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="First day (YYYY-MM-DD) or instant (YYYY-MM-DDTHH:MM) of the window, inclusive. "
        "Default: 365 days before --to.",
        show_default=False,
    ),
]
ToOpt = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="Last day or instant of the window, inclusive. Default: the last play in the data.",
        show_default=False,
    ),
]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="Only this source (loader name, e.g. spotify_basic).")
]
CountryOpt = Annotated[
    str | None,
    typer.Option("--country", help="Only listeners from this country (ISO code or name)."),
]
SegmentOpt = Annotated[
    int | None,
    typer.Option("--segment", help="Only listeners of this segment (needs `encore segments fit`)."),
]
SegmentModelOpt = Annotated[
    str | None,
    typer.Option("--segment-model", help="Segment model name when the store holds several."),
]
UserOpt = Annotated[
    str | None,
    typer.Option("--user", help="Only this listener (a personal chart), e.g. lh:user_05 or me."),
]
SkipsOpt = Annotated[
    bool,
    typer.Option(
        "--include-skips", help="Count skipped plays as plays (they are always shown as skips)."
    ),
]
MeasureOpt = Annotated[
    str,
    typer.Option(
        "--measure",
        help="plays, tags (dated tag assignments, HetRec) or auto (tags only when the "
        "source has no plays).",
    ),
]
GenresBasisOpt = Annotated[
    str,
    typer.Option(
        "--genres",
        help="Which genres label plays: all (observed, else predicted at or above "
        "--min-probability; a basis column keeps them apart), observed (predicted ones "
        "count as unknown), predicted (only the plays whose genre is predicted) or "
        "catalogue (the track's or artist's own genre). The numbers from before `encore "
        "genre resolve`: --genres catalogue --minutes observed, on any store. On a store "
        "never resolved (ingested with --no-resolve) --genres observed --minutes observed "
        "gives them too; on a resolved store observed also counts the genres its observed "
        "steps found (same name or MusicBrainz id, credited artist, track genres).",
    ),
]
MinutesBasisOpt = Annotated[
    str,
    typer.Option(
        "--minutes",
        help="all (plays without a duration get an estimated one; estimated_minutes says "
        "how much) or observed (they add no minutes).",
    ),
]
MinProbabilityOpt = Annotated[
    float | None,
    typer.Option(
        "--min-probability",
        help="Lowest model probability at which a predicted genre counts (default 0.4); "
        "below it the play stays (unknown).",
        show_default=False,
    ),
]
ChartOpt = Annotated[
    Path | None,
    typer.Option(
        "--chart", help="Also draw a chart: FILE.png (static) or FILE.html (interactive)."
    ),
]
GenreOpt = Annotated[
    str | None, typer.Option("--genre", "-g", help="Only this genre (default: every genre).")
]
TopOpt = Annotated[int, typer.Option("-n", "--top", help="Rows per genre.")]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="duckdb (default) or spark: run the query with Apache Spark on the Parquet "
        "lake (--lake; `encore export events` writes it). Same answers.",
    ),
]
LakeOpt = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Read a Parquet lake instead of the store: a folder or an object-store URI "
        "(s3://bucket/prefix, gs://...; default with --engine spark: <store>.lake/).",
        show_default=False,
    ),
]
SparkConfOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--spark-conf",
        help="A Spark setting KEY=VALUE for --engine spark (repeatable; e.g. "
        "spark.hadoop.fs.s3a.endpoint=http://minio:9000); also ENCORE_SPARK_CONF.",
        show_default=False,
    ),
]
GroupOpt = Annotated[
    str | None,
    typer.Option(
        "--group",
        help="Answer inside each language, artist-country or (release) decade instead "
        "(needs `encore catalogue resolve`; plays without a value form (unknown)).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``analytics`` sub-app to the main app."""
    app.add_typer(analytics_app, name="analytics")


def _open(st: State, engine: str, lake: str | None, spark_conf: list[str] | None = None) -> Any:
    """The store an analytics command reads: the DuckDB file, or a lake (DuckDB or Spark)."""
    from encore.lake import ENGINES, default_lake

    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "spark":
        from encore.lake.spark import SparkLakeStore, parse_spark_conf, spark_session

        conf: dict[str, Any] = parse_spark_conf(spark_conf or [])
        where = lake if lake is not None else default_lake(st.db)
        return SparkLakeStore(where, spark_session(**conf) if conf else None)
    if spark_conf:
        raise ConfigError("--spark-conf is for --engine spark")
    if lake is not None:
        from encore.lake.store import open_lake

        return open_lake(lake)
    from encore.data.store import Store

    return Store(st.db, read_only=True)


def _run(
    st: State,
    what: str,
    *,
    start: str | None,
    end: str | None,
    source: str | None,
    country: str | None,
    user: str | None,
    segment: int | None,
    segment_model: str | None,
    include_skips: bool,
    measure: str,
    genres_basis: str,
    minutes_basis: str,
    min_probability: float | None,
    chart: Path | None,
    engine: str = "duckdb",
    lake: str | None = None,
    spark_conf: list[str] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    from encore.analytics import api

    if chart is not None and chart.suffix.lower() not in (".png", ".html"):
        # refused before any work, so no result is printed for a chart that cannot be drawn
        raise ConfigError(f"--chart {chart}: the file must end in .png or .html")
    with _open(st, engine, lake, spark_conf) as store:
        frame = api.run(
            store,
            what,
            start=start,
            end=end,
            source=source,
            country=country,
            user=user,
            segment=segment,
            segment_model=segment_model,
            include_skips=include_skips,
            measure=measure,
            genres_basis=genres_basis,
            minutes_basis=minutes_basis,
            min_probability=min_probability,
            **kwargs,
        )
    for note in frame.attrs.get("notes", []):
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if frame.attrs.get("empty") and st.fmt is OutputFormat.table:
        pass  # the note said it; an empty table would say nothing more
    else:
        shown = frame.copy()
        if "period" in shown:
            shown["period"] = shown["period"].dt.strftime("%Y-%m-%d")
        if st.fmt is OutputFormat.table and "share" in shown:
            shown["share"] = (shown["share"] * 100).round(2)
            shown = shown.rename(columns={"share": "share_%"})
        for name in ("minutes", "estimated_minutes"):
            if st.fmt is OutputFormat.table and name in shown:
                shown[name] = shown[name].round(1)
        emit(
            shown,
            st.fmt,
            title=f"{frame.attrs.get('what', what)} · {frame.attrs.get('window', '')}",
        )
    if chart is not None:
        from encore.analytics.charts import save_chart

        path = save_chart(frame, chart)
        err_console.print(f"chart written to {escape(str(path))}", highlight=False)
    return frame


def _command(what: str, params: dict[str, Any]) -> None:
    """Run analytics command ``what`` from its own parameters (the command's ``locals()``):
    the global options make the state, every other parameter goes to :func:`_run` by name."""
    args = dict(params)
    st = state(args.pop("ctx"), args.pop("db"), args.pop("fmt"), args.pop("verbose"))
    _run(st, what, **args)


@analytics_app.command("genres")
def genres_cmd(
    ctx: typer.Context,
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str, typer.Option("--by", help="Sort and share by plays or minutes.")] = "plays",
    source: SourceOpt = None,
    country: CountryOpt = None,
    user: UserOpt = None,
    segment: SegmentOpt = None,
    segment_model: SegmentModelOpt = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
    genres_basis: GenresBasisOpt = "all",
    minutes_basis: MinutesBasisOpt = "all",
    min_probability: MinProbabilityOpt = None,
    chart: ChartOpt = None,
    group: GroupOpt = None,
    engine: EngineOpt = "duckdb",
    lake: LakeOpt = None,
    spark_conf: SparkConfOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Genre popularity histogram: plays, minutes, skips and listeners per genre."""
    _command("genres", locals())


@analytics_app.command("top-tracks")
def top_tracks_cmd(
    ctx: typer.Context,
    n: TopOpt = 10,
    genre: GenreOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str, typer.Option("--by", help="Rank by plays or minutes.")] = "plays",
    source: SourceOpt = None,
    country: CountryOpt = None,
    user: UserOpt = None,
    segment: SegmentOpt = None,
    segment_model: SegmentModelOpt = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
    genres_basis: GenresBasisOpt = "all",
    minutes_basis: MinutesBasisOpt = "all",
    min_probability: MinProbabilityOpt = None,
    chart: ChartOpt = None,
    group: GroupOpt = None,
    engine: EngineOpt = "duckdb",
    lake: LakeOpt = None,
    spark_conf: SparkConfOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Top-N tracks inside each genre (or one genre); ties broken deterministically."""
    _command("top-tracks", locals())


@analytics_app.command("top-artists")
def top_artists_cmd(
    ctx: typer.Context,
    n: TopOpt = 10,
    genre: GenreOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="Rank by plays, minutes or listeners (distinct users).")
    ] = "plays",
    source: SourceOpt = None,
    country: CountryOpt = None,
    user: UserOpt = None,
    segment: SegmentOpt = None,
    segment_model: SegmentModelOpt = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
    genres_basis: GenresBasisOpt = "all",
    minutes_basis: MinutesBasisOpt = "all",
    min_probability: MinProbabilityOpt = None,
    chart: ChartOpt = None,
    group: GroupOpt = None,
    engine: EngineOpt = "duckdb",
    lake: LakeOpt = None,
    spark_conf: SparkConfOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Artist ranking inside each genre by plays, minutes or distinct listeners."""
    _command("top-artists", locals())


@analytics_app.command("trend")
def trend_cmd(
    ctx: typer.Context,
    every: Annotated[
        str, typer.Option("--every", help="Period: week (ISO, Monday first) or month.")
    ] = "month",
    genre: Annotated[
        list[str] | None,
        typer.Option("--genre", "-g", help="Only these genres (repeat the option)."),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str, typer.Option("--by", help="Share of plays or minutes.")] = "plays",
    source: SourceOpt = None,
    country: CountryOpt = None,
    user: UserOpt = None,
    segment: SegmentOpt = None,
    segment_model: SegmentModelOpt = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
    genres_basis: GenresBasisOpt = "all",
    minutes_basis: MinutesBasisOpt = "all",
    min_probability: MinProbabilityOpt = None,
    chart: ChartOpt = None,
    group: GroupOpt = None,
    engine: EngineOpt = "duckdb",
    lake: LakeOpt = None,
    spark_conf: SparkConfOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Genre measures per week or month across the window (rise and fall of genres)."""
    genres = genre or None  # the library's name for the repeated --genre
    del genre
    _command("trend", locals())
