"""Genre resolution and minute estimates: numbers that cover every play.

``encore genre resolve`` (:func:`resolve`) writes three derived tables (schema v5) that the
analytics read; it changes no catalogue row and no fact, and runs again after each ingest.

Genres of artists the catalogue leaves unknown (``artist_resolution``)
    An artist whose ``artists.genre`` is NULL gets a genre from the first step that finds
    evidence, in this order (each step only for artists still unknown):

    1. ``name``: other artist rows with the same **resolution key** (:func:`key_sql`: case,
       accents, a leading "The", punctuation, "feat. X" dropped, "&" and "and" the same)
       that have a genre: their most common genre (ties: the vocabulary's order).
    2. ``mbid``: other artist rows with the same MusicBrainz id, likewise.
    3. ``credit``: a name crediting several artists ("A & B", "A, B", "A x B", "A feat. B",
       "A with B"): the genre of the first credited artist whose key has one.
    4. ``tracks``: the artist's tracks' own genres (a catalogue's ``genre_raw``, FMA and
       tcc track genres, a Last.fm export's genre column), mapped onto the vocabulary.
    5. ``model`` (basis ``predicted``): the genre model behind ``encore genre`` (logistic
       regression over listeners, names and metadata, :mod:`encore.genre`), fitted on the
       artists with a genre (catalogue or steps 1-4), predicts the rest, with its
       probability. The analytics count a prediction only at or above a threshold
       (``--min-probability``).

    Steps 1-4 are **observed** evidence (a source says so); step 5 is **predicted**.

Minutes of a play without a duration (``track_minutes``, ``artist_resolution.est_ms``)
    Every track gets an estimated duration by the rules of
    :data:`encore.data.rules.DURATION_ESTIMATE`, and every artist one for plays that name
    only the artist; ``resolution_runs.global_ms`` is the last resort.

``resolution_runs`` keeps one row: when it ran, the global median, the model, and the
report (what each step added, the model's held-out accuracy, the estimates' error).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from encore.data import genres as genre_vocab
from encore.data.rules import DURATION_ESTIMATE, MS_PER_MINUTE
from encore.data.store import Store, genre_order
from encore.errors import DataError

log = logging.getLogger(__name__)

#: Observed steps, in order of trust, then the predicted one.
OBSERVED_STEPS: tuple[str, ...] = ("name", "mbid", "credit", "tracks")
PREDICTED_STEP = "model"

#: The share of labelled artists held out to measure the model before it predicts.
HOLDOUT_SHARE = 0.2

#: Default probability at or above which analytics count a predicted genre.
DEFAULT_MIN_PROBABILITY = 0.4

#: A play counts as a full listen of its track (for the "longest play" duration rule and
#: for measuring the estimates) when it is not skipped and lasted at least this long.
FULL_PLAY_MIN_MS = 30_000

_CREDIT_SPLIT = r"\s*(?:,|;|/|&|\+|\s+x\s+|\s+and\s+|\s+feat\.?\s+|\s+ft\.?\s+|\s+featuring\s+|\s+with\s+|\s+vs\.?\s+)\s*"


def key_sql(name: str) -> str:
    """SQL: the resolution key of an artist name (see the module docstring, step 1).

    Built on the store's ``enc_norm_artist`` (case, accents, "The", "feat." and
    punctuation), with "&" and "and" folded together.
    """
    return (
        f"trim(regexp_replace(regexp_replace(enc_norm_artist({name}), '\\s*&\\s*', ' and ', 'g'),"
        " '\\s+', ' ', 'g'))"
    )


def has_resolution(store: Store) -> bool:
    """Whether the store has the resolution tables and a resolution run."""
    # fetchall: a result left half-read would block the next register() on the connection
    rows = store.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'resolution_runs'"
    ).fetchall()
    if not rows or not rows[0][0]:
        return False
    n = store.execute("SELECT count(*) FROM resolution_runs").fetchall()
    return bool(n and n[0][0])


def last_run(store: Store) -> dict[str, Any] | None:
    """The last resolution run: ``resolved_at``, ``global_ms``, ``model``, ``report`` (None if never)."""
    if not has_resolution(store):
        return None
    rows = store.execute(
        "SELECT resolved_at, global_ms, model, report FROM resolution_runs "
        "ORDER BY resolved_at DESC LIMIT 1"
    ).fetchall()
    assert rows
    row = rows[0]
    return {
        "resolved_at": row[0],
        "global_ms": float(row[1]),
        "model": row[2],
        "report": json.loads(row[3]) if row[3] else {},
    }


# ------------------------------------------------------------------------ observed genres
def _vote_sql(evidence: str) -> str:
    """SQL: the best genre per artist from ``evidence`` rows ``(artist_id, genre, w)``.

    Largest total weight wins; ties go to the vocabulary's order (``_genre_order``).
    """
    return f"""
        SELECT artist_id, arg_min(genre, rk) AS genre FROM (
            SELECT ev.artist_id, ev.genre, -sum(ev.w) * 1000 + any_value(go.prio) AS rk
            FROM ({evidence}) ev JOIN _genre_order go ON go.genre = ev.genre
            WHERE ev.genre IS NOT NULL
            GROUP BY ev.artist_id, ev.genre
        ) GROUP BY artist_id
    """


def _observed_steps(store: Store) -> pd.DataFrame:
    """Artists with no catalogue genre that an observed step resolves: ``artist_id, genre, step``."""
    con = store.con
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _r_art AS
        SELECT artist_id, genre, mbid, {key_sql("name")} AS k,
               string_split_regex(lower(strip_accents(name)), '{_CREDIT_SPLIT}') AS parts
        FROM artists
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _r_done (artist_id BIGINT, genre VARCHAR, step VARCHAR)"
    )
    evidence = {
        "name": """
            SELECT u.artist_id, k.genre, 1.0 AS w FROM _r_art u
            JOIN _r_art k ON k.k = u.k AND k.artist_id <> u.artist_id AND k.genre IS NOT NULL
            WHERE u.genre IS NULL AND u.k <> ''
        """,
        "mbid": """
            SELECT u.artist_id, k.genre, 1.0 AS w FROM _r_art u
            JOIN _r_art k ON k.mbid = u.mbid AND k.artist_id <> u.artist_id AND k.genre IS NOT NULL
            WHERE u.genre IS NULL AND u.mbid IS NOT NULL AND u.mbid <> ''
        """,
        # the first credited part (in name order) whose key has a known genre
        "credit": f"""
            SELECT artist_id, genre, 1.0 AS w FROM (
                SELECT p.artist_id, g.genre,
                       row_number() OVER (PARTITION BY p.artist_id ORDER BY p.pos) AS rn
                FROM (SELECT u.artist_id, {key_sql("unnest(u.parts)")} AS pk,
                             generate_subscripts(u.parts, 1) AS pos
                      FROM _r_art u WHERE u.genre IS NULL AND len(u.parts) > 1) p
                JOIN (SELECT k, arg_min(genre, go.prio) AS genre FROM _r_art
                      JOIN _genre_order go USING (genre) GROUP BY k) g ON g.k = p.pk
                WHERE p.pk <> ''
            ) WHERE rn = 1
        """,
        "tracks": """
            SELECT t.artist_id, gm.genre, 1.0 AS w FROM tracks t
            JOIN genre_map gm ON gm.tag = t.genre_raw
            WHERE t.artist_id IS NOT NULL
            UNION ALL
            SELECT t.artist_id, m.genre, tt.weight FROM track_tags tt
            JOIN tracks t USING (track_id) JOIN _r_tagmap m ON m.tag = tt.tag
            WHERE tt.kind IN ('genre', 'user_genre', 'tag') AND t.artist_id IS NOT NULL
        """,
    }
    tags = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT tag FROM track_tags WHERE kind IN ('genre', 'user_genre', 'tag')"
        ).fetchall()
    ]
    con.register(
        "_r_tagmap_df",
        pd.DataFrame({"tag": tags, "genre": [genre_vocab.map_genre(t) for t in tags]}),
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _r_tagmap AS SELECT * FROM _r_tagmap_df")
    con.unregister("_r_tagmap_df")
    for step in OBSERVED_STEPS:
        con.execute(
            f"""
            INSERT INTO _r_done
            SELECT v.artist_id, v.genre, '{step}' FROM ({_vote_sql(evidence[step])}) v
            JOIN artists a USING (artist_id)
            WHERE a.genre IS NULL AND v.artist_id NOT IN (SELECT artist_id FROM _r_done)
            """
        )
    out = con.execute("SELECT * FROM _r_done").df()
    for t in ("_r_art", "_r_done", "_r_tagmap"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return out


# ------------------------------------------------------------------------ predicted genres
def _predict(
    store: Store,
    observed: pd.DataFrame,
    *,
    model_name: str,
    seed: int,
    max_train: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Predict a genre for every artist with plays that is still unknown.

    The model is fitted on (1 - :data:`HOLDOUT_SHARE`) of the artists with a genre
    (catalogue or observed steps), measured on the rest (accuracy overall and at each
    probability threshold), and then predicts the unknown artists that have plays.
    """
    from encore.genre.base import make_model
    from encore.genre.features import load_genre_data

    data = load_genre_data(store, "all-artists")
    labels = data.items["genre"].copy()
    found = observed.set_index("artist_id")["genre"]
    fill = data.items["item_id"].map(found)
    labels = labels.where(labels.notna(), fill)
    data.items["genre"] = labels.to_numpy()
    has_plays = {
        int(r[0])
        for r in store.execute(
            "SELECT DISTINCT COALESCE(e.artist_id, t.artist_id) FROM events e "
            "LEFT JOIN tracks t USING (track_id) WHERE COALESCE(e.artist_id, t.artist_id) IS NOT NULL"
        ).fetchall()
    }
    labelled = data.labelled
    rng = np.random.default_rng(seed)
    order = rng.permutation(labelled)
    n_test = int(len(order) * HOLDOUT_SHARE)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    if max_train is not None and len(train) > max_train:  # a small setting (tests)
        train = np.sort(rng.choice(train, size=max_train, replace=False))
    model = make_model(model_name, seed=seed)
    model.fit(data, train)
    report: dict[str, Any] = {
        "model": model_name,
        "train_artists": len(train),
        "test_artists": len(test),
    }
    if len(test):
        p = model.predict_proba(data, test)
        best = p.argmax(axis=1)
        conf = p[np.arange(len(test)), best]
        right = np.asarray(model.classes_, dtype=object)[best] == data.labels[test]
        report["holdout_accuracy"] = round(float(right.mean()), 4)
        report["by_threshold"] = [
            {
                "min_probability": t,
                "coverage": round(float((conf >= t).mean()), 4),
                "accuracy": round(float(right[conf >= t].mean()), 4) if (conf >= t).any() else None,
            }
            for t in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
        ]
    ids = data.items["item_id"].to_numpy()
    unknown = np.flatnonzero(data.items["genre"].isna().to_numpy() & np.isin(ids, list(has_plays)))
    save_model(store, model)
    if len(unknown) == 0:
        return pd.DataFrame(columns=["artist_id", "genre", "probability"]), report
    return _best(model, data, unknown), report


