"""The recommend path: find the user, get a model (saved with the store, else fitted), answer.

Every caller (``encore recommend``, ``encore train``, the demos, and later callers)
goes through these functions, so a user is resolved, a model is loaded and a list is
named and explained in one way.

Models saved by :func:`train` live beside the store, in ``<store>.models/`` (one ``.npz``
per model, level and data selection, plus ``manifest.json`` saying when each was trained
and on how many events). :func:`recommend_for_user` reads the user's *current* events from
the store, so a listener who ingested after training still gets recommendations: the
listener model and every CF model with ``supports_fold_in`` fold them in without a refit.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from encore.data.catalogue import item_info, label
from encore.data.store import Store
from encore.data.users import resolve_user
from encore.errors import ConfigError, DataError, UnknownIdError
from encore.recommenders.base import Recommender
from encore.recommenders.for_you import Candidates, ForYou, Pick, Profile
from encore.recommenders.listeners import History
from encore.recommenders.sequence import SequenceRecommender

log = logging.getLogger(__name__)

#: The default model at track level (named tracks new to the listener) and elsewhere.
DEFAULT_TRACK_MODEL = ForYou.name
DEFAULT_MODEL = "item_knn"
MANIFEST = "manifest.json"

RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "rank",
    "item_id",
    "name",
    "artist",
    "genre",
    "score",
    "raw_score",
    "because",
)

#: Columns of a recommendation table that hold the model's own score. They order the list
#: but mean nothing to a listener (a ranker's -0.5 is not a bad match, and one model's
#: number does not compare with another's), so the table a person reads shows the rank and
#: the reason instead (:func:`for_people`); CSV, JSON and the HTTP API keep both: ``raw_score``
#: is the model's score, ``score`` the same number under the name it always had.
SCORE_COLUMNS: tuple[str, ...] = ("score", "raw_score")


def for_people(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as a person reads it: the rank and the reason, without the model's score."""
    return table.drop(columns=[c for c in SCORE_COLUMNS if c in table.columns])


def _with_raw_score(table: pd.DataFrame) -> pd.DataFrame:
    """``raw_score`` (the model's score, which ``score`` also holds) after ``score``."""
    if "score" not in table.columns or "raw_score" in table.columns:
        return table
    out = table.copy()
    out.insert(list(out.columns).index("score") + 1, "raw_score", out["score"])
    return out


Model = Recommender | ForYou


def default_model(level: str) -> str:
    """The model ``encore recommend`` uses at ``level`` when none is named."""
    return DEFAULT_TRACK_MODEL if level == "track" else DEFAULT_MODEL


def models_dir(db: str | Path) -> Path:
    """Where models trained on the store ``db`` are saved."""
    p = Path(db)
    return p.with_name(p.name + ".models")


