"""Errors speak the API's language: no problem document (nor an answer's notes) tells an
HTTP client about command-line flags (``--from``, ``-n``) or ``encore ...`` commands, except
a step only an operator can take on the server (train, fit, ingest, keys), said as such.

From the product check: ``GET /analytics/genres?from=yesterday`` answered "--from
'yesterday' is not a date or timestamp"; a missing segment model "run `encore segments fit`
first (or pass the same --name)" and named the store's folder on the server.

The served store is the listeners' real data (tests/serving/conftest.py: 20 histories and
HetRec, for_you and item kNN at artist level saved with small settings); the empty, older
and damaged stores are made here, each a few kB.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")


from encore.data.store import Store
from encore.serving.app import create_app
from encore.serving.state import ServeSettings

USER = "lh:user_05"
#: A command-line flag: ``--from``, ``--new-artists-only``, ``-n`` (not ``hip-hop``).
FLAG = re.compile(r"--[a-z]|(?<![\w-])-[a-z](?![\w-])")
#: Command text: ``encore segments fit`` (not "an older Encore").
COMMAND = re.compile(r"\bencore [a-z]")
#: A command kept for an operator: in backticks, inside a clause that says so.
KEPT = re.compile(r"`encore [^`]*`")


def _texts(body: dict[str, Any]) -> list[str]:
    """Every text a client reads in a problem document or an answer."""
    out = [body.get("detail"), body.get("hint"), *(body.get("notes") or [])]
    for e in body.get("errors") or []:
        out += [e.get("message"), e.get("file")]
    return [t for t in out if isinstance(t, str)]


def assert_api_words(body: dict[str, Any], *server: Path) -> None:
    """No flag and no command text, but for an operator's command said as such; no
    folder of the server."""
    for text in _texts(body):
        for m in KEPT.finditer(text):
            clause = re.split(r"[.;:]\s", text[: m.start()])[-1]
            assert "operator" in clause, f"a command not said to be an operator's: {text!r}"
        rest = KEPT.sub("", text)
        assert not FLAG.search(rest), f"a command-line flag in {text!r}"
        assert not COMMAND.search(rest), f"command text in {text!r}"
        for folder in server:
            assert str(folder) not in text, f"a server path in {text!r}"


def _problem(r: httpx.Response, status: int | set[int], *server: Path) -> dict[str, Any]:
    allowed = {status} if isinstance(status, int) else status
    assert r.status_code in allowed, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert_api_words(body, *server)
    # the document keeps its fields; the title says the problem, not a Python class
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == r.status_code
    assert body["type"].startswith("https://") and "Error" not in body["title"], body["title"]
    return body


#: (path, query) of every error path the API tests exercise, and the common ones, with the
#: statuses each may answer on the served store.
SERVED: list[tuple[str, dict[str, Any], int | set[int]]] = [
    ("/analytics/genres", {"from": "yesterday"}, 400),
    ("/analytics/genres", {"to": "2024-13-45"}, 400),
    ("/analytics/genres", {"from": "2024-12-31", "to": "2024-01-01"}, 400),
    ("/analytics/genres", {"from": "0001-01-01"}, 400),
    ("/analytics/genres", {"source": "nope"}, 404),
    ("/analytics/genres", {"country": "Atlantis"}, 400),
    ("/analytics/genres", {"segment": 99}, {400, 404}),
    ("/analytics/genres", {"user": "nobody"}, 404),
    ("/analytics/genres", {"by": "hours"}, 422),
    ("/analytics/top-tracks", {"genre": "no such genre"}, 404),
    ("/analytics/top-tracks", {"n": 0}, 422),
    ("/analytics/top-artists", {"by": "bogus"}, 422),
    ("/analytics/trend", {"genres": ["rokc"]}, 404),
    ("/analytics/trend", {"every": "day"}, 422),
    ("/users/lh:user_5000/recommendations", {}, 404),
    ("/users/nobody/recommendations", {}, 404),
    (f"/users/{USER}/recommendations", {"n": 0}, 422),
    (f"/users/{USER}/recommendations", {"model": "nope"}, 400),
    (f"/users/{USER}/recommendations", {"model": "als"}, 409),
    (f"/users/{USER}/recommendations", {"level": "album"}, 409),
    (f"/users/{USER}/recommendations", {"model": "for_you", "level": "artist"}, 400),
    (
        f"/users/{USER}/recommendations",
        {"model": "item_knn", "level": "artist", "discovery": 0.5},
        400,
    ),
    (
        f"/users/{USER}/recommendations",
        {"model": "item_knn", "level": "artist", "new_artists_only": True},
        400,
    ),
    ("/items/999999999/similar", {"level": "artist"}, 404),
    ("/items/5/similar", {"model": "for_you"}, 400),
    ("/items/5/similar", {"model": "nope"}, 400),
    ("/items/5/similar", {}, 409),
    ("/genre/predict", {"artist": "Radiohead", "dataset": "nothing"}, 409),
    ("/genre/predict", {"artist": "Radiohead", "model": "nope"}, 400),
    ("/genre/predict", {}, 400),
    ("/genre/predict", {"dataset": "../../etc"}, 422),
    ("/segments/map", {"name": "missing"}, 409),
    ("/segments", {"name": "../x"}, 422),
    ("/users/nobody/segment", {}, 404),
    ("/no/such/route", {}, 404),
]


def test_no_error_of_the_served_store_speaks_cli(client: httpx.Client, served_db: Path) -> None:
    for path, query, status in SERVED:
        _problem(client.get(path, params=query), status, served_db.parent)


def test_flags_become_the_routes_parameters(client: httpx.Client) -> None:
    """The words are the route's own parameters (``from``, ``level``, ``model``), in the
    query's own form where a value goes with them."""
    body = _problem(client.get("/analytics/genres", params={"from": "yesterday"}), 400)
    assert body["detail"] == "from=yesterday is not a date or timestamp"
    body = _problem(
        client.get("/analytics/genres", params={"from": "2024-12-31", "to": "2024-01-01"}), 400
    )
    assert body["detail"] == "from=2024-12-31 is after to=2024-01-01"
    assert "the from parameter" in body["hint"] and "the to parameter" in body["hint"]
    body = _problem(
        client.get(
            f"/users/{USER}/recommendations", params={"model": "for_you", "level": "artist"}
        ),
        400,
    )
    assert "level=track" in body["hint"] and "model=item_knn&level=artist" in body["hint"]
    body = _problem(
        client.get(
            f"/users/{USER}/recommendations",
            params={"model": "item_knn", "level": "artist", "discovery": 0.5},
        ),
        400,
    )
    assert "for_you" in body["detail"] and "the discovery parameter" in body["detail"]
    assert body["hint"] == "use model=for_you"