def _best(model: Any, data: Any, idx: np.ndarray) -> pd.DataFrame:
    """``artist_id, genre, probability``: the model's most probable genre of items ``idx``."""
    p = model.predict_proba(data, idx)
    best = p.argmax(axis=1)
    return pd.DataFrame(
        {
            "artist_id": data.items["item_id"].to_numpy()[idx].astype(np.int64),
            "genre": np.asarray(model.classes_, dtype=object)[best],
            "probability": p[np.arange(len(idx)), best],
        }
    )


def model_file(store: Store) -> Path | None:
    """Where :func:`resolve` keeps its fitted genre model: beside the store, in
    ``<store>.models/genre-resolve.npz`` (None for an in-memory store)."""
    if store.path == ":memory:":
        return None
    p = Path(store.path)
    return p.with_name(p.name + ".models") / "genre-resolve.npz"


def save_model(store: Store, model: Any) -> Path | None:
    """Keep the model :func:`resolve` fitted, for :func:`refresh` to predict new artists.

    A store whose folder cannot be written keeps no model (a warning is logged); the
    refresh then leaves new artists unknown and says so.
    """
    path = model_file(store)
    if path is None:
        return None
    try:
        return Path(model.save(path))
    except OSError as exc:
        log.warning("genre resolution: the model could not be saved to %s: %s", path, exc)
        return None