def model_file(db: str | Path, name: str, level: str, data: str | None = None) -> Path:
    """The saved file of model ``name`` at ``level`` fitted on ``data`` (default: all)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", data) if data else "all"
    return models_dir(db) / f"{name}-{level}-{tag}.npz"


# --------------------------------------------------------------------------- users
# --------------------------------------------------------------------------- models
def _store_state(store: Store) -> dict[str, Any]:
    row = store.con.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT COALESCE(max(ingest_id), 0) FROM ingests)"
    ).fetchone()
    assert row is not None
    return {"events": int(row[0]), "last_ingest": int(row[1])}


def _read_manifest(db: str | Path) -> dict[str, Any]:
    path = models_dir(db) / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        log.warning("ignoring an unreadable %s", path)
        return {}
    return data if isinstance(data, dict) else {}


def fit_model(
    store: Store,
    name: str,
    *,
    level: str = "track",
    data: str | None = None,
    weighting: str = "log1p",
    params: dict[str, Any] | None = None,
    show_progress: bool = False,
) -> Model:
    """Fit model ``name`` on the store (``for_you``: on every listener, track level).

    Raises
    ------
    ConfigError
        ``for_you`` asked for another level than track, or with ``--data``.
    """
    if name == ForYou.name:
        if level != "track":
            raise ConfigError(
                f"{name} recommends tracks; use --level track, or another model at {level} level",
                hint=f"e.g. --model {DEFAULT_MODEL} --level {level}",
            )
        if data is not None:
            raise ConfigError(f"{name} learns from the whole store; --data does not apply")
        return ForYou.from_store(store, show_progress=show_progress, **(params or {}))
    from encore.data.matrix import build_dataset
    from encore.evaluation.runner import select_data
    from encore.recommenders.registry import get_model

    sel = select_data(store, data)
    ds = build_dataset(  # grouped by integer user keys: the matrix at scale
        store,
        level=level,
        weighting=weighting,
        source=sel.sources,
        users=sel.users,
        show_progress=show_progress,
    )
    model = get_model(name, **(params or {}))
    if isinstance(model, SequenceRecommender):  # per-event input, in time order
        from encore.recommenders.sequence import attach_events, load_events

        events = load_events(store, level=level, source=sel.sources, users=sel.users)
        ds = attach_events(ds, events)
    return model.fit(ds, show_progress=show_progress)


def load_model(path: str | Path) -> Model:
    """A model saved by :func:`train` or ``--save``: a listener model or any recommender."""
    try:
        return ForYou.load(path)
    except DataError as exc:
        if "'encore-recommender'" not in str(exc):
            raise
    return Recommender.load(path)


def train(
    store: Store,
    db: str | Path,
    names: list[str],
    *,
    level: str = "track",
    data: str | None = None,
    weighting: str = "log1p",
    show_progress: bool = False,
) -> list[tuple[str, Path, float]]:
    """Fit and save each model of ``names`` beside the store; ``(name, file, seconds)`` each."""
    out = []
    manifest = _read_manifest(db)
    state = _store_state(store)
    for name in names:
        started = time.perf_counter()
        model = fit_model(
            store, name, level=level, data=data, weighting=weighting, show_progress=show_progress
        )
        path = model.save(model_file(db, name, level, data))
        seconds = time.perf_counter() - started
        manifest[path.name] = {
            "model": name,
            "level": level,
            "data": data,
            "weighting": weighting,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "fit_seconds": round(seconds, 3),
            **state,
        }
        out.append((name, path, seconds))
    (models_dir(db) / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


@dataclass
class Loaded:
    """A model ready to answer, and how it was obtained."""

    model: Model
    how: str  # 'loaded' or 'fitted'
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def get_model_for(
    store: Store,
    db: str | Path,
    name: str,
    *,
    level: str = "track",
    data: str | None = None,
    weighting: str = "log1p",
    params: dict[str, Any] | None = None,
    model_path: str | Path | None = None,
) -> Loaded:
    """The saved model when there is one (and no ``params`` ask for another), else a fit."""
    if model_path is not None:
        return Loaded(load_model(model_path), "loaded", Path(model_path))
    path = model_file(db, name, level, data)
    if path.is_file() and not params:
        loaded = Loaded(load_model(path), "loaded", path)
        entry = _read_manifest(db).get(path.name)
        if entry is not None and entry.get("last_ingest") != _store_state(store)["last_ingest"]:
            loaded.notes.append(
                f"{path.name} was trained before the store's latest ingest: new events are "
                "folded in at request time; run `encore train` to learn from them"
            )
        return loaded
    notes = []
    if not params:
        notes.append(
            f"no saved {name} model for this store: fitted now; `encore train --model {name}"
            + ("" if level == "track" else f" --level {level}")
            + "` saves one so that later calls answer in about a second"
        )
    return Loaded(
        fit_model(store, name, level=level, data=data, weighting=weighting, params=params),
        "fitted",
        None,
        notes,
    )


# --------------------------------------------------------------------------- answers
@dataclass
class Recommendations:
    """One user's list, named and explained, with what a person should know about it."""

    user_id: str
    model: str
    level: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _frequency(plays: float, weeks: float) -> str:
    if weeks >= 1 and plays / weeks >= 1:
        return "weekly"
    if weeks >= 4 and plays / (weeks / 4.345) >= 1:
        return "monthly"
    n = round(plays)
    return f"{n} time{'s' if n != 1 else ''}"


