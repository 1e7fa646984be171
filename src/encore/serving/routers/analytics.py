"""The analytics questions with their window and filters, through :func:`encore.analytics.api.run`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from encore.analytics import api
from encore.serving import problems
from encore.serving.deps import StateDep
from encore.serving.routers import records
from encore.serving.state import ServiceState

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
User = Annotated[
    str | None, Query(max_length=200, description="only this listener (a personal chart)")
]
Segment = Annotated[int | None, Query(ge=0, le=10_000, description="only this listener segment")]
SegmentModel = Annotated[
    str | None,
    Query(
        max_length=64,
        description="the segment model of `segment` when the store holds several",
    ),
]
SkipsOpt = Annotated[bool, Query(description="count skipped plays as plays")]
MeasureOpt = Annotated[Measure, Query(description="plays, tags, or auto")]
PlaysOrMinutes = Annotated[Literal["plays", "minutes"], Query(description="what is counted")]
RankBy = Annotated[
    Literal["plays", "minutes", "listeners"], Query(description="what ranks the items")
]
TopN = Annotated[int, Query(ge=1, le=1000, description="items per genre")]
GenreOpt = Annotated[
    str | None, Query(max_length=64, description="only this genre (default: every genre)")
]


@dataclass(frozen=True)
class Filters:
    """The window and the filters every question takes (the CLI's shared options)."""

    start: str | None
    end: str | None
    source: str | None
    country: str | None
    segment: int | None
    include_skips: bool
    user: str | None = None
    segment_model: str | None = None


async def filters(
    start: From = None,
    end: To = None,
    source: Source = None,
    country: Country = None,
    segment: Segment = None,
    segment_model: SegmentModel = None,
    include_skips: SkipsOpt = False,
    user: User = None,
) -> Filters:
    """The shared query parameters, read once for every question."""
    return Filters(start, end, source, country, segment, include_skips, user, segment_model)


FiltersDep = Annotated[Filters, Depends(filters)]


def _answer(
    request: Request, state: ServiceState, what: str, where: Filters, **options: Any
) -> AnalyticsResult:
    """Question ``what`` through :func:`encore.analytics.api.run` (the CLI's call); its
    notes in the words of this route (:mod:`encore.serving.wording`)."""
    frame = api.run(state.reader(), what, **asdict(where), **options)
    a = frame.attrs
    return AnalyticsResult(
        question=what,
        window=str(a.get("window", "")),
        start=str(a.get("start", "")),
        end=str(a.get("end", "")),
        measure=str(a.get("measure", "")),
        by=str(a.get("by", "")),
        notes=problems.for_client(request, [str(n) for n in a.get("notes", [])]),
        empty=bool(a.get("empty", frame.empty)),
        rows=records(frame),
    )


@router.get("/genres", response_model=AnalyticsResult)
def genres(
    request: Request,
    state: StateDep,
    where: FiltersDep,
    by: PlaysOrMinutes = "plays",
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """Plays (or minutes) per genre in the window: the genre histogram."""
    return _answer(request, state, "genres", where, by=by, measure=measure)


@router.get("/top-tracks", response_model=AnalyticsResult)
def top_tracks(
    request: Request,
    state: StateDep,
    where: FiltersDep,
    n: TopN = 10,
    by: RankBy = "plays",
    genre: GenreOpt = None,
) -> AnalyticsResult:
    """The top tracks per genre (or in one genre) in the window."""
    return _answer(request, state, "top-tracks", where, n=n, by=by, genre=genre)


@router.get("/top-artists", response_model=AnalyticsResult)
def top_artists(
    request: Request,
    state: StateDep,
    where: FiltersDep,
    n: TopN = 10,
    by: RankBy = "plays",
    genre: GenreOpt = None,
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """The top artists per genre (or in one genre) in the window."""
    return _answer(request, state, "top-artists", where, n=n, by=by, genre=genre, measure=measure)


@router.get("/trend", response_model=AnalyticsResult)
def trend(
    request: Request,
    state: StateDep,
    where: FiltersDep,
    every: Annotated[Literal["week", "month"], Query(description="period")] = "month",
    by: PlaysOrMinutes = "plays",
    genres: Annotated[
        list[str] | None, Query(max_length=30, description="only these genres (repeat)")
    ] = None,
    measure: MeasureOpt = "auto",
) -> AnalyticsResult:
    """Each genre's plays (or minutes) per period: the trend."""
    return _answer(
        request, state, "trend", where, every=every, by=by, genres=genres, measure=measure
    )