# ------------------------------------------------------------------------ minutes
def _durations(store: Store, *, measure: bool = True) -> tuple[float, dict[str, Any]]:
    """Fill ``track_minutes`` and ``artist_resolution.est_ms``; return the global median (ms).

    Rules (:data:`encore.data.rules.DURATION_ESTIMATE`): the catalogue's duration, else the
    longest full play of the track seen by anyone, else the artist's median, else the
    genre's median, else the global median (medians over tracks with one of the first two).
    """
    con = store.con
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _r_known AS
        SELECT t.track_id, t.artist_id,
               COALESCE(t.genre, a.genre, r.genre) AS genre,
               t.duration_ms AS catalogue_ms, lp.ms AS longest_ms
        FROM tracks t
        LEFT JOIN artists a ON a.artist_id = t.artist_id
        LEFT JOIN artist_resolution r ON r.artist_id = t.artist_id AND r.basis = 'observed'
        LEFT JOIN (SELECT track_id, max(ms_played) AS ms FROM events
                   WHERE track_id IS NOT NULL AND ms_played >= {FULL_PLAY_MIN_MS}
                     AND NOT COALESCE(skipped, FALSE)
                   GROUP BY track_id) lp USING (track_id)
        """
    )
    global_ms = con.execute(
        "SELECT median(COALESCE(catalogue_ms, longest_ms)) FROM _r_known "
        "WHERE catalogue_ms > 0 OR longest_ms > 0"
    ).fetchone()
    g = float(global_ms[0]) if global_ms and global_ms[0] is not None else 210_000.0
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _r_med AS
        SELECT 'artist' AS kind, CAST(artist_id AS VARCHAR) AS k,
               median(COALESCE(NULLIF(catalogue_ms, 0), longest_ms)) AS ms
        FROM _r_known WHERE artist_id IS NOT NULL AND COALESCE(NULLIF(catalogue_ms, 0), longest_ms) IS NOT NULL
        GROUP BY artist_id
        UNION ALL
        SELECT 'genre', genre, median(COALESCE(NULLIF(catalogue_ms, 0), longest_ms))
        FROM _r_known WHERE genre IS NOT NULL AND COALESCE(NULLIF(catalogue_ms, 0), longest_ms) IS NOT NULL
        GROUP BY genre
        """
    )
    terms = {
        "track_duration": "NULLIF(k.catalogue_ms, 0)",
        "longest_play": "k.longest_ms",
        "artist_median": "am.ms",
        "genre_median": "gm.ms",
        "global_median": f"{g}",
    }
    rules = [r for r, _ in DURATION_ESTIMATE]
    value = "COALESCE(" + ", ".join(terms[r] for r in rules) + ")"
    basis = (
        "CASE "
        + " ".join(f"WHEN {terms[r]} IS NOT NULL THEN '{r}'" for r in rules[:-1])
        + f" ELSE '{rules[-1]}' END"
    )
    con.execute("DELETE FROM track_minutes")
    con.execute(
        f"""
        INSERT INTO track_minutes
        SELECT k.track_id, {value}, {basis}
        FROM _r_known k
        LEFT JOIN _r_med am ON am.kind = 'artist' AND am.k = CAST(k.artist_id AS VARCHAR)
        LEFT JOIN _r_med gm ON gm.kind = 'genre' AND gm.k = k.genre
        """
    )
    con.execute(
        f"""
        UPDATE artist_resolution SET
            est_ms = COALESCE(am.ms, gm.ms, {g}),
            est_rule = CASE WHEN am.ms IS NOT NULL THEN 'artist_median'
                            WHEN gm.ms IS NOT NULL THEN 'genre_median' ELSE 'global_median' END
        FROM artist_resolution r
        LEFT JOIN artists a ON a.artist_id = r.artist_id
        LEFT JOIN _r_med am ON am.kind = 'artist' AND am.k = CAST(r.artist_id AS VARCHAR)
        LEFT JOIN _r_med gm ON gm.kind = 'genre'
             AND gm.k = COALESCE(a.genre, CASE WHEN r.basis = 'observed' THEN r.genre END)
        WHERE artist_resolution.artist_id = r.artist_id
        """
    )
    error = _estimate_error(store, g) if measure else {}
    con.execute("DROP TABLE IF EXISTS _r_known")
    con.execute("DROP TABLE IF EXISTS _r_med")
    return g, error