def reason_text(pick: Pick, names: dict[int, str], titles: dict[int, str] | None = None) -> str:
    """The sentence saying which signal brought ``pick`` (``names``: artist names by id;
    ``titles``: track titles by id, for the seed of an ``audio`` pick)."""
    artist = names.get(pick.artist_id, "this artist")
    if pick.reason == "audio" and pick.seed_track_id is not None:
        seed = (titles or {}).get(pick.seed_track_id, "a track")
        return f"sounds like {seed}, which you play; nobody here has played it yet"
    if pick.reason == "more":
        if pick.artist_plays <= 0 or (pick.artist_liked and pick.artist_weeks == 0):
            return f"new from {artist}, whom you like"
        freq = _frequency(pick.artist_plays, pick.artist_weeks)
        how = (
            f"whom you play {freq}" if freq in ("weekly", "monthly") else f"whom you played {freq}"
        )
        return f"new from {artist}, {how}"
    if pick.reason == "artist_cf" and pick.contributor_artist_id is not None:
        return f"listeners of {names.get(pick.contributor_artist_id, '?')} also play {artist}"
    if pick.reason == "track_cf":
        n = pick.neighbours
        return f"{n} listener{'s' if n != 1 else ''} with taste like yours play{'s' if n == 1 else ''} it"
    if pick.reason == "genre" and pick.genre:
        return f"popular in {pick.genre}, {pick.genre_share:.0%} of your plays"
    return "popular with the listeners in this store"


#: Share of a ``for_you`` list given to tracks nobody has played, found by their sound,
#: when the store has audio embeddings (at least one slot, whenever there is a candidate).
AUDIO_SHARE = 0.1


def with_audio_picks(
    store: Store,
    user: str,
    picks: list[Pick],
    k: int,
    *,
    exclude_artists: set[int] | frozenset[int] = frozenset(),
    max_per_artist: int | None = 2,
) -> list[Pick]:
    """``picks`` with the last slots given to the audio source (tracks nobody in the store
    has played, closest in sound to the listener's; ``recommenders/cold_start.py``), within
    the same per-artist limit, none by ``exclude_artists`` (the listener's known artists
    under ``--new-artists-only``); unchanged when the store has no audio embeddings or none
    of the listener's tracks has one."""
    from encore.recommenders.cold_start import audio_picks

    n_audio = max(1, round(k * AUDIO_SHARE))
    found = audio_picks(store, user, n_audio * 5)
    if not found:
        return picks
    chosen: list[Pick] = []
    for a in found:
        if len(chosen) == n_audio:
            break
        if a.artist_id in exclude_artists:
            continue
        same = sum(p.artist_id == a.artist_id for p in chosen)
        if max_per_artist is not None and same >= max_per_artist:
            continue
        chosen.append(
            Pick(
                track_id=a.track_id,
                artist_id=a.artist_id,
                score=a.similarity,
                reason="audio",
                contributor_artist_id=None,
                artist_plays=0.0,
                artist_weeks=0.0,
                artist_liked=False,
                neighbours=0,
                genre=None,
                genre_share=0.0,
                seed_track_id=a.seed_track_id,
            )
        )
    if not chosen:
        return picks
    keep = list(picks[: max(k - len(chosen), 0)])
    # the kept picks and the audio picks share the per-artist limit
    if max_per_artist is not None:
        for artist in {c.artist_id for c in chosen}:
            n_audio_artist = sum(c.artist_id == artist for c in chosen)
            mine = [i for i, p in enumerate(keep) if p.artist_id == artist]
            while mine and len(mine) + n_audio_artist > max_per_artist:
                keep.pop(mine.pop())
    return [*keep, *chosen][:k]


def _listener_table(store: Store, picks: list[Pick]) -> pd.DataFrame:
    info = item_info(store, "track", [p.track_id for p in picks])
    artist_ids = {p.artist_id for p in picks} | {
        p.contributor_artist_id for p in picks if p.contributor_artist_id is not None
    }
    names: dict[int, str] = {}
    if artist_ids:
        frame = item_info(store, "artist", sorted(artist_ids))
        names = {int(i): str(v) for i, v in zip(frame.index, frame["name"], strict=True)}
    seeds = sorted({p.seed_track_id for p in picks if p.seed_track_id is not None})
    titles: dict[int, str] = {}
    if seeds:
        seed_info = item_info(store, "track", seeds)
        titles = {int(i): label(seed_info, i) for i in seed_info.index}
    rows = []
    for rank, p in enumerate(picks, start=1):
        row = info.loc[p.track_id] if p.track_id in info.index else None
        rows.append(
            {
                "rank": rank,
                "item_id": p.track_id,
                "name": None if row is None else row["name"],
                "artist": names.get(p.artist_id),
                "genre": p.genre,
                "score": p.score,
                "raw_score": p.score,
                "because": reason_text(p, names, titles),
            }
        )
    table = pd.DataFrame(rows, columns=list(RECOMMENDATION_COLUMNS))
    # the same column types however few rows (a --mood list names only the tracks it keeps)
    numbers = {"rank": "int64", "item_id": "int64", "score": "float64", "raw_score": "float64"}
    return table.astype({c: numbers.get(c, "str") for c in table.columns})


