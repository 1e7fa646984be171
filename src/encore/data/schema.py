"""Versioned schema of the Encore store.

Each migration is a list of SQL statements applied in one transaction and recorded
in ``schema_migrations``. Never edit a released migration: add a new one.

See ``docs/data-model.md`` for what every table means and which source fills it.
"""

from __future__ import annotations

from dataclasses import dataclass

from encore.data.rules import played_minutes


@dataclass(frozen=True)
class Migration:
    """One schema step."""

    version: int
    name: str
    statements: tuple[str, ...]


_V1 = (
    """
    CREATE TABLE ingests (
        ingest_id    INTEGER PRIMARY KEY,
        source       VARCHAR NOT NULL,      -- loader name, e.g. 'hetrec2011', 'spotify_basic'
        path         VARCHAR NOT NULL,      -- resolved path that was read
        label        VARCHAR,               -- dataset label (e.g. folder name)
        fingerprint  VARCHAR NOT NULL,      -- hash of the files' names, sizes and mtimes
        started_at   TIMESTAMP NOT NULL,
        finished_at  TIMESTAMP,
        loaded       JSON,                  -- {table: rows}
        rejected     JSON                   -- {table: rows}
    )
    """,
    "CREATE SEQUENCE ingest_id_seq START 1",
    "CREATE SEQUENCE artist_id_seq START 1",
    "CREATE SEQUENCE album_id_seq START 1",
    "CREATE SEQUENCE track_id_seq START 1",
    """
    CREATE TABLE users (
        user_id        VARCHAR PRIMARY KEY,  -- '<namespace>:<external id>' or the service's own id
        registered_at  TIMESTAMP,
        country        VARCHAR,              -- ISO-3166 alpha-2 where it can be mapped, else as given
        region         VARCHAR,              -- continent / world region derived from country
        age            SMALLINT,
        gender         VARCHAR,              -- 'm', 'f', 'n' (other) or NULL
        declared_plays BIGINT,               -- total plays a source declares (LFM-1b playcount)
        source         VARCHAR NOT NULL,
        ingest_id      INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE artists (
        artist_id  BIGINT PRIMARY KEY DEFAULT nextval('artist_id_seq'),
        name       VARCHAR NOT NULL,
        name_norm  VARCHAR NOT NULL,         -- normalised name used for matching
        mbid       VARCHAR,                  -- MusicBrainz id
        country    VARCHAR,
        genre      VARCHAR,                  -- coarse genre, derived (see genre vocabulary)
        source     VARCHAR NOT NULL,         -- source that first created the row
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE albums (
        album_id      BIGINT PRIMARY KEY DEFAULT nextval('album_id_seq'),
        title         VARCHAR NOT NULL,
        title_norm    VARCHAR NOT NULL,
        artist_id     BIGINT,
        release_year  SMALLINT,
        mbid          VARCHAR,
        source        VARCHAR NOT NULL,
        ingest_id     INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE tracks (
        track_id      BIGINT PRIMARY KEY DEFAULT nextval('track_id_seq'),
        title         VARCHAR NOT NULL,
        title_norm    VARCHAR NOT NULL,
        artist_id     BIGINT,
        album_id      BIGINT,
        duration_ms   BIGINT,
        genre_raw     VARCHAR,               -- the source's own genre field, as given
        genre         VARCHAR,               -- coarse genre: own genre_raw mapped, else artist's
        genre_from    VARCHAR,               -- 'track' or 'artist' (where genre came from)
        language      VARCHAR,
        release_year  SMALLINT,
        mbid          VARCHAR,
        uri           VARCHAR,               -- e.g. spotify:track:...
        source        VARCHAR NOT NULL,
        ingest_id     INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE external_ids (
        source       VARCHAR NOT NULL,
        entity       VARCHAR NOT NULL,       -- 'artist', 'album', 'track'
        external_id  VARCHAR NOT NULL,
        internal_id  BIGINT NOT NULL,
        PRIMARY KEY (source, entity, external_id)
    )
    """,
    """
    CREATE TABLE genres (
        genre        VARCHAR PRIMARY KEY,
        description  VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE genre_map (
        tag    VARCHAR PRIMARY KEY,          -- raw tag / genre string exactly as stored
        genre  VARCHAR                        -- coarse genre, NULL when the tag is no genre
    )
    """,
    """
    CREATE TABLE artist_tags (
        artist_id  BIGINT NOT NULL,
        tag        VARCHAR NOT NULL,         -- raw tag text as given
        weight     DOUBLE NOT NULL DEFAULT 1,
        user_id    VARCHAR,                  -- who tagged (HetRec), NULL for catalogue genre lists
        tagged_at  TIMESTAMP,
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE track_tags (
        track_id   BIGINT NOT NULL,
        tag        VARCHAR NOT NULL,
        weight     DOUBLE NOT NULL DEFAULT 1,
        kind       VARCHAR NOT NULL DEFAULT 'tag',  -- 'tag', 'genre', 'mood', 'topic', ...
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE events (
        user_id    VARCHAR NOT NULL,
        track_id   BIGINT,                   -- NULL where a source knows only the artist
        artist_id  BIGINT,
        ts         TIMESTAMP NOT NULL,       -- UTC
        ms_played  BIGINT,                   -- NULL where unknown (scrobbles)
        skipped    BOOLEAN,                  -- source flag, else derived (see docs/data-model.md)
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE likes (
        user_id      VARCHAR NOT NULL,
        entity_type  VARCHAR NOT NULL,       -- 'track', 'artist', 'album'
        entity_id    BIGINT NOT NULL,
        liked_at     TIMESTAMP,
        source       VARCHAR NOT NULL,
        ingest_id    INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE playcounts (
        user_id    VARCHAR NOT NULL,
        artist_id  BIGINT,
        track_id   BIGINT,
        plays      BIGINT NOT NULL,
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE friends (
        user_id    VARCHAR NOT NULL,
        friend_id  VARCHAR NOT NULL,
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE track_features (
        track_id   BIGINT NOT NULL,
        feature    VARCHAR NOT NULL,         -- e.g. 'tempo', 'valence', 'mfcc1_mean'
        value      DOUBLE,
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE artist_features (
        artist_id  BIGINT NOT NULL,
        feature    VARCHAR NOT NULL,
        value      DOUBLE,
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE lyrics (
        track_id   BIGINT NOT NULL,
        text       VARCHAR NOT NULL,
        processed  BOOLEAN NOT NULL DEFAULT FALSE,  -- TRUE when stop words etc. were removed upstream
        source     VARCHAR NOT NULL,
        ingest_id  INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE playlists (
        user_id        VARCHAR NOT NULL,
        name           VARCHAR NOT NULL,
        position       INTEGER NOT NULL,
        track_id       BIGINT NOT NULL,
        modified_at    TIMESTAMP,
        source         VARCHAR NOT NULL,
        ingest_id      INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE predicted_genres (
        entity_type  VARCHAR NOT NULL,       -- 'track' or 'artist'
        entity_id    BIGINT NOT NULL,
        model        VARCHAR NOT NULL,
        genre        VARCHAR NOT NULL,
        confidence   DOUBLE NOT NULL,
        predicted_at TIMESTAMP NOT NULL,
        PRIMARY KEY (entity_type, entity_id, model)
    )
    """,
    """
    CREATE TABLE rejects (
        ingest_id  INTEGER NOT NULL,
        source     VARCHAR NOT NULL,
        tbl        VARCHAR NOT NULL,         -- target table
        file       VARCHAR NOT NULL,
        line       BIGINT,
        field      VARCHAR,
        reason     VARCHAR NOT NULL,
        raw        VARCHAR
    )
    """,
    # Plays as analysts see them: minutes derived, artist resolved through the track.
    # minutes: the observed-minutes rule (encore.data.rules.played_minutes; this text is
    # exactly the released "e.ms_played / 60000.0", pinned by tests/data/test_rules.py).
    f"""
    CREATE VIEW plays AS
    SELECT e.user_id, e.track_id, COALESCE(e.artist_id, t.artist_id) AS artist_id,
           e.ts, e.ms_played, {played_minutes("e.ms_played")} AS minutes, e.skipped,
           COALESCE(t.genre, a.genre) AS genre, e.source
    FROM events e
    LEFT JOIN tracks t USING (track_id)
    LEFT JOIN artists a ON a.artist_id = COALESCE(e.artist_id, t.artist_id)
    """,
)