def _estimate_error(store: Store, global_ms: float) -> dict[str, Any]:
    """How far the estimate lands on full Spotify plays whose length is known.

    Each play's own length is hidden: its track's "longest play" is taken over the *other*
    full plays of the track (the play itself left out), the other rules as they are.
    Returns the median absolute error in minutes overall and per rule that decided.
    """
    frame = store.df(
        f"""
        WITH full_plays AS (
            SELECT e.track_id, e.ms_played,
                   row_number() OVER (PARTITION BY e.track_id ORDER BY e.ms_played DESC) AS rk
            FROM events e
            WHERE e.track_id IS NOT NULL AND e.ms_played >= {FULL_PLAY_MIN_MS}
              AND NOT COALESCE(e.skipped, FALSE) AND e.source LIKE 'spotify%'
        ), top2 AS (
            SELECT track_id, max(ms_played) FILTER (WHERE rk = 1) AS m1,
                   max(ms_played) FILTER (WHERE rk = 2) AS m2
            FROM full_plays GROUP BY track_id
        )
        SELECT f.ms_played AS truth,
               COALESCE(NULLIF(t.duration_ms, 0),
                        CASE WHEN f.rk = 1 THEN x.m2 ELSE x.m1 END,
                        r.est_ms, {global_ms}) AS est,
               CASE WHEN NULLIF(t.duration_ms, 0) IS NOT NULL THEN 'track_duration'
                    WHEN (CASE WHEN f.rk = 1 THEN x.m2 ELSE x.m1 END) IS NOT NULL THEN 'longest_play'
                    WHEN r.est_ms IS NOT NULL THEN r.est_rule ELSE 'global_median' END AS rule
        FROM full_plays f JOIN top2 x USING (track_id)
        JOIN tracks t USING (track_id)
        LEFT JOIN artist_resolution r ON r.artist_id = t.artist_id
        """
    )
    if frame.empty:
        return {"plays": 0}
    err = (frame["est"] - frame["truth"]).abs() / MS_PER_MINUTE
    out: dict[str, Any] = {
        "plays": len(frame),
        "median_abs_error_min": round(float(err.median()), 3),
        "mean_abs_error_min": round(float(err.mean()), 3),
        "by_rule": [],
    }
    for rule, part in err.groupby(frame["rule"]):
        out["by_rule"].append(
            {
                "rule": rule,
                "plays": len(part),
                "median_abs_error_min": round(float(part.median()), 3),
            }
        )
    return out