def recommend_for_user(
    store: Store,
    model: Model,
    user: str,
    k: int = 10,
    *,
    explain: bool = True,
    level: str = "track",
    weighting: str = "log1p",
    new_artists_only: bool = False,
    max_per_artist: int | None = 2,
    discovery_share: float | None = None,
    mood: str | None = None,
) -> Recommendations:
    """``k`` named recommendations for ``user`` with a reason each (when ``explain``).

    The user must be in the store (:func:`resolve_user`); their current events are used.
    ``mood`` (happy, angry, sad, calm; track level) keeps only tracks of that stored mood,
    drawn from a longer list of candidates (``encore.text.mood.keep_mood``).

    Raises
    ------
    UnknownIdError
        Unknown user, or one with no interactions at the model's level.
    ConfigError
        Bad ``k``; ``new_artists_only`` or ``discovery_share`` with a model other than
        ``for_you``, or a share outside [0, 1]; a model that
        cannot explain or fold in (the model's own refusal).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"-n must be a positive whole number, not {k!r}")
    if discovery_share is not None and not 0 <= discovery_share <= 1:
        raise ConfigError(f"--discovery must be between 0 and 1, not {discovery_share}")
    user = resolve_user(store, user)
    if mood is not None:
        return _mood_for_user(
            store,
            model,
            user,
            k,
            mood,
            explain=explain,
            level=level,
            weighting=weighting,
            new_artists_only=new_artists_only,
            max_per_artist=max_per_artist,
            discovery_share=discovery_share,
        )
    if isinstance(model, ForYou):
        listener = _listener_candidates(store, model, user)
        picks = _listener_picks(
            store,
            model,
            listener,
            k,
            new_artists_only=new_artists_only,
            max_per_artist=max_per_artist,
            discovery_share=discovery_share,
        )
        table = _listener_table(store, picks)
        if not explain:
            table = table.drop(columns="because")
        return Recommendations(
            user, model.name, "track", table, _listener_notes(model, user, picks, k)
        )
    if new_artists_only or discovery_share is not None:
        raise ConfigError(
            "--new-artists-only and --discovery apply to the for_you model",
            hint="use --model for_you",
        )
    return _cf_for_user(store, model, user, k, explain=explain, level=level, weighting=weighting)


@dataclass
class _Listener:
    """One listener's scored ``for_you`` candidates: everything a list of any length is
    selected from (computed once when ``--mood`` asks for a longer list)."""

    user: str
    history: History
    profile: Profile
    candidates: Candidates


def _listener_candidates(store: Store, model: ForYou, user: str) -> _Listener:
    """The listener's history, profile and candidates.

    Raises
    ------
    UnknownIdError
        The user has no plays or likes of named tracks.
    """
    from encore.recommenders.listeners import load_history

    history = load_history(store, [user])
    if history.events.empty and history.likes.empty:
        raise UnknownIdError(
            "user",
            [user],
            hint=f"{user} has no plays or likes of named tracks (artist and title known); "
            "for anonymous items use a CF model, e.g. --model item_knn or --model hybrid",
        )
    profile = model.profile(user, history.events, history.likes)
    return _Listener(user, history, profile, model.candidates(profile))


def _listener_picks(
    store: Store,
    model: ForYou,
    listener: _Listener,
    k: int,
    *,
    new_artists_only: bool,
    max_per_artist: int | None,
    discovery_share: float | None,
) -> list[Pick]:
    """The ``k`` picks of ``for_you`` from the listener's candidates, audio picks last."""
    picks = model.rank(
        listener.profile,
        listener.candidates,
        k,
        new_artists_only=new_artists_only,
        max_per_artist=max_per_artist,
        discovery_share=discovery_share,
    )
    # under --new-artists-only, no audio pick by an artist the listener played or liked
    history = listener.history
    known = (
        set(history.events["artist_id"]) | set(history.likes["artist_id"])
        if new_artists_only
        else set()
    )
    return with_audio_picks(
        store, listener.user, picks, k, exclude_artists=known, max_per_artist=max_per_artist
    )


