"""Genre models on real data: baselines, classifiers, the VAE, prediction and write-back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encore.data.store import Store
from encore.errors import ConfigError, NotFittedError, UnknownIdError
from encore.genre.base import load_model, make_model, model_path
from encore.genre.evaluate import ModelSpec, artist_split, evaluate, scores
from encore.genre.features import GenreData
from encore.genre.predict import predict_new, predict_store_items, write_predictions


def test_scores_known_answer() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    s = scores(["a", "b", "a", "c"], proba, ["a", "b", "c"], k=2)
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["top2_accuracy"] == pytest.approx(0.5)  # item 3 (a) has a in 3rd place, item 4 (c) 3rd
    assert 0 < s["macro_f1"] < 1


def test_classifier_beats_majority_on_hetrec_artist_split(hetrec: GenreData) -> None:
    res = evaluate(
        hetrec,
        [
            ModelSpec("majority"),
            ModelSpec("artist_prior"),
            ModelSpec("logreg", {"groups": ("collab",), "n_factors": 16}, "logreg"),
        ],
        split="artist",
        seed=0,
    )
    t = res.table.set_index("model")
    assert t.loc["logreg", "accuracy"] > t.loc["majority", "accuracy"] + 0.15
    assert t.loc["logreg", "macro_f1"] > 3 * t.loc["majority", "macro_f1"]
    assert t.loc["logreg", "top3_accuracy"] > t.loc["logreg", "accuracy"]
    # artist-level items: the artist prior has nothing to borrow, it is the majority class
    assert t.loc["artist_prior", "accuracy"] == pytest.approx(t.loc["majority", "accuracy"])
    assert (t["test_artists_in_train"] == 0).all()
    pg = res.per_genre()
    assert set(pg["model"]) == {"majority", "artist_prior", "logreg"}
    assert pg["f1"].between(0, 1).all()


def test_artist_prior_uses_other_tracks_of_the_artist(tcc: GenreData) -> None:
    res = evaluate(tcc, [ModelSpec("majority"), ModelSpec("artist_prior")], split="time")
    t = res.table.set_index("model")
    assert t.loc["artist_prior", "test_artists_in_train"] > 0
    assert t.loc["artist_prior", "accuracy"] >= t.loc["majority", "accuracy"]
    assert "artist known" in t.loc["artist_prior", "note"]


def test_lightgbm_and_text_groups_on_tcc(tcc: GenreData) -> None:
    tr, te = artist_split(tcc, seed=0)
    y = tcc.labels[te]
    maj = make_model("majority").fit(tcc, tr)
    gbm = make_model("lightgbm", n_estimators=30, n_jobs=1, groups=("text", "meta")).fit(tcc, tr)
    p_maj, p_gbm = maj.predict_proba(tcc, te), gbm.predict_proba(tcc, te)
    assert np.allclose(p_gbm.sum(axis=1), 1)
    s_maj, s_gbm = scores(y, p_maj, maj.classes_), scores(y, p_gbm, gbm.classes_)
    assert s_gbm["macro_f1"] > s_maj["macro_f1"]


def test_vae_semi_supervised_is_seeded_and_records_its_curve(
    hetrec: GenreData, tmp_path: Path
) -> None:
    sub = hetrec.subset(np.arange(1500))
    tr, te = artist_split(sub, seed=0)
    unl = np.flatnonzero(sub.items["genre"].isna().to_numpy())
    assert len(unl) > 0
    opts = {"epochs": 8, "patience": 20, "hidden": 64, "latent": 16, "batch_size": 64}
    a = make_model("vae", seed=1, **opts).fit(sub, tr, unl)
    b = make_model("vae", seed=1, **opts).fit(sub, tr, unl)
    pa, pb = a.predict_proba(sub, te), b.predict_proba(sub, te)
    np.testing.assert_allclose(pa, pb, atol=1e-6)
    hist = a.history_  # type: ignore[attr-defined]
    assert len(hist.rows) == 8 and {"train_loss", "val_loss", "val_ce"} <= set(hist.frame().columns)
    assert hist.rows[-1]["train_loss"] < hist.rows[0]["train_loss"]
    files = a.save_curve(tmp_path)  # type: ignore[attr-defined]
    assert all(f.exists() and f.stat().st_size > 0 for f in files)
    maj = make_model("majority").fit(sub, tr)
    assert (
        scores(sub.labels[te], pa, a.classes_)["accuracy"]
        > scores(sub.labels[te], maj.predict_proba(sub, te), maj.classes_)["accuracy"]
    )


def test_predict_new_track_and_write_back(
    genre_db: Path, writable_db: Path, tcc: GenreData, tmp_path: Path
) -> None:
    model = make_model("logreg", groups=("text", "meta")).fit(tcc, tcc.labelled[::3])
    model.save(model_path(tmp_path, "logreg", "tcc_ceds"))
    loaded = load_model(tmp_path, "logreg", "tcc_ceds")
    new = predict_new(
        loaded, artist="Johnny Cash", title="Folsom Prison Blues", release_year=1955, k=3
    )
    assert list(new["rank"]) == [1, 2, 3]
    assert new["probability"].is_monotonic_decreasing and new["probability"].sum() <= 1 + 1e-9
    with pytest.raises(ConfigError):
        predict_new(loaded)
    with Store(writable_db) as store:
        known = int(tcc.items["item_id"].iloc[0])
        store.execute(
            "UPDATE tracks SET genre = NULL WHERE track_id = ?", [int(tcc.items["item_id"].iloc[1])]
        )
        unknown = int(tcc.items["item_id"].iloc[1])
        frame = predict_store_items(store, loaded, [known, unknown], k=2)
        assert len(frame) == 4
        before = store.df("SELECT track_id, genre FROM tracks ORDER BY track_id")
        res = write_predictions(store, loaded, frame)
        assert res == {"written": 1, "skipped_known": 1}
        rows = store.df("SELECT * FROM predicted_genres")
        assert rows["entity_id"].tolist() == [unknown] and rows["model"].iloc[0].startswith(
            "logreg"
        )
        after = store.df("SELECT track_id, genre FROM tracks ORDER BY track_id")
        assert before.equals(after)  # known genres untouched, predictions kept apart
        with pytest.raises(UnknownIdError):
            predict_store_items(store, loaded, [10**12])
    with pytest.raises(NotFittedError):
        load_model(tmp_path, "vae", "tcc_ceds")