# v2: a dense integer key per user id that has events, stored on every event, so that
# distinct listeners are counted over a 4-byte integer instead of the VARCHAR id (about a
# quarter less work grouping millions of (artist, user) pairs). ``user_keys`` is
# store-wide and never deleted: a user keeps its key across re-ingests. Writers fill
# ``events.user_key`` from it (see ``encore.data.store.add_user_keys``).
_V2 = (
    """
    CREATE TABLE user_keys (
        user_id   VARCHAR PRIMARY KEY,       -- as in events.user_id
        user_key  INTEGER NOT NULL UNIQUE    -- 1, 2, ... in order of first ingest
    )
    """,
    """
    INSERT INTO user_keys (user_id, user_key)
    SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) AS INTEGER)
    FROM (SELECT DISTINCT user_id FROM events)
    """,
    "ALTER TABLE events ADD COLUMN user_key INTEGER",
    "UPDATE events SET user_key = k.user_key FROM user_keys k WHERE k.user_id = events.user_id",
)

# v3: listener segments, one row per (model, user), written by ``encore segments fit`` and
# ``encore segments assign --save`` (``encore.segments.model.store_assignments``) and read
# by the analytics' ``--segment`` filter. Earlier Encore versions created the table on the
# first fit, with these columns: IF NOT EXISTS keeps such a table and its rows.
_V3 = (
    """
    CREATE TABLE IF NOT EXISTS user_segments (
        user_id      VARCHAR,                -- as in users.user_id / events.user_id
        segment      INTEGER,                -- 0, 1, ... by size; -1 = HDBSCAN noise
        segment_name VARCHAR,                -- generated name, e.g. 'rock, metal'
        model        VARCHAR,                -- segmentation name (--name), default 'default'
        fitted_at    TIMESTAMP               -- when that model was fitted
    )
    """,
)