def _listener_notes(model: ForYou, user: str, picks: list[Pick], k: int) -> list[str]:
    notes = []
    if len(picks) < k:
        notes.append(f"only {len(picks)} named tracks new to {user} were found")
    if not model.ranker_ or not model.ranker_.learned:
        notes.append("ranked by fusing the sources: too few listeners to learn a ranker")
    return notes


def _mood_for_user(
    store: Store,
    model: Model,
    user: str,
    k: int,
    mood: str,
    *,
    explain: bool,
    level: str,
    weighting: str,
    new_artists_only: bool,
    max_per_artist: int | None,
    discovery_share: float | None,
) -> Recommendations:
    """The first ``k`` tracks of ``mood`` in a longer list of the model's (``--mood``).

    The list starts at :func:`~encore.text.mood.candidates_for` ``(k)`` items and widens
    (x8 at a time, up to :data:`~encore.text.mood.MOOD_MAX_CANDIDATES`) while too few have
    the mood and the model has more. ``for_you`` scores its candidates once and selects
    each longer list from them, naming only the tracks kept; a CF model answers again.
    """
    from encore.text import mood as moodlib

    if (getattr(model, "item_level_", None) or level) != "track":
        raise ConfigError("--mood applies to track-level recommendations")
    wanted = moodlib.check_mood(store, mood)
    asked = moodlib.candidates_for(k)
    if isinstance(model, ForYou):
        listener = _listener_candidates(store, model, user)
        while True:
            picks = _listener_picks(
                store,
                model,
                listener,
                asked,
                new_artists_only=new_artists_only,
                max_per_artist=max_per_artist,
                discovery_share=discovery_share,
            )
            ids = pd.DataFrame(
                {"rank": range(1, len(picks) + 1), "item_id": [p.track_id for p in picks]}
            )
            kept, note = moodlib.keep_mood(store, ids, wanted, k)
            if len(kept) >= k or len(picks) < asked or asked >= moodlib.MOOD_MAX_CANDIDATES:
                break
            asked = min(asked * 8, moodlib.MOOD_MAX_CANDIDATES)
        by_id = {p.track_id: p for p in picks}
        table = _listener_table(store, [by_id[int(i)] for i in kept["item_id"]])
        if not explain:
            table = table.drop(columns="because")
        table = table.assign(mood=kept["mood"], mood_basis=kept["mood_basis"])
        name, notes = model.name, _listener_notes(model, user, picks, asked)
    else:
        while True:
            wide = recommend_for_user(
                store,
                model,
                user,
                asked,
                explain=explain,
                level=level,
                weighting=weighting,
                new_artists_only=new_artists_only,  # refused: for_you's options
                discovery_share=discovery_share,
            )
            table, note = moodlib.keep_mood(store, wide.table, wanted, k)
            # a short list: ask for more candidates while the model still has more to give
            if len(table) >= k or len(wide.table) < asked or asked >= moodlib.MOOD_MAX_CANDIDATES:
                break
            asked = min(asked * 8, moodlib.MOOD_MAX_CANDIDATES)
        name, notes = wide.model, list(wide.notes)
    notes.append(note)
    if len(table) < k:
        notes.append(moodlib.short_list_hint(store, wanted, model.name))
    return Recommendations(user, name, "track", table, notes)


#: The anonymous track ids of the store a process read last, by its file and generation
#: (the file's modification time, its latest ingest, its number of tracks):
#: :func:`anonymous_tracks` reads them once per generation (the HTTP service answers many
#: users from one store).
_ANONYMOUS: dict[tuple[str, int, int, int], np.ndarray] = {}


def anonymous_tracks(store: Store) -> np.ndarray:
    """The store's anonymous track ids, sorted
    (:data:`~encore.recommenders.listeners.ANONYMOUS_TRACKS`; cached per store generation)."""
    from encore.recommenders.listeners import ANONYMOUS_TRACKS

    row = store.con.execute(
        "SELECT (SELECT COALESCE(max(ingest_id), 0) FROM ingests), (SELECT count(*) FROM tracks)"
    ).fetchone()
    assert row is not None
    path = Path(store.path)
    stamp = path.stat().st_mtime_ns if path.is_file() else -1
    key = (store.path, stamp, int(row[0]), int(row[1]))
    cached = _ANONYMOUS.get(key)
    if cached is None:
        ids = store.con.execute(f"SELECT t.track_id FROM {ANONYMOUS_TRACKS}").fetchnumpy()
        cached = np.sort(np.asarray(ids["track_id"], dtype=np.int64))
        if stamp >= 0:  # an in-memory store has no file to key it by
            _ANONYMOUS.clear()  # the latest store only
            _ANONYMOUS[key] = cached
    return cached


