"""``GET /genre/predict`` reads the model saved beside the service's store: 409 naming the
command before one is saved, 200 once ``make demo``'s genre step has saved its default model
(logreg on every labelled HetRec artist, the same function the step runs), a model of the
shared folder of earlier versions with a note on the server's stderr only; names of a store
artist are predicted from its listeners, as ``encore genre predict`` does.

Real data, small settings said as such: a store of HetRec Last.fm 2K alone (3 s to build);
the demo step's fit is the real one (about 20 s); the shared-folder case uses ``majority``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")


from encore.data.ingest import ingest
from encore.data.sources import get_loader
from encore.data.store import Store
from encore.genre.saved import DEFAULT_DATASET, DEFAULT_MODEL, shared_dir


@pytest.fixture(scope="module")
def hetrec_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store of HetRec Last.fm 2K (1,892 listeners, 17,632 artists), as ``make demo``'s
    genre step reads it."""
    db = tmp_path_factory.mktemp("genre-route") / "store.duckdb"
    with Store(db) as store:
        ingest(store, get_loader("hetrec2011"), shared_data / "hetrec2011-lastfm-2k")
    return db


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: Any) -> Any:
    """Clients on ``encore serve``'s app (the ``service`` fixture); an empty
    ``ENCORE_CACHE`` (the machine's own shared folder is never read) and no
    ``ENCORE_GENRE_MODELS``."""
    monkeypatch.setenv("ENCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ENCORE_GENRE_MODELS", raising=False)
    return service


def _artist(db: Path) -> int:
    with Store(db, read_only=True) as store:
        row = store.execute(
            "SELECT artist_id FROM artists WHERE genre IS NULL ORDER BY artist_id LIMIT 1"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_409_then_200_after_the_demo_steps_save(hetrec_db: Path, serve: Any) -> None:
    from encore.genre.demo import save_served_model
    from encore.genre.features import load_genre_data

    item = _artist(hetrec_db)
    with Store(hetrec_db, read_only=True) as store:  # before the service opens the store
        data = load_genre_data(store, DEFAULT_DATASET)
    client = serve(hetrec_db)
    query = {"artist": "Ensemble Baroque de Paris"}
    r = client.get("/genre/predict", params=query)
    assert r.status_code == 409, r.text
    body = r.json()
    assert "no trained genre model 'logreg' for dataset 'hetrec'" in body["detail"]
    assert "encore genre train --model logreg --dataset hetrec" in body["hint"]
    assert "operator" in body["hint"] and "on the server" in body["detail"]
    assert str(hetrec_db.parent) not in r.text  # the server's folders are not the client's

    model, path = save_served_model(hetrec_db, data)
    assert path == Path(f"{hetrec_db}.models") / "genre" / f"{DEFAULT_MODEL}-{DEFAULT_DATASET}.npz"
    assert (model.name, model.dataset_) == (DEFAULT_MODEL, DEFAULT_DATASET)
    assert len(model.classes_) > 10 and len(data.labelled) > 10_000  # every labelled artist

    # the same running service answers now (the model is looked up per request)
    r = client.get("/genre/predict", params=query)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["model"], answer["dataset"]) == ("logreg", "hetrec")
    ranked = answer["predictions"]
    assert [g["rank"] for g in ranked] == [1, 2, 3]
    assert all(0 < g["probability"] <= 1 for g in ranked)
    assert ranked[0]["probability"] >= ranked[-1]["probability"]

    r = client.get("/genre/predict", params={"item_id": item, "k": 5})
    assert r.status_code == 200, r.text
    guesses = r.json()["predictions"]
    assert len(guesses) == 5 and {g["item_id"] for g in guesses} == {item}
    assert guesses[0]["known_genre"] is None  # an artist with no genre tag

    # names of an artist the store has: from its listeners, as its id (the CLI does so too)
    r = client.get("/genre/predict", params={"artist": "radiohead"})
    assert r.status_code == 200, r.text
    by_name = r.json()
    radiohead = by_name["predictions"][0]["item_id"]
    assert radiohead is not None and by_name["predictions"][0]["name"] == "Radiohead"
    assert client.get("/genre/predict", params={"item_id": radiohead}).json() == by_name
    assert by_name["predictions"][0]["genre"] == "rock"
    alone = client.get("/genre/predict", params={"artist": "radiohead", "new": True}).json()
    assert alone["predictions"][0]["item_id"] is None  # the names alone
    assert alone["predictions"] != by_name["predictions"]

    # a fresh service on that store answers from the start
    assert serve(hetrec_db).get("/genre/predict", params=query).json() == answer


def test_a_model_of_the_shared_folder_is_served_with_a_note_on_the_server(
    hetrec_db: Path, serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from encore.genre.base import model_path
    from encore.genre.features import load_genre_data
    from encore.genre.saved import fit_all

    with Store(hetrec_db, read_only=True) as store:
        data = load_genre_data(store, "hetrec")
    client = serve(hetrec_db)
    query = {"artist": "Radiohead", "model": "majority"}
    assert client.get("/genre/predict", params=query).status_code == 409
    fit_all(data, "majority").save(model_path(shared_dir(), "majority", "hetrec"))
    capsys.readouterr()
    for _ in range(3):
        r = client.get("/genre/predict", params=query)
        assert r.status_code == 200, r.text
        assert str(tmp_path) not in r.text
    said = capsys.readouterr().err
    assert said.count("note:") == 1  # once, when the model is loaded
    assert str(shared_dir()) in said and "encore genre train --db" in said
