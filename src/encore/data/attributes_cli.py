"""``encore catalogue``: derive the catalogue's release years, languages, countries and durations.

``encore catalogue resolve`` runs :func:`encore.data.attributes.resolve_attributes` (one
transaction, a Rich progress bar) and prints what each attribute covers before and after,
by basis, and the measured language accuracy. ``encore catalogue show TRACK`` prints one
track's attributes with their bases.
"""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
import typer

from encore.cli.common import (
    OutputFormat,
    State,
    emit,
    err_console,
    sub_app,
    with_state,
)

catalogue_app = sub_app(
    "The catalogue's attributes: release year, language, artist country and duration, "
    "each with its basis."
)


def register(app: typer.Typer) -> None:
    """Add the ``catalogue`` sub-app to the main app."""
    app.add_typer(catalogue_app, name="catalogue")


def _coverage_table(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (attribute, entity): known share before, observed / derived / unknown after."""
    b = {(r["attribute"], r["entity"]): r for r in before}
    rows = []
    for r in after:
        old = b.get((r["attribute"], r["entity"]))
        rows.append(
            {
                "attribute": r["attribute"],
                "of": r["entity"],
                "count": r["count"],
                "known_before_%": None if old is None else round(100 * old["observed_share"], 2),
                "observed_%": round(100 * r["observed_share"], 2),
                "derived_%": round(100 * r["derived_share"], 2),
                "unknown_%": round(100 * r["unknown_share"], 2),
            }
        )
    return pd.DataFrame(rows)


@catalogue_app.command("resolve")
@with_state
def resolve_cmd(
    st: State,
) -> None:
    """Give tracks a release year, language and duration and artists a country, with bases.

    Each value says whether a source gave it (observed) or how it was derived; see
    docs/data-model.md.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from encore.data.attributes import resolve_attributes
    from encore.data.store import Store

    with (
        Store(st.db) as store,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar,
    ):
        tasks: dict[str, Any] = {}

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=max(total, 1))
            bar.update(tasks[step], completed=done if total else 1, total=max(total, 1))

        report = resolve_attributes(store, progress=tick)
    if st.fmt is OutputFormat.json:
        emit(report, st.fmt)
        return
    emit(
        _coverage_table(report["before"], report["after"]),
        st.fmt,
        title="Coverage (shares, %): the catalogue's own columns before; observed / derived / "
        "unknown after",
    )
    if st.fmt is not OutputFormat.table:
        return
    emit(pd.DataFrame(report["bases"]), st.fmt, title="Items and plays per attribute and basis")
    ev = report["language_evaluation"]
    for key, title in (
        ("lyrics_datasets", "Language of tracks from lyrics datasets (English), titles only"),
        ("genre_names", "Language of tracks whose artist's Spotify genres name a language"),
    ):
        if key in ev:
            a = ev[key]["all"]
            emit(
                pd.DataFrame(ev[key]["by_language"]),
                st.fmt,
                title=f"{title}: coverage {a['coverage']}, accuracy {a['accuracy']} "
                f"({a['items']:,} tracks)",
            )


@catalogue_app.command("show")
@with_state
def show_cmd(
    st: State,
    track: Annotated[int, typer.Argument(help="Track id (as in recommendations and rankings).")],
) -> None:
    """One track's release year, language, duration and artist country, with their bases."""
    from encore.data.attributes import has_attributes
    from encore.data.store import Store
    from encore.errors import ConfigError, UnknownIdError

    with Store(st.db, read_only=True) as store:
        if not has_attributes(store):
            raise ConfigError(
                "the store has no catalogue attributes yet",
                hint="run `encore catalogue resolve` first",
            )
        frame = store.df(
            """
            SELECT t.track_id, t.title, a.name AS artist, ta.release_year, ta.year_basis,
                   ta.year_track_id, ta.language, ta.language_basis,
                   round(ta.language_confidence, 3) AS language_confidence,
                   round(ta.duration_ms / 60000.0, 2) AS duration_min, ta.duration_basis,
                   aa.country AS artist_country, aa.country_basis,
                   aa.language AS artist_language
            FROM tracks t LEFT JOIN artists a ON a.artist_id = t.artist_id
            LEFT JOIN track_attributes ta ON ta.track_id = t.track_id
            LEFT JOIN artist_attributes aa ON aa.artist_id = t.artist_id
            WHERE t.track_id = ?
            """,
            [track],
        )
    if frame.empty:
        raise UnknownIdError("track", [str(track)])
    if st.fmt is OutputFormat.table:
        rec = frame.iloc[0]
        emit(
            pd.DataFrame({"field": frame.columns, "value": [str(v) for v in rec]}),
            st.fmt,
            title=f"track {track}",
        )
        return
    emit(frame, st.fmt)
