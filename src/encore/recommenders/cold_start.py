"""Tracks nobody has played, found by how they sound: the audio source of ``for_you``.

The listener recommender's other sources all start from plays, so a track that is in the
store but that no one has played (a new release, a label's upload) never reaches a list.
When the store holds audio embeddings (``encore audio ingest DIR``, issue #15), this source
ranks the embedded tracks that no listener of the store has played and that are new to
this listener by how close they sound to the embedded tracks the listener played or liked
(cosine of the embeddings centred on the store's mean, the measure the audio cold-start
evaluation scored, docs/audio.md), and each keeps the nearest of them as its reason
("sounds like Clair de Lune by Debussy, which you play").

Tracks are matched by song (normalised artist + title, the store's ``name_norm`` and
``title_norm``), so a clip of a song the listener played under another source's id counts
as played (it is a seed, not a candidate). Only named tracks are proposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from encore.data.store import Store

#: Feature name of the first audio-embedding value (``encore.audio.store.EMB_PREFIX``).
_FIRST_EMB = "audio_emb_000"

_SONGS_SQL = """
    SELECT t.track_id, t.artist_id, a.name_norm || '|' || t.title_norm AS song
    FROM tracks t JOIN artists a USING (artist_id)
    WHERE t.title IS NOT NULL AND t.title <> ''
"""


@dataclass(frozen=True)
class AudioPick:
    """One unplayed track proposed by its sound."""

    track_id: int
    artist_id: int
    similarity: float  # mean centred cosine to the listener's embedded tracks
    seed_track_id: int  # the listener's embedded track it sounds most like


def has_audio(store: Store) -> bool:
    """Whether any track of the store has an audio embedding."""
    row = store.con.execute(
        "SELECT 1 FROM track_features WHERE feature = ? LIMIT 1", [_FIRST_EMB]
    ).fetchone()
    return row is not None


def audio_picks(store: Store, user_id: str, n: int) -> list[AudioPick]:
    """Up to ``n`` named embedded tracks new to ``user_id`` and unplayed by anyone in the
    store, closest in sound to what the user played (not skipped) or liked; empty when the
    store has no embeddings or none of the user's tracks has one."""
    if n <= 0 or not has_audio(store):
        return []
    from encore.audio.store import cosine_to, load_embeddings

    ids, mat = load_embeddings(store)
    if ids.size == 0:
        return []
    con = store.con
    songs = con.execute(
        f"""
        WITH s AS ({_SONGS_SQL}),
        emb AS (SELECT unnest($ids::BIGINT[]) AS track_id)
        SELECT s.track_id, s.artist_id, s.song,
               s.song IN (SELECT s2.song FROM events e JOIN s s2 USING (track_id)
                          WHERE e.user_id = $user AND NOT COALESCE(e.skipped, FALSE)
                          UNION
                          SELECT s3.song FROM likes l JOIN s s3 ON s3.track_id = l.entity_id
                          WHERE l.user_id = $user AND l.entity_type = 'track') AS seed,
               s.song IN (SELECT s4.song FROM events e JOIN s s4 USING (track_id)
                          WHERE e.user_id = $user) AS heard,
               s.song IN (SELECT s5.song FROM events e JOIN s s5 USING (track_id)
                          WHERE NOT COALESCE(e.skipped, FALSE)) AS played
        FROM s JOIN emb USING (track_id)
        """,
        {"ids": ids.tolist(), "user": user_id},
    ).df()
    if songs.empty:
        return []
    pos = pd.Series(np.arange(len(ids)), index=ids)
    seeds = songs[songs["seed"]]
    cands = songs[~songs["seed"] & ~songs["heard"] & ~songs["played"]]
    cands = cands.drop_duplicates("song")
    if seeds.empty or cands.empty:
        return []
    centred = mat - mat.mean(axis=0)
    s_rows = pos.loc[seeds["track_id"].to_numpy()].to_numpy()
    c_rows = pos.loc[cands["track_id"].to_numpy()].to_numpy()
    sims = cosine_to(centred[c_rows], centred[s_rows])  # candidates x seeds
    mean = sims.mean(axis=1)
    nearest = seeds["track_id"].to_numpy()[np.argmax(sims, axis=1)]
    order = np.argsort(-mean, kind="stable")[:n]
    return [
        AudioPick(
            track_id=int(cands["track_id"].iloc[i]),
            artist_id=int(cands["artist_id"].iloc[i]),
            similarity=float(mean[i]),
            seed_track_id=int(nearest[i]),
        )
        for i in order
    ]