def test_operator_steps_are_said_as_such(client: httpx.Client, served_db: Path) -> None:
    body = _problem(client.get("/segments/map", params={"name": "missing"}), 409)
    assert body["detail"] == "no segment model 'missing' is saved for this store"
    assert "an operator must run `encore segments fit --name missing`" in body["hint"]
    body = _problem(client.get(f"/users/{USER}/recommendations", params={"model": "als"}), 409)
    assert (
        "an operator must save one on the server with `encore train --model als`" in (body["hint"])
    )
    body = _problem(client.get("/genre/predict", params={"artist": "x", "dataset": "none"}), 409)
    assert "on the server" in body["detail"] and "genre train" in body["hint"]


def test_events_and_keys_errors(client: httpx.Client, api_key: str, served_db: Path) -> None:
    event = {"type": "play", "user_id": "wording:1", "track_id": 1}
    body = _problem(client.post("/events", json=event), 401, served_db.parent)
    assert "Bearer" in body["hint"] and "operator" in body["hint"]
    wrong = {"Authorization": "Bearer enc_wrong"}
    _problem(client.post("/events", json=event, headers=wrong), 403, served_db.parent)
    auth = {"X-API-Key": api_key}
    bad = {"events": [event, {**event, "track_id": 987654321}]}
    body = _problem(client.post("/events", json=bad, headers=auth), 422, served_db.parent)
    assert body["errors"][0]["field"] == "body.events.1.track_id"
    for sent in ({**event, "ms_played": -1}, {**event, "extra": 1}, {"events": []}):
        _problem(client.post("/events", json=sent, headers=auth), 422, served_db.parent)


def test_answers_notes_speak_the_api_too(client: httpx.Client, served_db: Path) -> None:
    for path, query in (
        ("/analytics/genres", {}),
        ("/analytics/top-tracks", {"n": 3}),
        ("/analytics/trend", {"every": "month"}),
        (f"/users/{USER}/recommendations", {"n": 5}),
        ("/users/lh:user_11/recommendations", {"model": "item_knn", "level": "artist", "n": 5}),
    ):
        r = client.get(path, params=query)
        assert r.status_code == 200, r.text
        assert_api_words(r.json(), served_db.parent)


#: The common errors of a store with nothing in it.
EMPTY: list[tuple[str, dict[str, Any], int | set[int]]] = [
    ("/users/nobody/recommendations", {}, 404),
    ("/analytics/genres", {"user": "nobody"}, 404),
    ("/analytics/genres", {"segment": 1}, 400),
    ("/analytics/genres", {"source": "nope"}, 404),
    ("/analytics/top-tracks", {"genre": "rokc"}, 404),
    ("/users/nobody/segment", {}, 409),
    ("/segments", {}, 409),
    ("/items/1/similar", {}, 409),
]