def _named_only(store: Store, model: Recommender, user: str, level: str) -> list[Any] | None:
    """At track level, the model's named tracks, when ``user`` played or liked one.

    A store mixes named catalogues with anonymous ones (JODIE's ``jodie song N``): a CF
    model trained on all of it may rank anonymous tracks for a listener whose history is
    named, which gives them nothing they can look up. Such a listener is recommended named
    tracks only; a user whose whole history is anonymous keeps the anonymous items.
    ``None``: no restriction.

    It reads the store's *anonymous* tracks (:func:`anonymous_tracks`, once per store
    generation), not the named ones: on the make-demo store 26,775 ids against 119,798.
    """
    if level != "track" or model.item_map_ is None:
        return None
    unnamed = anonymous_tracks(store)
    if not len(unnamed):
        return None
    mine = store.con.execute(
        """
        SELECT track_id FROM events WHERE user_id = $u AND track_id IS NOT NULL
        UNION
        SELECT entity_id FROM likes WHERE user_id = $u AND entity_type = 'track'
        """,
        {"u": user},
    ).fetchnumpy()["track_id"]
    # a track id of the user's is named unless anonymous (events and likes name stored tracks)
    if not np.isin(mine, unnamed, invert=True).any():
        return None
    known = np.asarray(model.item_map_.external_ids)
    keep = known[~np.isin(known, unnamed)]
    if len(keep) == len(known):
        return None
    return keep.tolist()


def _cf_for_user(
    store: Store,
    model: Recommender,
    user: str,
    k: int,
    *,
    explain: bool,
    level: str,
    weighting: str,
) -> Recommendations:
    from encore.data.dataset import build_interactions

    lvl = model.item_level_ or level
    assert model.user_map_ is not None
    notes: list[str] = []
    named = _named_only(store, model, user, lvl)
    if named is not None and model.item_map_ is not None:
        notes.append(
            f"named tracks only ({len(named):,} of the model's {len(model.item_map_.external_ids):,}): "
            f"{user} plays named tracks, the rest are anonymous"
        )
    if isinstance(model, SequenceRecommender):
        return _sequence_for_user(
            store, model, user, k, explain=explain, level=lvl, items=named, notes=notes
        )
    fold_in: pd.DataFrame | None = None
    if user in model.user_map_:
        fold_in = _changed_since_fit(store, model, user, lvl, weighting)
        if fold_in is None:
            recs = model.recommend([user], k=k, items=named)
        else:
            recs = model.recommend_for_interactions(fold_in.assign(user_id=user), k=k, items=named)
            notes.append(
                f"{user}'s interactions changed since training: folded in from the "
                f"{len(fold_in):,} now in the store, no refit"
            )
    else:
        try:
            fold_in = build_interactions(store, level=lvl, weighting=weighting, users=[user])
        except DataError:
            source = store.scalar("SELECT source FROM users WHERE user_id = ?", [user])
            hint = (
                f"{user} ({source}) has no {lvl}-level interactions; try --level artist"
                if lvl != "artist"
                else f"{user} has no {lvl}-level interactions in the store"
            )
            raise UnknownIdError("user", [user], hint=hint) from None
        recs = model.recommend_for_interactions(fold_in.assign(user_id=user), k=k, items=named)
        notes.append(f"{user} was unseen at fit time: folded in from {len(fold_in):,} interactions")
    ids = list(recs["item_id"])
    why: pd.DataFrame | None = None
    if explain:
        why = (
            model.explain(user, ids, n=3)
            if fold_in is None
            else model.explain_interactions(fold_in, ids, n=3)
        )
        ids += list(why["contributor_item_id"])
    info = item_info(store, lvl, ids)
    table = _with_raw_score(
        recs.join(info, on="item_id")[["rank", "item_id", "name", "artist", "genre", "score"]]
    )
    if why is not None:
        because = (
            why.assign(
                label=[
                    f"{label(info, c)} ({v:.3g})"
                    for c, v in zip(why["contributor_item_id"], why["contribution"], strict=True)
                ]
            )
            .groupby("item_id")["label"]
            .agg("; ".join)
        )
        table["because"] = table["item_id"].map(because).fillna("")
    if lvl == "artist":
        table = table.drop(columns="artist")
    return Recommendations(user, model.name, lvl, table.reset_index(drop=True), notes)


