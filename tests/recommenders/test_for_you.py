"""The listener recommender: named, new tracks with reasons, on the real listening histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encore.data.store import Store
from encore.errors import DataError
from encore.recommenders.for_you import (
    ForYou,
    ForYouConfig,
    build_population,
    build_profile,
    by_user,
    candidates,
    select,
)
from encore.recommenders.listeners import (
    Catalogue,
    History,
    load_catalogue,
    load_community,
    load_history,
    time_cutoffs,
)

pytest.importorskip("lightgbm")

#: Small settings so that a fit takes seconds (said as such: one training cut, 60 trees).
SMALL = {"train_cuts": (0.75,), "n_estimators": 60}


@pytest.fixture(scope="module")
def data(listeners_db: Path) -> tuple[History, Catalogue, pd.DataFrame]:
    with Store(listeners_db, read_only=True) as store:
        return load_history(store), load_catalogue(store), load_community(store)


@pytest.fixture(scope="module")
def model(data: tuple[History, Catalogue, pd.DataFrame]) -> ForYou:
    return ForYou(**SMALL).fit(*data)


def _songs(store: Store, user: str) -> set[str]:
    rows = store.con.execute(
        """SELECT DISTINCT a.name_norm || '|' || t.title_norm FROM events e
           JOIN tracks t USING (track_id) JOIN artists a ON a.artist_id = t.artist_id
           WHERE e.user_id = ?""",
        [user],
    ).fetchall()
    return {r[0] for r in rows}


def test_lists_are_named_new_capped_and_explained(
    model: ForYou, data: tuple[History, Catalogue, pd.DataFrame], listeners_db: Path
) -> None:
    history = data[0]
    ev, lk = by_user(history.events), by_user(history.likes)
    assert model.trained_on_["learned_ranker"] is True
    with Store(listeners_db, read_only=True) as store:
        for user in ("lh:user_05", "lh:user_13", "lh:user_03"):
            picks = model.recommend(user, ev[user], lk.get(user, history.likes.iloc[:0]), 20)
            assert len(picks) == 20
            ids = [p.track_id for p in picks]
            named = store.con.execute(
                """SELECT t.track_id, a.name_norm || '|' || t.title_norm, t.title, a.name
                   FROM tracks t JOIN artists a USING (artist_id) WHERE t.track_id = ANY($ids)""",
                {"ids": ids},
            ).df()
            assert len(named) == 20 and named["title"].notna().all() and named["name"].notna().all()
            assert not set(named.iloc[:, 1]) & _songs(store, user), "a recommended song was heard"
            assert len(set(named.iloc[:, 1])) == 20, "the same song twice"
            per_artist = pd.Series([p.artist_id for p in picks]).value_counts()
            assert per_artist.max() <= 2
            assert {p.reason for p in picks} <= {
                "more",
                "artist_cf",
                "track_cf",
                "genre",
                "popular",
            }
            # 40 % of the list is for artists the listener never played
            played = set(ev[user]["artist_id"])
            assert sum(p.artist_id not in played for p in picks) >= 8


def test_discovery_share_bounds_the_new_artists(
    model: ForYou, data: tuple[History, Catalogue, pd.DataFrame]
) -> None:
    history = data[0]
    ev, lk = by_user(history.events), by_user(history.likes)
    user = "lh:user_13"
    played = set(ev[user]["artist_id"]) | set(lk[user]["artist_id"])
    for share, n_new in ((0.0, 0), (0.5, 5), (1.0, 10)):
        picks = model.recommend(user, ev[user], lk[user], 10, discovery_share=share)
        assert len(picks) == 10
        assert sum(p.artist_id not in played for p in picks) == n_new


def test_new_artists_only(model: ForYou, data: tuple[History, Catalogue, pd.DataFrame]) -> None:
    history = data[0]
    ev, lk = by_user(history.events), by_user(history.likes)
    user = "lh:user_13"  # has liked tracks and artists
    picks = model.recommend(user, ev[user], lk[user], 15, new_artists_only=True, max_per_artist=1)
    mine = set(ev[user]["artist_id"]) | set(lk[user]["artist_id"])
    assert len(picks) == 15
    assert all(p.artist_id not in mine for p in picks)
    assert len({p.artist_id for p in picks}) == 15
    assert any(p.reason == "artist_cf" and p.contributor_artist_id in mine for p in picks)


def test_a_listener_unseen_at_training_is_folded_in(
    data: tuple[History, Catalogue, pd.DataFrame],
) -> None:
    history, catalogue, community = data
    user = "lh:user_06"
    others = [u for u in history.users if u != user]
    model = ForYou(**SMALL).fit(history.of(others), catalogue, community)
    assert user not in set(model.population_.listener_ids)  # type: ignore[union-attr]
    ev = by_user(history.events)[user]
    picks = model.recommend(user, ev, history.likes.iloc[:0], 10)
    assert len(picks) == 10
    heard = set(catalogue.song[catalogue.index(ev["track_id"].to_numpy())])
    assert not {int(catalogue.song[catalogue.index([p.track_id])[0]]) for p in picks} & heard


def test_save_load_same_answers(
    model: ForYou, data: tuple[History, Catalogue, pd.DataFrame], tmp_path: Path
) -> None:
    history = data[0]
    ev = by_user(history.events)["lh:user_09"]
    path = model.save(tmp_path / "for_you")
    loaded = ForYou.load(path)
    a = model.recommend("lh:user_09", ev, history.likes.iloc[:0], 20)
    b = loaded.recommend("lh:user_09", ev, history.likes.iloc[:0], 20)
    assert [(p.track_id, p.reason) for p in a] == [(p.track_id, p.reason) for p in b]
    np.testing.assert_allclose([p.score for p in a], [p.score for p in b])
    with pytest.raises(DataError, match="encore-listener-model"):
        from encore.persistence import save_archive

        other = save_archive(
            tmp_path / "other", family="encore-genre-model", format_version=1, header={}, arrays={}
        )
        ForYou.load(other)
    # a model saved before the album features (format 1) reads other columns: refused
    from encore.persistence import load_archive, save_archive

    header, arrays = load_archive(path, family="encore-listener-model", format_version=2)
    old = save_archive(
        tmp_path / "old",
        family="encore-listener-model",
        format_version=1,
        header={k: v for k, v in header.items() if k not in ("format", "format_version")},
        arrays=arrays,
    )
    with pytest.raises(DataError, match="encore train"):
        ForYou.load(old)


def test_album_affinity_reaches_the_tracks_of_albums_the_listener_plays(
    model: ForYou, data: tuple[History, Catalogue, pd.DataFrame]
) -> None:
    history, catalogue, _ = data
    ev = by_user(history.events)["lh:user_05"]
    prof = model.profile("lh:user_05", ev, history.likes.iloc[:0])
    assert len(prof.album_ids) > 10 and prof.album_plays.sum() > 0
    c = model.candidates(prof)
    on_album = c.features["album_plays_log"].to_numpy() > 0
    assert on_album.any()
    assert catalogue.album is not None
    albums = catalogue.album[c.rows]
    assert np.isin(albums[on_album], prof.album_ids).all()
    assert not np.isin(albums[~on_album & (albums >= 0)], prof.album_ids).any()
    expected = np.log1p(prof.album_plays[np.searchsorted(prof.album_ids, albums[on_album])])
    np.testing.assert_allclose(c.features["album_plays_log"].to_numpy()[on_album], expected)


def _tiny() -> tuple[History, Catalogue]:
    """Two listeners; track 3 is track 1's song under another source's id."""
    ts = pd.Timestamp("2024-01-01")
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "b", "b"],
            "track_id": [1, 2, 1, 2, 4, 5],
            "artist_id": [10, 10, 10, 10, 20, 10],
            "ts": [ts + pd.Timedelta(days=i) for i in range(6)],
            "skipped": [False] * 6,
        }
    )
    likes = pd.DataFrame({"user_id": [], "track_id": [], "artist_id": []}).astype(np.int64)
    catalogue = Catalogue(
        track_id=np.array([1, 2, 3, 4, 5], dtype=np.int64),
        artist_id=np.array([10, 10, 10, 20, 10], dtype=np.int64),
        song=np.array([0, 1, 0, 2, 3], dtype=np.int64),
        genre=np.array([0, 0, 0, 1, 0], dtype=np.int32),
        genres=("rock", "jazz"),
    )
    return History(events, likes), catalogue


def test_a_song_heard_under_another_id_is_not_new() -> None:
    history, catalogue = _tiny()
    community = pd.DataFrame({"user_id": [], "artist_id": [], "plays": []})
    pop = build_population(history, catalogue, community)
    config = ForYouConfig()
    ev = by_user(history.events)["a"]
    prof = build_profile("a", ev, history.likes, catalogue, pop, config)
    c = candidates(prof, catalogue, pop, config)
    tracks = set(catalogue.track_id[c.rows])
    assert 3 not in tracks and 1 not in tracks and 2 not in tracks
    assert {4, 5} <= tracks  # b's other tracks: one by a's artist, one by a new artist


def test_no_genre_and_no_community_still_answers() -> None:
    history, catalogue = _tiny()
    unknown = Catalogue(
        catalogue.track_id,
        catalogue.artist_id,
        catalogue.song,
        np.full(len(catalogue), -1, dtype=np.int32),
        (),
    )
    community = pd.DataFrame({"user_id": [], "artist_id": [], "plays": []})
    model = ForYou(train_cuts=(0.5,)).fit(history, unknown, community)
    assert {
        p.track_id for p in model.recommend("a", by_user(history.events)["a"], history.likes, 5)
    } == {4, 5}


def test_too_few_listeners_fall_back_to_fusion() -> None:
    history, catalogue = _tiny()
    community = pd.DataFrame({"user_id": [], "artist_id": [], "plays": []})
    model = ForYou(train_cuts=(0.5,)).fit(history, catalogue, community)
    assert model.ranker_ is not None and not model.ranker_.learned
    picks = model.recommend("a", by_user(history.events)["a"], history.likes, 5)
    assert {p.track_id for p in picks} == {4, 5}


def test_select_caps_artists_and_respects_allowed() -> None:
    order = np.arange(6)
    artists = np.array([1, 1, 1, 2, 2, 3])
    assert list(select(order, artists, 10, max_per_artist=2)) == [0, 1, 3, 4, 5]
    allowed = np.array([False, True, True, True, True, True])
    assert list(select(order, artists, 3, max_per_artist=1, allowed=allowed)) == [1, 3, 5]
    assert list(select(order, artists, 0, max_per_artist=None)) == []


def test_time_cutoffs_split_each_user() -> None:
    history, _ = _tiny()
    cuts = time_cutoffs(history.events, 0.5)
    before, after = history.before(cuts), history.after(cuts)
    assert len(before.events) + len(after) == len(history.events)
    for user, cut in cuts.items():
        assert (before.events.loc[before.events["user_id"] == user, "ts"] < cut).all()
        assert (after.loc[after["user_id"] == user, "ts"] >= cut).all()
