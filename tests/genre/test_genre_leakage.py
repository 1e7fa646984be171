"""Leakage: the hidden item's genre and genre tags never reach its features; splits are disjoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from encore.data.store import Store
from encore.genre.evaluate import artist_split, time_split
from encore.genre.features import (
    FeatureBuilder,
    GenreData,
    listener_genre_features,
    listener_profiles,
    load_genre_data,
)


def _hide(data: GenreData, idx: np.ndarray, value: str | None) -> GenreData:
    items = data.items.copy()
    items.loc[idx, "genre"] = value
    return replace(data, items=items, _cache=dict(data._cache))


def test_artist_split_is_artist_disjoint(hetrec: GenreData, tcc: GenreData) -> None:
    for data in (hetrec, tcc):
        tr, te = artist_split(data, seed=3)
        arts = data.items["artist_id"].to_numpy()
        assert len(tr) and len(te)
        assert not set(arts[tr]) & set(arts[te])
        assert not set(tr) & set(te)
        assert data.items["genre"].iloc[np.concatenate([tr, te])].notna().all()


def test_time_split_orders_release_years(tcc: GenreData) -> None:
    tr, te = time_split(tcc)
    years = tcc.items["release_year"].to_numpy(dtype=float)
    assert years[tr].max() < years[te].min()
    assert len(te) > 0.1 * len(tr)


def test_test_item_features_do_not_depend_on_its_label(tcc: GenreData) -> None:
    """Changing (or removing) the hidden items' labels leaves their features unchanged."""
    tr, te = artist_split(tcc, seed=0)
    fb = FeatureBuilder(n_factors=0).fit(tcc, tr, sorted(set(tcc.labels[tr])))
    before = fb.transform(tcc, te).toarray()
    for value in (None, "jazz"):
        other = _hide(tcc, te, value)
        fb2 = FeatureBuilder(n_factors=0).fit(other, tr, sorted(set(tcc.labels[tr])))
        np.testing.assert_array_equal(before, fb2.transform(other, te).toarray())


def test_training_item_listener_features_leave_its_artist_out(hetrec: GenreData) -> None:
    """A training artist's 'listeners' favourite genres' do not move when its own label changes."""
    tr, _ = artist_split(hetrec, seed=0)
    classes = sorted(set(hetrec.labels[tr]))
    listened = tr[hetrec.listens[tr].getnnz(axis=1) > 3][:50]
    prof = listener_profiles(hetrec.listens, hetrec.labels, tr, classes)
    base = listener_genre_features(hetrec, listened, prof, tr, classes)
    for pos in listened[:10]:
        new_label = "classical" if hetrec.labels[pos] != "classical" else "jazz"
        other = _hide(hetrec, np.array([pos]), new_label)
        prof2 = listener_profiles(other.listens, other.labels, tr, classes)
        feat = listener_genre_features(other, np.array([pos]), prof2, tr, classes)
        np.testing.assert_allclose(feat[0], base[list(listened).index(pos)], atol=1e-9)
    # and the profiles really do carry genre information (the test is not vacuous)
    assert base[:, :-1].sum(axis=1).max() > 0.99


def test_features_ignore_the_items_own_tags(writable_db: Path) -> None:
    """On HetRec the label comes from the artist's tags: deleting a test artist's tags
    (which hides its genre) must not change its features."""
    with Store(writable_db) as store:
        data = load_genre_data(store, "hetrec")
        tr, te = artist_split(data, seed=1)
        te = te[:300]
        classes = sorted(set(data.labels[tr]))
        fb = FeatureBuilder(n_factors=0).fit(data, tr, classes)
        before = fb.transform(data, te).toarray()
        ids = data.items["item_id"].to_numpy()[te].tolist()
        store.execute(
            "DELETE FROM artist_tags WHERE artist_id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
        store.execute(
            "UPDATE artists SET genre = NULL WHERE artist_id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
        after_data = load_genre_data(store, "hetrec")
    assert after_data.items.set_index("item_id").loc[ids, "genre"].isna().all()
    pos = {v: i for i, v in enumerate(after_data.items["item_id"].to_numpy())}
    te2 = np.array([pos[i] for i in ids])
    np.testing.assert_array_equal(before, fb.transform(after_data, te2).toarray())
    # every feature comes from a known, tag-free family
    families = (
        "listeners_",
        "log_listeners",
        "als_",
        "char_",
        "word_",
        "lyrics_",
        "t_",
        "a_",
        "has_",
        "release_year",
        "duration_min",
        "log_tracks",
        "language=",
        "country=",
    )
    assert all(n.startswith(families) for n in fb.feature_names_)
