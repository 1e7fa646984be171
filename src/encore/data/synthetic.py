"""A seeded generator of SYNTHETIC listening data, for speed and scale tests only.

Nothing here is real and no result about music or listeners may be drawn from it: the
real datasets are in ``../shared/data``. The generator exists because those are small
(≈0.4 M plays) and the analytics and recommenders must be shown to be fast at 1 M–10 M+
events. It writes straight into the store's tables (``ingests``, ``artists``,
``tracks``, ``users``, ``events``) through Arrow, about a million events a second,
under the source name ``synthetic`` and user ids ``syn:<n>``.

What it models (enough structure that queries do real work, not realism):

- **catalogue**: artists with one coarse genre each (genres drawn with a skewed
  popularity, a share of artists with no genre, so the "(unknown)" bar exists); tracks
  assigned to artists, with log-normal durations;
- **Zipf track popularity** inside each genre (exponent ``zipf_s``);
- **genre-specific listener tastes**: each user has a primary and a secondary genre;
  a session plays the primary genre, the secondary, or a genre drawn from the global
  mix, which drifts over time (two genres rise, one falls) so trends have a shape;
- **sessions**: a user's session is a run of consecutive plays (geometric length,
  mean ``session_mean``) starting at a random day and hour, each play starting when the
  previous one ended plus a short gap; user activity is log-normal (few heavy users);
- **skips**: more likely outside the user's tastes; a skipped play lasts 2–30 s, a
  completed one 50–100 % of the track.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from encore.data.countries import REGION_OF
from encore.data.genres import GENRES
from encore.data.store import Store, add_user_keys
from encore.errors import ConfigError

log = logging.getLogger(__name__)

SOURCE = "synthetic"
_COUNTRIES = (
    "US",
    "GB",
    "DE",
    "BR",
    "SE",
    "FR",
    "MX",
    "JP",
    "PL",
    "NL",
    "ES",
    "CA",
    "AU",
    "IT",
    "RU",
)
_COUNTRY_W = np.array([24, 10, 9, 8, 5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 7], dtype=float)


@dataclass(frozen=True)
class SyntheticSummary:
    """What :func:`generate` wrote."""

    source: str
    ingest_id: int
    events: int
    users: int
    artists: int
    tracks: int
    first: datetime
    last: datetime
    seconds: float


def _ids(store: Store, sequence: str, n: int) -> np.ndarray:
    """Draw ``n`` ids from a store sequence (keeps the sequence valid for later ingests)."""
    rows = store.execute(f"SELECT nextval('{sequence}') FROM range(?)", [n]).fetchnumpy()
    return np.asarray(next(iter(rows.values())), dtype=np.int64)


def generate(
    store: Store,
    n_events: int = 1_000_000,
    *,
    seed: int = 0,
    n_users: int | None = None,
    n_artists: int | None = None,
    n_tracks: int | None = None,
    start: datetime = datetime(2023, 1, 1),
    days: int = 730,
    unknown_share: float = 0.04,
    zipf_s: float = 1.05,
    session_mean: float = 12.0,
    hour_weights: Sequence[float] | None = None,
    skip_rates: tuple[float, float] = (0.10, 0.35),
) -> SyntheticSummary:
    """Write a synthetic catalogue, users and ``n_events`` listening events into ``store``.

    Parameters
    ----------
    store:
        An open, writable store. Rows are added in one transaction under source
        ``synthetic``; a previous synthetic ingest is replaced.
    n_events:
        Number of events (exact).
    seed:
        Seed of the random generator: the same seed gives the same rows.
    n_users, n_artists, n_tracks:
        Sizes; defaults scale with ``n_events`` (1 user per 200 events, 1 artist per 500,
        1 track per 50, with floors).
    start, days:
        The span of the events.
    unknown_share:
        Share of artists without a genre.
    zipf_s:
        Exponent of the Zipf law of track popularity inside a genre.
    session_mean:
        Mean plays per session.
    hour_weights:
        24 relative weights of the hour (UTC) a session starts in; default an evening-heavy
        shape. :func:`encore.data.synthetic_fit.fit_listening` fits them to real histories.
    skip_rates:
        Skip probability of a play inside the user's two genres and outside them.

    Returns
    -------
    SyntheticSummary

    Raises
    ------
    ConfigError
        A size or share out of range.
    """
    if n_events <= 0 or days <= 0 or not 0 <= unknown_share < 1 or session_mean < 1:
        raise ConfigError(
            "n_events and days must be positive, unknown_share in [0, 1), session_mean >= 1"
        )
    if hour_weights is not None and (
        len(hour_weights) != 24 or min(hour_weights) < 0 or sum(hour_weights) <= 0
    ):
        raise ConfigError("hour_weights must be 24 non-negative weights, not all zero")
    if not all(0 <= r <= 1 for r in skip_rates):
        raise ConfigError("skip_rates must be probabilities in [0, 1]")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    nu = n_users or max(50, n_events // 200)
    na = n_artists or max(40, n_events // 500)
    nt = n_tracks or max(200, n_events // 50)
    genres = list(GENRES)
    ng = len(genres)
    gw = 1.0 / (1 + rng.permutation(ng)) ** 0.9
    gw /= gw.sum()

    # catalogue: artist genre (ng = unknown), track -> artist, durations
    artist_genre = rng.choice(ng, size=na, p=gw)
    artist_genre[rng.random(na) < unknown_share] = ng
    track_artist = rng.integers(0, na, size=nt)
    track_genre = artist_genre[track_artist]
    duration = np.clip(rng.lognormal(np.log(210_000), 0.35, size=nt), 45_000, 900_000).astype(
        np.int64
    )
    groups: list[np.ndarray] = []
    cumw: list[np.ndarray] = []
    for g in range(ng + 1):
        members = rng.permutation(np.flatnonzero(track_genre == g))
        groups.append(members)
        w = 1.0 / (1 + np.arange(len(members))) ** zipf_s
        cumw.append(np.cumsum(w))

    # users: tastes, activity, country
    primary = rng.choice(ng, size=nu, p=gw)
    second = rng.choice(ng, size=nu, p=gw)
    activity = rng.lognormal(0, 1.0, size=nu)
    activity /= activity.sum()
    country = rng.choice(len(_COUNTRIES), size=nu, p=_COUNTRY_W / _COUNTRY_W.sum())

    # sessions
    lengths = rng.geometric(1.0 / session_mean, size=int(n_events / session_mean * 1.2) + 10)
    while lengths.sum() < n_events:
        lengths = np.concatenate(
            [lengths, rng.geometric(1.0 / session_mean, size=len(lengths) // 2 + 10)]
        )
    ends = np.cumsum(lengths)
    ns = int(np.searchsorted(ends, n_events) + 1)
    lengths = lengths[:ns].copy()
    lengths[-1] -= int(ends[ns - 1] - n_events)
    s_user = rng.choice(nu, size=ns, p=activity)
    hour_w = np.array(
        [2, 1, 1, 1, 1, 2, 4, 6, 7, 6, 5, 5, 6, 6, 5, 5, 6, 7, 8, 9, 9, 8, 6, 4]
        if hour_weights is None
        else list(hour_weights),
        dtype=float,
    )
    s_day = rng.integers(0, days, size=ns)
    s_sec = rng.choice(24, size=ns, p=hour_w / hour_w.sum()) * 3600 + rng.integers(0, 3600, size=ns)
    frac = s_day / days
    kind = rng.random(ns)
    s_genre = np.where(kind < 0.55, primary[s_user], np.where(kind < 0.8, second[s_user], -1))
    drift = rng.choice(ng, size=3, replace=False)  # rises, rises, falls
    free = np.flatnonzero(s_genre < 0)
    if len(free):
        base = rng.choice(ng, size=len(free), p=gw)
        r = rng.random(len(free))
        f = frac[free]
        base = np.where(r < 0.15 * f, drift[0], base)
        base = np.where((r >= 0.15 * f) & (r < 0.25 * f), drift[1], base)
        base = np.where(
            (base == drift[2]) & (rng.random(len(free)) < f),
            rng.choice(ng, size=len(free), p=gw),
            base,
        )
        s_genre[free] = base

    # events
    e_sess = np.repeat(np.arange(ns), lengths)
    e_user = s_user[e_sess]
    e_genre = s_genre[e_sess].copy()
    stray = rng.random(n_events) < 0.12
    e_genre[stray] = rng.choice(ng, size=int(stray.sum()), p=gw)
    e_genre[rng.random(n_events) < unknown_share] = ng
    e_track = np.empty(n_events, dtype=np.int64)
    for g in range(ng + 1):
        idx = np.flatnonzero(e_genre == g)
        if not len(idx):
            continue
        if not len(groups[g]):  # no track of this genre: fall back to any track
            e_track[idx] = rng.integers(0, nt, size=len(idx))
            continue
        pos = np.searchsorted(cumw[g], rng.random(len(idx)) * cumw[g][-1])
        e_track[idx] = groups[g][np.minimum(pos, len(groups[g]) - 1)]
    liked = (track_genre[e_track] == primary[e_user]) | (track_genre[e_track] == second[e_user])
    skipped = rng.random(n_events) < np.where(liked, skip_rates[0], skip_rates[1])
    dur = duration[e_track]
    full = np.where(
        rng.random(n_events) < 0.7, dur, (dur * rng.uniform(0.5, 1.0, n_events)).astype(np.int64)
    )
    short = rng.integers(2_000, 30_000, size=n_events)
    ms = np.where(skipped, np.minimum(short, dur // 2), full).astype(np.int64)
    step = ms + rng.integers(0, 20_000, size=n_events)
    csum = np.cumsum(step)
    first_of = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    offset = csum - step - (csum[first_of] - step[first_of])[e_sess]
    start_us = np.datetime64(start, "us")
    s_start = start_us + (s_day.astype(np.int64) * 86_400 + s_sec).astype("timedelta64[s]")
    ts = s_start[e_sess] + offset.astype("timedelta64[ms]")

    with store.transaction() as con:
        old = [
            r[0]
            for r in con.execute(
                "SELECT ingest_id FROM ingests WHERE source = ?", [SOURCE]
            ).fetchall()
        ]
        for oid in old:
            for table in ("events", "users"):
                con.execute(f"DELETE FROM {table} WHERE ingest_id = ?", [oid])
            con.execute("DELETE FROM tracks WHERE ingest_id = ? AND source = ?", [oid, SOURCE])
            con.execute("DELETE FROM artists WHERE ingest_id = ? AND source = ?", [oid, SOURCE])
            con.execute("DELETE FROM ingests WHERE ingest_id = ?", [oid])
        row = con.execute("SELECT nextval('ingest_id_seq')").fetchone()
        assert row is not None
        ingest_id = int(row[0])
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute(
            "INSERT INTO ingests (ingest_id, source, path, label, fingerprint, started_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                ingest_id,
                SOURCE,
                f"synthetic://seed={seed}/events={n_events}",
                "SYNTHETIC (speed tests only)",
                f"seed={seed};n={n_events}",
                now,
            ],
        )
        artist_ids = _ids(store, "artist_id_seq", na)
        track_ids = _ids(store, "track_id_seq", nt)
        genre_names = np.array([*genres, None], dtype=object)
        artists = pa.table(
            {
                "artist_id": artist_ids,
                "i": np.arange(na),
                "genre": pa.array(genre_names[artist_genre], type=pa.string()),
            }
        )
        tracks = pa.table(
            {
                "track_id": track_ids,
                "i": np.arange(nt),
                "artist_id": artist_ids[track_artist],
                "duration_ms": duration,
                "genre": pa.array(genre_names[track_genre], type=pa.string()),
            }
        )
        users = pa.table({"i": np.arange(nu), "country": pa.array(np.array(_COUNTRIES)[country])})
        events = pa.table(
            {
                "u": e_user.astype(np.int32),
                "track_id": track_ids[e_track],
                "artist_id": artist_ids[track_artist[e_track]],
                "ts": pa.array(ts, type=pa.timestamp("us")),
                "ms_played": ms,
                "skipped": skipped,
            }
        )
        regions = pa.table({"country": list(REGION_OF), "region": list(REGION_OF.values())})
        for name, tbl in (
            ("_syn_a", artists),
            ("_syn_t", tracks),
            ("_syn_u", users),
            ("_syn_e", events),
            ("_syn_r", regions),
        ):
            con.register(name, tbl)
        try:
            con.execute(
                f"INSERT INTO artists (artist_id, name, name_norm, genre, source, ingest_id) "
                f"SELECT artist_id, 'Synthetic Artist ' || lpad(CAST(i AS VARCHAR), 6, '0'), "
                f"'synthetic artist ' || lpad(CAST(i AS VARCHAR), 6, '0'), genre, '{SOURCE}', {ingest_id} FROM _syn_a"
            )
            con.execute(
                f"INSERT INTO tracks (track_id, title, title_norm, artist_id, duration_ms, genre, genre_from, source, ingest_id) "
                f"SELECT track_id, 'Synthetic Track ' || lpad(CAST(i AS VARCHAR), 7, '0'), "
                f"'synthetic track ' || lpad(CAST(i AS VARCHAR), 7, '0'), artist_id, duration_ms, genre, "
                f"CASE WHEN genre IS NOT NULL THEN 'artist' END, '{SOURCE}', {ingest_id} FROM _syn_t"
            )
            con.execute(
                f"INSERT INTO users (user_id, country, region, source, ingest_id) "
                f"SELECT 'syn:' || CAST(i AS VARCHAR), u.country, r.region, '{SOURCE}', {ingest_id} "
                f"FROM _syn_u u LEFT JOIN _syn_r r USING (country)"
            )
            # integer user keys (schema v2): add the new ids, then look each user's key up
            # once and index it per event
            add_user_keys(con, "SELECT 'syn:' || CAST(i AS VARCHAR) AS u FROM _syn_u")
            keys = (
                con.execute(
                    "SELECT k.user_key FROM _syn_u s "
                    "JOIN user_keys k ON k.user_id = 'syn:' || CAST(s.i AS VARCHAR) ORDER BY s.i"
                )
                .fetchnumpy()["user_key"]
                .astype(np.int32)
            )
            con.register("_syn_e", events.append_column("user_key", pa.array(keys[e_user])))
            con.execute(
                f"INSERT INTO events (user_id, track_id, artist_id, ts, ms_played, skipped, source, "
                f"ingest_id, user_key) "
                f"SELECT 'syn:' || CAST(u AS VARCHAR), track_id, artist_id, ts, ms_played, skipped, "
                f"'{SOURCE}', {ingest_id}, user_key FROM _syn_e"
            )
        finally:
            for name in ("_syn_a", "_syn_t", "_syn_u", "_syn_e", "_syn_r"):
                con.unregister(name)
        con.execute(
            "UPDATE ingests SET finished_at = ?, loaded = ? WHERE ingest_id = ?",
            [
                datetime.now(UTC).replace(tzinfo=None),
                f'{{"events": {n_events}, "users": {nu}, "artists": {na}, "tracks": {nt}}}',
                ingest_id,
            ],
        )
    first = ts.min().astype(datetime)
    last = ts.max().astype(datetime)
    seconds = time.perf_counter() - started
    log.info("synthetic: %d events, %d users, %d tracks in %.1f s", n_events, nu, nt, seconds)
    return SyntheticSummary(SOURCE, ingest_id, n_events, nu, na, nt, first, last, seconds)