# ------------------------------------------------------------------------ report
def coverage(store: Store) -> dict[str, Any]:
    """Shares of plays by genre basis and by minutes basis (what ``encore info`` shows).

    Genre: ``observed`` (catalogue or an observed step), ``predicted`` (the model, at or
    above :data:`DEFAULT_MIN_PROBABILITY`), ``unknown``. Minutes: ``observed`` (the play
    says how long), ``estimated``, ``missing`` (no estimate: resolution never ran).
    """
    resolved = has_resolution(store)
    r_join = "LEFT JOIN artist_resolution r ON r.artist_id = p.artist_id" if resolved else ""
    pred = (
        f"r.basis = 'predicted' AND r.probability >= {DEFAULT_MIN_PROBABILITY}"
        if resolved
        else "FALSE"
    )
    obs_r = "r.basis = 'observed'" if resolved else "FALSE"
    est = "tm.track_id IS NOT NULL OR r.est_ms IS NOT NULL" if resolved else "FALSE"
    tm_join = "LEFT JOIN track_minutes tm ON tm.track_id = p.track_id" if resolved else ""
    frame = store.df(
        f"""
        SELECT p.source,
               count(*) AS plays,
               count(*) FILTER (WHERE p.genre IS NOT NULL) AS genre_catalogue,
               count(*) FILTER (WHERE p.genre IS NULL AND {obs_r}) AS genre_matched,
               count(*) FILTER (WHERE p.genre IS NULL AND {pred}) AS genre_predicted,
               count(*) FILTER (WHERE p.minutes IS NOT NULL) AS minutes_observed,
               count(*) FILTER (WHERE p.minutes IS NULL AND ({est})) AS minutes_estimated
        FROM plays p {r_join} {tm_join}
        GROUP BY ROLLUP (p.source) ORDER BY p.source NULLS FIRST
        """
    )
    rows = []
    for rec in frame.to_dict(orient="records"):
        n = max(int(rec["plays"]), 1)
        observed = int(rec["genre_catalogue"]) + int(rec["genre_matched"])
        rows.append(
            {
                "source": "(all)" if pd.isna(rec["source"]) else rec["source"],
                "plays": int(rec["plays"]),
                "genre_observed": round(observed / n, 4),
                "genre_observed_catalogue": round(int(rec["genre_catalogue"]) / n, 4),
                "genre_predicted": round(int(rec["genre_predicted"]) / n, 4),
                "genre_unknown": round(1 - (observed + int(rec["genre_predicted"])) / n, 4),
                "minutes_observed": round(int(rec["minutes_observed"]) / n, 4),
                "minutes_estimated": round(int(rec["minutes_estimated"]) / n, 4),
                "minutes_missing": round(
                    1 - (int(rec["minutes_observed"]) + int(rec["minutes_estimated"])) / n, 4
                ),
            }
        )
    return {"resolved": resolved, "by_source": rows}


