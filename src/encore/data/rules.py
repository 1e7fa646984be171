"""Rules over the store's facts that several parts of Encore read, each written once.

Every rule is a function returning SQL, so that the store's ``plays`` view, the analytics
queries and the interaction dataset compute it with the same text.

Minutes of a play
    **Observed minutes** (:func:`played_minutes`): ``ms_played / 60000``, NULL when the
    source does not say how long the play lasted (scrobbles). This is the ``plays`` view's
    ``minutes`` column. Analytics report sums of observed minutes: a play of unknown length
    counts as a play but adds nothing to minutes, and the genre histogram says how many
    such plays there were.

    **Estimated minutes** (:func:`estimated_minutes`), for a consumer that needs a number
    for every play (the interaction dataset's ``minutes`` weighting): the first known of
    :data:`MINUTES_ESTIMATE`: the observed minutes, else the track's duration (a scrobble
    is a listen of the track), else :data:`NOMINAL_PLAY_MINUTES`. :func:`minutes_basis`
    names which one a play got; further estimates (e.g. from the listener's own plays of
    the track) belong in :data:`MINUTES_ESTIMATE`, in order of trust.

    **Analytics minutes** (``--minutes all``, the default): observed minutes, else the
    play's track duration estimated by :data:`DURATION_ESTIMATE` (catalogue duration,
    longest full play seen, artist median, genre median, global median), written by
    ``encore genre resolve`` (:mod:`encore.data.resolve`); ``--minutes observed`` keeps the
    observed minutes only.

What a like stands for (:func:`liked_items_sql`)
    A like of a track stands for the track, its artist and its album; a like of an album
    for the album and its artist; a like of an artist for the artist.
"""

from __future__ import annotations

#: Milliseconds in a minute.
MS_PER_MINUTE = 60_000

#: Minutes credited to a play whose length and track duration are both unknown.
NOMINAL_PLAY_MINUTES = 3.5

#: The estimate of a play's minutes: (basis, SQL template over ``{ms}``, the play's
#: ``ms_played``, and ``{duration}``, its track's ``duration_ms``); the first that is not
#: NULL counts. The first is always the observed minutes (:func:`played_minutes`).
MINUTES_ESTIMATE: tuple[tuple[str, str], ...] = (
    ("played", f"{{ms}} / {MS_PER_MINUTE}.0"),
    ("track_duration", f"{{duration}} / {MS_PER_MINUTE}.0"),
    ("nominal", f"{NOMINAL_PLAY_MINUTES}"),
)


#: How a track's duration is estimated for plays that do not say how long they lasted
#: (``encore genre resolve`` writes the result to ``track_minutes``; the analytics' default
#: ``--minutes all`` adds it for every such play): the first rule that knows wins.
#: Measured error: docs/coverage.md.
DURATION_ESTIMATE: tuple[tuple[str, str], ...] = (
    ("track_duration", "the catalogue's duration of the track (MSD, GTZAN, Spotify moods, ...)"),
    ("longest_play", "the longest full play of the track seen by anyone (Spotify exports)"),
    ("artist_median", "the median duration of the artist's tracks with one of the above"),
    ("genre_median", "the median duration of the genre's tracks with one of the above"),
    ("global_median", "the median duration of every track with one of the above"),
)


def played_minutes(ms: str) -> str:
    """SQL: the observed minutes of ``ms`` milliseconds played (NULL when ``ms`` is NULL).

    ``ms`` is a column or a function call (e.g. ``e.ms_played``, ``sum(x.ms)``): the result
    is not parenthesised, so that schema v1's ``plays`` view reads exactly
    ``e.ms_played / 60000.0 AS minutes``. That view is built from this function, and a
    released migration never changes: a new rule here needs a migration recreating the view.
    """
    return MINUTES_ESTIMATE[0][1].format(ms=ms)


def _estimate_terms(ms: str | None, duration: str | None) -> list[tuple[str, str]]:
    """The (basis, SQL) of each estimate that applies (``None``: that input is unknown)."""
    given = {"ms": ms, "duration": duration}
    return [
        (basis, sql.format(**given))
        for basis, sql in MINUTES_ESTIMATE
        if all(value is not None for k, value in given.items() if "{" + k + "}" in sql)
    ]


def estimated_minutes(ms: str | None, duration: str | None) -> str:
    """SQL: a play's minutes, estimated when not observed (never NULL; see :data:`MINUTES_ESTIMATE`).

    ``ms`` and ``duration`` are SQL for the play's ``ms_played`` and its track's
    ``duration_ms``; ``None`` when the caller has no such column (e.g. play counts carry
    no ``ms_played``).
    """
    return "COALESCE(" + ", ".join(sql for _, sql in _estimate_terms(ms, duration)) + ")"


def minutes_basis(ms: str | None, duration: str | None) -> str:
    """SQL: which estimate :func:`estimated_minutes` took (``'played'``, ``'track_duration'``, ...)."""
    terms = _estimate_terms(ms, duration)
    whens = " ".join(f"WHEN {sql} IS NOT NULL THEN '{basis}'" for basis, sql in terms[:-1])
    return f"CASE {whens} ELSE '{terms[-1][0]}' END"


def liked_items_sql() -> str:
    """SQL relation: every like with the items it stands for at each level.

    Columns: ``user_id``, ``entity_type``, ``entity_id``, ``liked_at``, ``source`` (as in
    ``likes``) and ``track_id``, ``artist_id``, ``album_id``: the track (track likes),
    the artist (artist likes; a liked track's or album's artist) and the album (album
    likes; a liked track's album), NULL where a like stands for no item of that level.
    """
    return """
        SELECT l.user_id, l.entity_type, l.entity_id, l.liked_at, l.source,
               CASE WHEN l.entity_type = 'track' THEN l.entity_id END AS track_id,
               CASE WHEN l.entity_type = 'artist' THEN l.entity_id
                    WHEN l.entity_type = 'track' THEN t.artist_id
                    WHEN l.entity_type = 'album' THEN al.artist_id END AS artist_id,
               CASE WHEN l.entity_type = 'album' THEN l.entity_id
                    WHEN l.entity_type = 'track' THEN t.album_id END AS album_id
        FROM likes l
        LEFT JOIN tracks t ON l.entity_type = 'track' AND t.track_id = l.entity_id
        LEFT JOIN albums al ON l.entity_type = 'album' AND al.album_id = l.entity_id
    """
