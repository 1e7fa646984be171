"""What a store holds, as one JSON-able dict (``encore info``)."""

from __future__ import annotations

from typing import Any

from encore.data.store import Store


def store_info(store: Store) -> dict[str, Any]:
    """Counts per table and source, time spans, genre coverage, match rates and play coverage.

    ``play_coverage``: per source and overall, the shares of plays whose genre is
    observed, predicted (at the default threshold) or unknown, and whose minutes are
    observed, estimated or missing; ``resolution``: the last ``encore genre resolve``;
    ``attribute_coverage``: release year, language, duration, artist and listener country,
    observed / derived / unknown (``resolved`` False: the catalogue's own columns only).
    """
    counts = store.counts()
    spans = store.df(
        """
        SELECT 'events' AS "table", source, min(ts) AS first, max(ts) AS last FROM events GROUP BY source
        UNION ALL
        SELECT 'artist_tags', source, min(tagged_at), max(tagged_at) FROM artist_tags
        WHERE tagged_at IS NOT NULL GROUP BY source
        UNION ALL
        SELECT 'users (registered)', source, min(registered_at), max(registered_at) FROM users
        WHERE registered_at IS NOT NULL GROUP BY source
        ORDER BY 1, 2
        """
    )
    coverage = store.df(
        """
        SELECT source, count(*) AS plays, count(genre) AS plays_with_genre,
               round(count(genre) / count(*), 4) AS share
        FROM plays GROUP BY source
        UNION ALL
        SELECT '(all)', count(*), count(genre), round(count(genre) / greatest(count(*), 1), 4) FROM plays
        ORDER BY source
        """
    )
    # A catalogue entity is "matched" when rows of more than one source point at it.
    matching = store.df(
        """
        WITH refs AS (
            SELECT 'track' AS entity, track_id AS id, source FROM events WHERE track_id IS NOT NULL
            UNION SELECT 'track', entity_id, source FROM likes WHERE entity_type = 'track'
            UNION SELECT 'track', track_id, source FROM track_tags
            UNION SELECT 'track', track_id, source FROM track_features
            UNION SELECT 'track', track_id, source FROM lyrics
            UNION SELECT 'track', track_id, source FROM tracks
            UNION SELECT 'artist', artist_id, source FROM artists
            UNION SELECT 'artist', artist_id, source FROM artist_tags
            UNION SELECT 'artist', artist_id, source FROM events WHERE artist_id IS NOT NULL
            UNION SELECT 'artist', artist_id, source FROM playcounts WHERE artist_id IS NOT NULL
            UNION SELECT 'artist', entity_id, source FROM likes WHERE entity_type = 'artist'
        ), per AS (
            SELECT entity, id, count(DISTINCT source) AS n FROM refs GROUP BY entity, id
        )
        SELECT entity, count(*) AS entities, count(*) FILTER (WHERE n > 1) AS in_several_sources,
               round(count(*) FILTER (WHERE n > 1) / greatest(count(*), 1), 4) AS match_rate
        FROM per GROUP BY entity ORDER BY entity
        """
    )
    from encore.data.attributes import attribute_coverage, catalogue_coverage
    from encore.data.resolve import coverage as play_coverage
    from encore.data.resolve import last_run

    run = last_run(store)
    attrs = attribute_coverage(store)
    return {
        "path": store.path,
        "schema_version": store.schema_version(),
        "counts": counts.to_dict(orient="records"),
        "spans": spans.astype({"first": "string", "last": "string"}).to_dict(orient="records"),
        "genre_coverage": coverage.to_dict(orient="records"),
        "matching": matching.to_dict(orient="records"),
        # shares of plays by genre basis (observed / predicted / unknown) and minutes
        # basis (observed / estimated / missing); see encore.data.resolve
        "play_coverage": play_coverage(store)["by_source"],
        "resolution": None
        if run is None
        else {
            "resolved_at": str(run["resolved_at"]),
            "model": run["model"],
            "steps": run["report"].get("steps"),
        },
        # release year, language, duration (tracks and their plays), artist country,
        # listener country: observed / derived / unknown (see encore.data.attributes)
        "attribute_coverage": {
            "resolved": attrs is not None,
            "rows": attrs if attrs is not None else catalogue_coverage(store),
        },
    }