def _step_report(store: Store) -> list[dict[str, Any]]:
    """Plays each step adds (plays whose catalogue genre is unknown, by the step that resolved them)."""
    frame = store.df(
        """
        SELECT COALESCE(r.step, CASE WHEN p.genre IS NOT NULL THEN 'catalogue' END) AS step,
               count(*) AS plays, count(DISTINCT p.artist_id) AS artists
        FROM plays p LEFT JOIN artist_resolution r
             ON r.artist_id = p.artist_id AND p.genre IS NULL
        GROUP BY 1
        """
    )
    total = max(int(frame["plays"].sum()), 1)
    order = ["catalogue", *OBSERVED_STEPS, PREDICTED_STEP]
    out = []
    for step in order:
        part = frame[frame["step"] == step]
        plays = int(part["plays"].sum()) if len(part) else 0
        artists = int(part["artists"].sum()) if len(part) else 0
        out.append(
            {"step": step, "artists": artists, "plays": plays, "share": round(plays / total, 4)}
        )
    rest = frame[frame["step"].isna()]
    left = int(rest["plays"].sum()) if len(rest) else 0
    out.append({"step": "unknown", "artists": None, "plays": left, "share": round(left / total, 4)})
    return out


def resolve(
    store: Store,
    *,
    predict: bool = True,
    model: str = "logreg",
    seed: int = 0,
    max_train: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Resolve genres (observed steps, then the model) and estimate minutes; store them.

    Parameters
    ----------
    store:
        A writable store (schema v5 or later).
    predict:
        Run the genre model for the artists still unknown (step ``model``).
    model:
        The genre model's name (``encore genre train --model``).
    seed:
        Seed of the hold-out split and the model.
    max_train:
        Fit the model on at most this many artists (a random sample; default all).
    progress:
        Called with a line saying which step runs (the CLI shows it).

    Returns
    -------
    dict
        The report: ``steps`` (artists and plays each step adds), ``model`` (hold-out
        accuracy by threshold), ``minutes`` (the estimates' error), ``global_ms``.

    Raises
    ------
    DataError
        The store has no artists.
    """
    say = progress or (lambda _m: None)
    if not store.execute("SELECT count(*) FROM artists").fetchall()[0][0]:
        raise DataError(
            "the store has no artists to resolve",
            hint="ingest data first, e.g. `encore ingest --all ../shared/data`",
        )
    con = store.con
    with genre_order(con):
        say("matching artists across sources")
        observed = _observed_steps(store)
        predicted = pd.DataFrame(columns=["artist_id", "genre", "probability"])
        model_report: dict[str, Any] = {}
        if predict:
            say(f"fitting the genre model ({model}) and predicting unknown artists")
            predicted, model_report = _predict(
                store, observed, model_name=model, seed=seed, max_train=max_train
            )
        rows = pd.concat(
            [
                observed.assign(basis="observed", probability=np.nan),
                predicted.assign(basis="predicted", step=PREDICTED_STEP),
            ],
            ignore_index=True,
        )
        rows = rows[["artist_id", "genre", "basis", "step", "probability"]]
        say("estimating minutes")
        with store.transaction():
            con.execute("DELETE FROM artist_resolution")
            con.execute("DELETE FROM resolution_runs")
            con.register("_r_rows", rows)
            con.execute(
                """
                INSERT INTO artist_resolution
                SELECT a.artist_id, r.genre, r.basis, r.step, r.probability, NULL, NULL
                FROM artists a LEFT JOIN _r_rows r USING (artist_id)
                """
            )
            con.unregister("_r_rows")
            global_ms, error = _durations(store)
            report = {
                "steps": _step_report(store),
                "model": model_report,
                "minutes": error,
                "global_ms": global_ms,
            }
            con.execute(
                "INSERT INTO resolution_runs VALUES (?, ?, ?, ?)",
                [
                    datetime.now(UTC).replace(tzinfo=None),
                    global_ms,
                    model if predict else None,
                    json.dumps(report),
                ],
            )
    log.info("genre resolution: %s", report["steps"])
    return report


def refresh(
    store: Store, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any] | None:
    """Bring a stored resolution up to date after an ingest, without refitting the model.

    ``encore ingest`` calls it inside its transaction (``--no-resolve`` leaves it out), so
    the analytics never count a new play as unknown or minute-less only because the
    resolution predates it. On a store that was never resolved it does nothing and
    returns None (the first resolution fits the genre model: ``encore genre resolve``).

    - the observed steps run again over every artist (new rows of one source can resolve
      artists of another);
    - an artist that was predicted and is still unknown keeps its prediction;
    - an artist with plays that is unknown and new since the last run is predicted by the
      model that :func:`resolve` saved (:func:`model_file`); without that model (a run with
      ``--no-predict``, or the file gone) it stays unknown and the report says how many;
    - every track's and artist's estimated duration is recomputed (the rules of
      :func:`_durations`; the estimates' error is not measured again).

    The run's row keeps the model's hold-out report and gets ``refreshed`` (when, what was
    added, seconds). Returns the stored report.
    """
    import time

    started = time.perf_counter()
    say = progress or (lambda _m: None)
    run = last_run(store)
    if run is None:
        return None
    con = store.con
    with genre_order(con):
        say("genre resolution: matching artists across sources")
        observed = _observed_steps(store)
        kept = store.df(
            """
            SELECT r.artist_id, r.genre, r.probability FROM artist_resolution r
            JOIN artists a USING (artist_id)
            WHERE r.basis = 'predicted' AND a.genre IS NULL
            """
        )
        kept = kept[~kept["artist_id"].isin(observed["artist_id"])]
        wanted = store.df(
            """
            SELECT DISTINCT a.artist_id FROM events e LEFT JOIN tracks t USING (track_id)
            JOIN artists a ON a.artist_id = COALESCE(e.artist_id, t.artist_id)
            WHERE a.genre IS NULL
            """
        )["artist_id"]
        new = wanted[~wanted.isin(observed["artist_id"]) & ~wanted.isin(kept["artist_id"])]
        predicted = kept
        n_new_predicted = 0
        path = model_file(store) if run["model"] else None
        if len(new) and path is not None and path.exists():
            from encore.genre.base import GenreModel
            from encore.genre.features import load_genre_data

            say(f"genre resolution: predicting {len(new):,} new artists")
            model = GenreModel.load(path)
            data = load_genre_data(
                store, None, level="artist", item_ids=new.tolist(), users=model.users_
            )
            fresh = _best(model, data, np.arange(len(data.items)))
            n_new_predicted = len(fresh)
            predicted = pd.concat([kept, fresh], ignore_index=True)
        rows = pd.concat(
            [
                observed.assign(basis="observed", probability=np.nan),
                predicted.assign(basis="predicted", step=PREDICTED_STEP),
            ],
            ignore_index=True,
        )[["artist_id", "genre", "basis", "step", "probability"]]
        say("genre resolution: estimating minutes")
        con.execute("DELETE FROM artist_resolution")
        con.register("_r_rows", rows)
        try:
            con.execute(
                """
                INSERT INTO artist_resolution
                SELECT a.artist_id, r.genre, r.basis, r.step, r.probability, NULL, NULL
                FROM artists a LEFT JOIN _r_rows r USING (artist_id)
                """
            )
        finally:
            con.unregister("_r_rows")
        global_ms, _ = _durations(store, measure=False)
        report = dict(run["report"])
        report["steps"] = _step_report(store)
        report["global_ms"] = global_ms
        report["refreshed"] = {
            "at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
            "new_artists_predicted": n_new_predicted,
            "new_artists_unpredicted": int(len(new) - n_new_predicted),
            "seconds": round(time.perf_counter() - started, 3),
        }
        con.execute("DELETE FROM resolution_runs")
        con.execute(
            "INSERT INTO resolution_runs VALUES (?, ?, ?, ?)",
            [
                datetime.now(UTC).replace(tzinfo=None),
                global_ms,
                run["model"],
                json.dumps(report),
            ],
        )
    log.info("genre resolution refreshed: %s", report["refreshed"])
    return report
