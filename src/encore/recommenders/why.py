"""Why would this track be recommended to this listener? (``encore why USER TRACK``)

The answer of ``for_you`` for one track, made by the same code as ``encore recommend
--explain``: the listener's candidates and the ranker's order (:mod:`.for_you`), the list of
``-n`` picks with its audio slots (:func:`.recommend._listener_picks`) and the reason
sentence (:func:`.recommend.reason_text`). A track is one of

- ``recommended``: in the listener's list of ``n``, at its rank, with recommend's reason;
- ``candidate``: brought up by a source (the reason says which) but ranked below the list;
- ``already played``: the listener played, skipped or liked this song (under any source's
  id): ``for_you`` recommends only songs new to them;
- ``not a candidate``: an anonymous track (no title or artist), or one no source brings up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from encore.data.catalogue import item_info, label
from encore.data.store import Store
from encore.data.users import resolve_user
from encore.errors import ConfigError, UnknownIdError
from encore.recommenders.for_you import ForYou
from encore.recommenders.recommend import (
    _listener_candidates,
    _listener_picks,
    _listener_table,
    reason_text,
)

#: What each source of ``for_you``'s candidates is, for the answer about a track none brings.
SOURCES = (
    "new tracks of your artists, artists the listeners of yours play, tracks listeners with "
    "taste like yours play, and popular tracks of your genres"
)


@dataclass
class Why:
    """The answer about one track for one listener."""

    user_id: str
    track_id: int
    track: str
    status: str  # 'recommended', 'candidate', 'already played', 'not a candidate'
    rank: int | None  # in the list of ``n``
    n: int
    candidate_rank: int | None  # in the ranker's order of all the listener's candidates
    candidates: int
    because: str

    def as_dict(self) -> dict[str, Any]:
        """The answer as one record (``--format json``; the table's one row)."""
        return {
            "user_id": self.user_id,
            "track_id": self.track_id,
            "track": self.track,
            "status": self.status,
            "rank": self.rank,
            "n": self.n,
            "candidate_rank": self.candidate_rank,
            "candidates": self.candidates,
            "because": self.because,
        }


def resolve_track(store: Store, track: str) -> int:
    """The track id ``track`` names: an id (``recommend``'s ``item_id``) or a title.

    Raises
    ------
    UnknownIdError
        No such track id, or no track of that title (case aside).
    ConfigError
        Several tracks have that title: the message lists them with their ids.
    """
    text = track.strip()
    digits = text.replace(",", "").replace("_", "")  # as the table prints it: 49,784
    if digits.isdigit():
        tid = int(digits)
        if store.scalar("SELECT count(*) FROM tracks WHERE track_id = ?", [tid]):
            return tid
        raise UnknownIdError(
            "track", [tid], hint="give an item_id from `encore recommend`, or the track's title"
        )
    rows = store.con.execute(
        "SELECT t.track_id, t.title, a.name FROM tracks t LEFT JOIN artists a USING (artist_id) "
        "WHERE lower(t.title) = lower(?) ORDER BY t.track_id LIMIT 6",
        [text],
    ).fetchall()
    if not rows:
        raise UnknownIdError(
            "track", [text], hint="give an item_id from `encore recommend`, or the exact title"
        )
    if len(rows) > 1:
        shown = "; ".join(f"{r[0]} ({r[1]} - {r[2] or '?'})" for r in rows[:5])
        raise ConfigError(
            f"{len(rows) if len(rows) < 6 else 'more than 5'} tracks are titled {text!r}: {shown}",
            hint="give the track's id instead of its title",
        )
    return int(rows[0][0])


def why(store: Store, model: ForYou, user: str, track: str, n: int = 10) -> Why:
    """Why ``track`` would (or would not) be in ``user``'s ``n`` recommendations of ``model``.

    Raises
    ------
    UnknownIdError
        Unknown user or track, or a listener with no plays or likes of named tracks.
    ConfigError
        ``n`` not a positive whole number; a title several tracks share.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"-n must be a positive whole number, not {n!r}")
    user = resolve_user(store, user)
    tid = resolve_track(store, track)
    info = item_info(store, "track", [tid])
    name = label(info, tid)
    listener = _listener_candidates(store, model, user)
    picks = _listener_picks(
        store, model, listener, n, new_artists_only=False, max_per_artist=2, discovery_share=None
    )
    catalogue, _, _ = model._check()
    c = listener.candidates
    main = c.cache.get("main", np.zeros(len(c.rows)))
    answer = Why(user, tid, name, "not a candidate", None, n, None, len(c.rows), "")

    listed = [p.track_id for p in picks]
    if tid in listed:
        table = _listener_table(store, picks)
        answer.status, answer.rank = "recommended", listed.index(tid) + 1
        answer.because = str(table.loc[answer.rank - 1, "because"])
    row = int(catalogue.index([tid])[0])
    where = np.flatnonzero(catalogue.track_id[c.rows] == tid) if row >= 0 else np.zeros(0, int)
    if len(where):
        i = int(where[0])
        answer.candidate_rank = int((main > main[i]).sum()) + 1
        if answer.status != "recommended":
            cols = {
                k: c.features[k].to_numpy()
                for k in ("artist_new", "artist_cf_affinity", "genre_share")
            }
            pick = model._pick(listener.profile, c, i, float(main[i]), cols)
            ids = {pick.artist_id} | (
                {pick.contributor_artist_id} if pick.contributor_artist_id is not None else set()
            )
            artists = item_info(store, "artist", sorted(ids))
            names = {int(k): str(v) for k, v in zip(artists.index, artists["name"], strict=True)}
            answer.status = "candidate"
            answer.because = (
                f"{reason_text(pick, names)}; but the ranker puts it at "
                f"{answer.candidate_rank:,} of {len(c.rows):,} candidates, below the "
                f"{n} recommended (at most 2 per artist, "
                f"{model.config.discovery_share:.0%} of them for artists new to you)"
            )
        return answer
    if answer.status == "recommended":  # an audio pick: not among the ranker's candidates
        return answer
    if row >= 0 and np.isin(catalogue.song[row], listener.profile.heard_songs):
        plays = store.scalar(
            "SELECT count(*) FROM events WHERE user_id = ? AND track_id = ?", [user, tid]
        )
        answer.status = "already played"
        answer.because = (
            f"{user} already played, skipped or liked this song"
            + (f" ({plays:,} event{'s' if plays != 1 else ''} of this id)" if plays else "")
            + "; for_you recommends only songs new to the listener"
        )
    elif row < 0:
        answer.because = (
            "an anonymous track (no title or known artist): for_you recommends only named "
            "tracks; a CF model ranks anonymous ones (encore recommend --model item_knn)"
        )
    else:
        answer.because = f"none of for_you's sources brings it up for {user}: {SOURCES}"
    return answer