def _changed_since_fit(
    store: Store, model: Recommender, user: str, level: str, weighting: str
) -> pd.DataFrame | None:
    """The user's current interactions when they differ from the model's row for them
    (events ingested or posted after training), else None.

    Only for models that fold in (``supports_fold_in``); the others answer from the row they
    were fitted on. Items the model does not know cannot enter the row and are ignored, so
    an unchanged row keeps the fitted answer exactly (ALS's fitted factors, not a re-solve).
    """
    from encore.data.dataset import build_interactions, rows_from_interactions

    if not getattr(model, "supports_fold_in", False):  # the hybrid decides per instance
        return None
    assert model.user_map_ is not None and model.item_map_ is not None
    assert model.user_items_ is not None
    try:
        now = build_interactions(store, level=level, weighting=weighting, users=[user])
    except DataError:  # nothing of theirs at this level any more: keep the fitted row
        return None
    _, rows = rows_from_interactions(model.item_map_, now.assign(user_id=user))
    current = sp.csr_matrix(rows[0])
    fitted = sp.csr_matrix(model.user_items_[model.user_map_.to_internal([user])])
    current.sort_indices()
    fitted.sort_indices()
    same = np.array_equal(current.indices, fitted.indices) and np.allclose(
        current.data, fitted.data, rtol=1e-5, atol=1e-6
    )
    return None if same else now


def _sequence_for_user(
    store: Store,
    model: SequenceRecommender,
    user: str,
    k: int,
    *,
    explain: bool,
    level: str,
    items: list[Any] | None = None,
    notes: list[str] | None = None,
) -> Recommendations:
    """A sequence model's list from the user's latest events, read from the store now (so
    events ingested after training count without a refit)."""
    from encore.recommenders.sequence import load_events

    if explain:
        model.require("explain")
    # the latest events only (a margin for items the model does not know); all of them when
    # too few of those are known
    margin = 4 * model.history_length
    events = load_events(store, level=level, users=[user], last=margin)
    known = events["item_id"].isin(model.item_map_.external_ids) if model.item_map_ else None
    if len(events) == margin and known is not None and known.sum() < model.history_length:
        events = load_events(store, level=level, users=[user])
        known = events["item_id"].isin(model.item_map_.external_ids) if model.item_map_ else None
    if events.empty or known is None or not known.any():
        raise UnknownIdError(
            "user",
            [user],
            hint=f"{user} has no dated {level}-level events with items {model.name} knows; "
            "a CF model (e.g. --model item_knn) also uses undated likes and play counts",
        )
    recs = model.recommend_for_events(events, k=k, items=items)
    notes = [
        *(notes or []),
        f"from {user}'s latest {min(int(known.sum()), model.history_length):,} events "
        f"(last {events['ts'].max():%Y-%m-%d %H:%M}), read at request time",
    ]
    if user not in model.user_map_:  # type: ignore[operator]
        notes.append(f"{user} was unseen at fit time: answered from their events, no refit")
    info = item_info(store, level, list(recs["item_id"]))
    table = _with_raw_score(
        recs.join(info, on="item_id")[["rank", "item_id", "name", "artist", "genre", "score"]]
    )
    if level == "artist":
        table = table.drop(columns="artist")
    return Recommendations(user, model.name, level, table.reset_index(drop=True), notes)


def recommend_all(store: Store, model: Model, k: int, *, level: str = "track") -> pd.DataFrame:
    """Lists for every user the model knows (``for_you``: every listener), named."""
    if isinstance(model, ForYou):
        from encore.recommenders.for_you import by_user
        from encore.recommenders.listeners import load_history

        history = load_history(store)
        likes = by_user(history.likes)
        frames = []
        for user, events in by_user(history.events).items():
            picks = model.recommend(user, events, likes.get(user, history.likes.iloc[:0]), k)
            frames.append(_listener_table(store, picks).assign(user_id=user))
        if not frames:
            return pd.DataFrame(columns=["user_id", *RECOMMENDATION_COLUMNS])
        out = pd.concat(frames, ignore_index=True)
        return out[["user_id", *RECOMMENDATION_COLUMNS]]
    assert model.user_map_ is not None
    recs = model.recommend(model.user_map_.external_ids, k=k)
    info = item_info(store, model.item_level_ or level, np.asarray(recs["item_id"].unique()))
    return _with_raw_score(recs.join(info, on="item_id"))