def test_an_empty_store_and_an_older_one(
    service: Any, tmp_path: Path, v2_store: Callable[[Path], None]
) -> None:
    """An empty store's errors say what an operator must load; an older store (schema v2)
    is upgraded when the service opens it, and answers as a new one does."""
    empty = tmp_path / "empty.duckdb"
    Store(empty).close()
    c = service(empty)
    for path, query, status in EMPTY:
        _problem(c.get(path, params=query), status, tmp_path)
    body = _problem(c.get("/users/nobody/recommendations"), 404)
    assert body["hint"] == "the store has no users: an operator must run `encore ingest`"
    body = _problem(c.get("/analytics/genres", params={"segment": 1}), 400)
    assert (
        body["detail"] == "the segment parameter needs listener segments, and this store has none"
    )
    older = tmp_path / "older" / "v2.duckdb"
    older.parent.mkdir()
    v2_store(older)
    c = service(older)
    assert c.get("/analytics/genres").status_code == 200
    for path, query, status in EMPTY:
        _problem(c.get(path, params=query), status, older.parent)


def test_segments_of_several_models_name_the_parameter(service: Any, tmp_path: Path) -> None:
    db = tmp_path / "two.duckdb"
    with Store(db) as s:
        s.execute(
            "INSERT INTO user_segments VALUES ('u1', 0, 'rock', 'a', NULL), "
            "('u2', 1, 'pop', 'b', NULL)"
        )
    c = service(db)
    body = _problem(c.get("/analytics/genres", params={"segment": 0}), 400, tmp_path)
    assert body["hint"] == "name one with the segment_model parameter"
    r = c.get("/analytics/genres", params={"segment": 0, "segment_model": "a"})
    assert r.status_code == 200, r.text
    _problem(c.get("/analytics/genres", params={"segment": 0, "segment_model": "c"}), 404)


def test_a_store_missing_a_table_is_503_not_a_bug(service: Any, tmp_path: Path) -> None:
    """A table removed behind the service's back (it upgrades an older store when it opens
    it, so only damage or a replaced file can do this): 503 with an operator's step, not
    'an unexpected error'."""
    db = tmp_path / "damaged.duckdb"
    Store(db).close()
    c = service(db)
    c.app.state.encore.store.execute("DROP TABLE events")  # type: ignore[attr-defined]
    for path in ("/health", "/analytics/genres"):
        body = _problem(c.get(path), 503, tmp_path)
        assert body["detail"] == "the store has no table events, which this request reads"
        assert "operator" in body["hint"]


@pytest.fixture(scope="module")
def wording() -> Any:
    """The rewriting of the real app's routes (no store opened: only the routes are read)."""
    from encore.serving.problems import wording_of

    words = wording_of(create_app(ServeSettings(db=Path("unused.duckdb"))))
    return lambda text, path: words.for_client(text, words.route(path))


def test_commands_a_route_answers_become_that_route(wording: Any) -> None:
    """Messages the API tests cannot reach on their stores, said through the same rules."""
    said = wording(
        "use `encore analytics top-artists --genre rock -n 5` for tag popularity",
        "/analytics/top-tracks",
    )
    assert said == "use GET /analytics/top-artists?genre=rock&n=5 for tag popularity"
    assert wording("see `encore genre predict --help`", "/genre/predict") == (
        "see GET /genre/predict"
    )
    # on the trend the CLI's repeated --genre is the route's list parameter genres
    assert wording("--genre 'rokc' is not a genre", "/analytics/trend") == (
        "genres=rokc is not a genre"
    )
    assert wording("-n must be a positive number, not 0", "/analytics/top-tracks") == (
        "the n parameter must be a positive number, not 0"
    )


def test_commands_without_backticks_and_options_without_a_parameter(wording: Any) -> None:
    rec = "/users/{user_id}/recommendations"
    assert wording("the store holds no audio embeddings; run: encore audio ingest FOLDER", rec) == (
        "the store holds no audio embeddings; an operator must run `encore audio ingest FOLDER`"
    )
    assert wording("re-run encore audio ingest with this model", rec) == (
        "an operator must run `encore audio ingest` with this model"
    )
    said = wording("ingest a listening history (e.g. `encore ingest --all ../shared/data`)", rec)
    assert said == (
        "ingest a listening history (e.g. an operator's `encore ingest --all ../shared/data` "
        "on the server)"
    )
    said = wording("--mood applies to track-level recommendations", rec)
    assert (
        said
        == "the command-line option 'mood' (no parameter here) applies to track-level recommendations"
    )
    assert_api_words({"detail": said})
