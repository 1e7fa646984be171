"""The analytics questions with their window and filters, through :func:`encore.analytics.api.run`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from encore.analytics import api
from encore.serving.deps import StateDep
from encore.serving.routers import records

router = APIRouter(prefix="/analytics", tags=["analytics"])

Measure = Literal["auto", "plays", "tags"]


class AnalyticsResult(BaseModel):
    """One question's rows (the CLI's CSV/JSON columns) and the window they cover."""

    question: str
    window: str
    start: str
    end: str
    measure: str
    by: str
    notes: list[str]
    empty: bool
    rows: list[dict[str, Any]]


From = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="start: YYYY-MM-DD or ISO time (default: a year before the end)",
    ),
]
To = Annotated[
    str | None,
    Query(alias="to", max_length=40, description="end, inclusive (default: the data's last time)"),
]
Source = Annotated[str | None, Query(max_length=64, description="only this source (loader name)")]
Country = Annotated[
    str | None, Query(max_length=64, description="only listeners from this country")
]
Segment = Annotated[int | None, Query(ge=0, le=10_000, description="only this listener segment")]
SkipsOpt = Annotated[bool, Query(description="count skipped plays as plays")]
MeasureOpt = Annotated[Measure, Query(description="plays, tags, or auto")]


def _answer(state: Any, what: str, **options: Any) -> AnalyticsResult:
    frame = api.run(state.reader(), what, **options)
    a = frame.attrs
    return AnalyticsResult(
        question=what,
        window=str(a.get("window", "")),
        start=str(a.get("start", "")),
        end=str(a.get("end", "")),
        measure=str(a.get("measure", "")),
        by=str(a.get("by", "")),
        notes=[str(n) for n in a.get("notes", [])],
        empty=bool(a.get("empty", frame.empty)),
        rows=records(frame),
    )


@router.get("/genres", response_model=AnalyticsResult)
def genres(
    state: StateDep,
    start: From = None,
    end: To = None,
    by: Annotated[Literal["plays", "minutes"], Query()] = "plays",
    source: Source = None,
    country: Country = None,
    segment: Segment = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """Plays (or minutes) per genre in the window: the genre histogram."""
    return _answer(
        state,
        "genres",
        start=start,
        end=end,
        by=by,
        source=source,
        country=country,
        segment=segment,
        include_skips=include_skips,
        measure=measure,
    )


@router.get("/top-tracks", response_model=AnalyticsResult)
def top_tracks(
    state: StateDep,
    start: From = None,
    end: To = None,
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
    by: Annotated[Literal["plays", "minutes", "listeners"], Query()] = "plays",
    genre: Annotated[str | None, Query(max_length=64)] = None,
    source: Source = None,
    country: Country = None,
    segment: Segment = None,
    include_skips: SkipsOpt = False,
) -> AnalyticsResult:
    """The top tracks per genre (or in one genre) in the window."""
    return _answer(
        state,
        "top-tracks",
        start=start,
        end=end,
        n=n,
        by=by,
        genre=genre,
        source=source,
        country=country,
        segment=segment,
        include_skips=include_skips,
    )


@router.get("/top-artists", response_model=AnalyticsResult)
def top_artists(
    state: StateDep,
    start: From = None,
    end: To = None,
    n: Annotated[int, Query(ge=1, le=1000)] = 10,
    by: Annotated[Literal["plays", "minutes", "listeners"], Query()] = "plays",
    genre: Annotated[str | None, Query(max_length=64)] = None,
    source: Source = None,
    country: Country = None,
    segment: Segment = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """The top artists per genre (or in one genre) in the window."""
    return _answer(
        state,
        "top-artists",
        start=start,
        end=end,
        n=n,
        by=by,
        genre=genre,
        source=source,
        country=country,
        segment=segment,
        include_skips=include_skips,
        measure=measure,
    )


@router.get("/trend", response_model=AnalyticsResult)
def trend(
    state: StateDep,
    start: From = None,
    end: To = None,
    every: Annotated[Literal["week", "month"], Query()] = "month",
    by: Annotated[Literal["plays", "minutes"], Query()] = "plays",
    genres: Annotated[list[str] | None, Query(max_length=30)] = None,
    source: Source = None,
    country: Country = None,
    segment: Segment = None,
    include_skips: SkipsOpt = False,
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """Each genre's plays (or minutes) per period: the trend."""
    return _answer(
        state,
        "trend",
        start=start,
        end=end,
        every=every,
        by=by,
        genres=genres,
        source=source,
        country=country,
        segment=segment,
        include_skips=include_skips,
        measure=measure,
    )