# v4: a track's mood (valence-arousal quadrant), written by ``encore moods compute``
# (``encore.text.mood.write_moods``) and read by ``encore mood``, ``recommend --mood`` and
# the mood chart. basis: 'audio', 'lyrics' or 'both'; each side's quadrant and axes kept as
# the evidence; disagreement e.g. 'sad lyrics, happy sound'.
_V4 = (
    """
    CREATE TABLE IF NOT EXISTS track_moods (
        track_id        BIGINT PRIMARY KEY,
        mood            VARCHAR NOT NULL,    -- happy, angry, sad, calm
        basis           VARCHAR NOT NULL,    -- audio, lyrics, both
        confidence      DOUBLE NOT NULL,     -- 0..1: twice the distance to the nearer axis
        valence         DOUBLE,
        arousal         DOUBLE,
        audio_mood      VARCHAR,
        lyrics_mood     VARCHAR,
        audio_valence   DOUBLE,
        audio_arousal   DOUBLE,              -- Spotify energy
        lyrics_valence  DOUBLE,
        lyrics_arousal  DOUBLE,
        vader           DOUBLE,              -- VADER compound, mean over lines
        disagreement    VARCHAR,
        computed_at     TIMESTAMP
    )
    """,
)

# v5: genre resolution and minute estimates, written by ``encore genre resolve``
# (``encore.data.resolve``) and read by the analytics and ``encore info``; derived, never
# ingested: a run replaces all three tables' rows.
_V5 = (
    """
    CREATE TABLE IF NOT EXISTS artist_resolution (
        artist_id    BIGINT PRIMARY KEY,     -- every artist of the catalogue
        genre        VARCHAR,                -- for artists.genre NULL only: resolved genre
        basis        VARCHAR,                -- 'observed' or 'predicted' (NULL: none)
        step         VARCHAR,                -- 'name', 'mbid', 'credit', 'tracks', 'model'
        probability  DOUBLE,                 -- the model's probability (predicted only)
        est_ms       DOUBLE,                 -- duration for plays naming only the artist
        est_rule     VARCHAR                 -- 'artist_median', 'genre_median', 'global_median'
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS track_minutes (
        track_id  BIGINT PRIMARY KEY,
        est_ms    DOUBLE NOT NULL,           -- estimated duration (rules.DURATION_ESTIMATE)
        rule      VARCHAR NOT NULL           -- which rule decided
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS resolution_runs (
        resolved_at  TIMESTAMP NOT NULL,
        global_ms    DOUBLE NOT NULL,        -- the global median duration (last resort)
        model        VARCHAR,                -- genre model used (NULL: no predictions)
        report       JSON                    -- what each step added, model and estimate error
    )
    """,
)

