"""Distributions of real listening histories, measured so the synthetic generator can follow them.

:func:`fit_listening` reads a store's events (the personal listening histories in
``../shared/data``, or any store) and measures what :func:`encore.data.synthetic.generate`
draws from: how popularity falls with rank (tracks and artists), how long sessions are,
how often plays are skipped, and at which hour of the day listening happens.
:func:`generate_fitted` then writes synthetic data with those parameters. The result is
for scale and speed measurements only: no claim about music or listeners may be drawn
from synthetic rows, whatever they were fitted to.

Definitions (all over the store's events, skips included unless said):

- **popularity exponents**: the least-squares slope ``s`` of ``log(plays) = a - s log(rank)``
  over the 1,000 most played tracks (artists) of each user, averaged over users (a
  library-wide ranking of 20 people would measure their overlap, not a popularity law);
- **session**: a user's run of plays with gaps under 30 minutes between the starts of
  consecutive plays; ``session_mean`` is the mean number of plays per session;
- **skip rate**: the share of skipped plays among plays with a known duration (scrobbles
  have no skip flag);
- **hour weights**: the share of sessions starting in each UTC hour.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from encore.data.store import Store
from encore.data.synthetic import SyntheticSummary, generate
from encore.errors import DataError

log = logging.getLogger(__name__)

#: Gap between play starts that ends a session.
SESSION_GAP_MINUTES = 30
#: Ranks used for the popularity slope, per user.
TOP_RANKS = 1000


@dataclass(frozen=True)
class ListeningFit:
    """Measured parameters of listening histories (see the module docstring)."""

    users: int
    events: int
    track_zipf: float
    artist_zipf: float
    session_mean: float
    skip_rate: float
    hour_weights: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for JSON and tables)."""
        return asdict(self)


def _slope(store: Store, key: str, source: str | None) -> float:
    where = f"{key} IS NOT NULL" + (" AND source = $source" if source else "")
    frame = store.df(
        f"""SELECT user_id, n, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, {key}) AS rk
            FROM (SELECT user_id, {key}, count(*) AS n FROM events WHERE {where} GROUP BY ALL)
            QUALIFY rk <= {TOP_RANKS}""",
        {"source": source} if source else None,
    )
    slopes = []
    for _, part in frame.groupby("user_id"):
        if len(part) < 20:
            continue
        x = np.log(part["rk"].to_numpy(float))
        y = np.log(part["n"].to_numpy(float))
        slopes.append(-np.polyfit(x, y, 1)[0])
    return float(np.mean(slopes)) if slopes else float("nan")


def fit_listening(store: Store, *, source: str | None = None) -> ListeningFit:
    """Measure the generator's parameters on a store's events.

    Parameters
    ----------
    store:
        An open store with events.
    source:
        Only events of this source (default all).

    Returns
    -------
    ListeningFit

    Raises
    ------
    DataError
        No events to measure.
    """
    params = {"source": source} if source else None
    where = "WHERE source = $source" if source else ""
    n = int(store.df(f"SELECT count(*) AS n FROM events {where}", params)["n"][0])
    if n == 0:
        raise DataError("no events to fit the synthetic generator to", field="events")
    sessions = store.df(
        f"""WITH g AS (
                SELECT user_id, ts,
                       CASE WHEN lag(ts) OVER w IS NULL
                              OR ts - lag(ts) OVER w > INTERVAL {SESSION_GAP_MINUTES} MINUTE
                            THEN 1 ELSE 0 END AS starts
                FROM events {where} WINDOW w AS (PARTITION BY user_id ORDER BY ts))
            SELECT count(*) AS plays, sum(starts) AS sessions, count(DISTINCT user_id) AS users,
                   list(hour(ts)) FILTER (WHERE starts = 1) AS hours
            FROM g""",
        params,
    )
    hours = np.bincount(np.asarray(sessions["hours"][0], dtype=int), minlength=24)[:24]
    skip = store.df(
        f"""SELECT avg(CASE WHEN skipped THEN 1.0 ELSE 0.0 END) AS r FROM events
            {where + " AND" if where else "WHERE"} ms_played IS NOT NULL""",
        params,
    )["r"][0]
    fit = ListeningFit(
        users=int(sessions["users"][0]),
        events=n,
        track_zipf=_slope(store, "track_id", source),
        artist_zipf=_slope(store, "artist_id", source),
        session_mean=float(sessions["plays"][0] / sessions["sessions"][0]),
        skip_rate=float(skip) if skip is not None else float("nan"),
        hour_weights=tuple(float(h) for h in hours / hours.sum()),
    )
    log.info("fitted: %s", fit)
    return fit


def generate_fitted(
    store: Store, n_events: int, fit: ListeningFit, *, seed: int = 0, **options: Any
) -> SyntheticSummary:
    """Synthetic events with ``fit``'s session length, popularity law, skips and daily rhythm.

    The generator draws a play inside the user's two genres with a skip probability a
    third of the one outside them (its default 0.10 / 0.35); both are scaled so that
    the overall rate is about ``fit.skip_rate`` (about 73 % of its plays fall inside, measured
    at 200,000 events).
    ``options`` go to :func:`~encore.data.synthetic.generate` (sizes, span).
    """
    inside = 0.73
    low = fit.skip_rate / (inside + (1 - inside) * 3.5)
    return generate(
        store,
        n_events,
        seed=seed,
        zipf_s=fit.track_zipf,
        session_mean=max(1.0, fit.session_mean),
        hour_weights=fit.hour_weights,
        skip_rates=(min(1.0, low), min(1.0, 3.5 * low)),
        **options,
    )