# v6: the catalogue's attributes (release year, language, artist country, duration), each
# with its basis, written by ``encore catalogue resolve`` (``encore.data.attributes``) and
# read by the analytics' ``--group`` and ``encore info``; derived, never ingested: a run
# replaces both tables' rows. ``users.country_basis`` says where a listener's country
# came from ('profile': a declared country; 'plays': their most frequent connection
# country in Spotify's extended export).
_V6 = (
    """
    CREATE TABLE IF NOT EXISTS track_attributes (
        track_id             BIGINT PRIMARY KEY,   -- every track of the catalogue
        release_year         SMALLINT,
        year_basis           VARCHAR,   -- 'catalogue', 'album', 'matched' (NULL: unknown)
        year_track_id        BIGINT,    -- the track row whose year it is (itself unless 'matched')
        language             VARCHAR,   -- ISO 639-1
        language_basis       VARCHAR,   -- 'catalogue', 'lyrics', 'title', 'artist'
        language_confidence  DOUBLE,    -- the language identifier's probability
        duration_ms          DOUBLE,
        duration_basis       VARCHAR    -- 'catalogue' or the estimate rule (track_minutes.rule)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS artist_attributes (
        artist_id            BIGINT PRIMARY KEY,   -- every artist of the catalogue
        country              VARCHAR,   -- ISO 3166 alpha-2
        country_basis        VARCHAR,   -- 'catalogue', 'matched', 'genre_name' (NULL: unknown)
        language             VARCHAR,   -- of its titles taken together
        language_confidence  DOUBLE,
        titles               INTEGER    -- how many titles that language was read from
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS attribute_runs (
        resolved_at  TIMESTAMP NOT NULL,
        report       JSON                -- coverage before/after, language evaluation
    )
    """,
    "ALTER TABLE users ADD COLUMN IF NOT EXISTS country_basis VARCHAR",
    "UPDATE users SET country_basis = 'profile' WHERE country IS NOT NULL AND country_basis IS NULL",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial music store", _V1),
    Migration(2, "integer user keys on events", _V2),
    Migration(3, "listener segments table", _V3),
    Migration(4, "track moods table", _V4),
    Migration(5, "genre resolution and minute estimates", _V5),
    Migration(6, "catalogue attributes with their basis", _V6),
)

LATEST_VERSION = MIGRATIONS[-1].version

#: Tables whose rows belong to one ingest (deleted when that source is re-ingested).
INGEST_TABLES: tuple[str, ...] = (
    "users",
    "artist_tags",
    "track_tags",
    "events",
    "likes",
    "playcounts",
    "friends",
    "track_features",
    "artist_features",
    "lyrics",
    "playlists",
    "rejects",
)

#: Catalogue tables (shared across sources, matched on ingest, never deleted by re-ingest).
CATALOGUE_TABLES: tuple[str, ...] = ("artists", "albums", "tracks")
