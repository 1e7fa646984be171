"""What the product check found slow or inconsistent on the HTTP API, checked for behaviour
(the timings are in benchmarks/bench_service.py --latency, not here):

- a 422 names a field in one form, whether FastAPI's validation or the catalogue check of
  ``POST /events`` found it: ``body.events.1.track_id`` (``body.track_id`` for one event),
  with its JSON Pointer ``#/events/1/track_id``;
- saved segment models are loaded at start-up with their map's neighbour index, and a
  user's segment is kept until that user's next events;
- the events writer recomputes derived genres only when a batch added what they derive from.

Small settings: the session's served store (20 listening histories + HetRec, 3 segments).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")

from encore.data.store import Store
from encore.segments.mapping import place
from encore.serving.events import _WriterStore
from encore.serving.problems import pointer
from encore.serving.routers.segments import segment_model

USER = "lh:user_05"


def _422(r: httpx.Response) -> list[dict]:  # type: ignore[type-arg]
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors: list[dict] = r.json()["errors"]  # type: ignore[type-arg]
    return errors


def test_a_field_is_named_alike_by_validation_and_by_the_catalogue_check(
    client: httpx.Client, api_key: str
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    good = {"type": "play", "user_id": "fields:1", "track_id": 1}
    # FastAPI's validation: a track id that is not a number
    typed = _422(
        client.post("/events", json={"events": [good, {**good, "track_id": "abc"}]}, headers=auth)
    )
    # the catalogue check: a number that is no track of the store
    unknown = _422(
        client.post(
            "/events", json={"events": [good, {**good, "track_id": 987654321}]}, headers=auth
        )
    )
    assert (
        [e["field"] for e in typed] == [e["field"] for e in unknown] == ["body.events.1.track_id"]
    )
    assert (
        [e["pointer"] for e in typed] == [e["pointer"] for e in unknown] == ["#/events/1/track_id"]
    )
    # one event (not a batch): the field of the body itself, by both checks
    one_typed = _422(client.post("/events", json={**good, "track_id": -3}, headers=auth))
    one_unknown = _422(client.post("/events", json={**good, "track_id": 987654321}, headers=auth))
    assert [e["field"] for e in one_typed] == [e["field"] for e in one_unknown] == ["body.track_id"]
    assert one_unknown[0]["pointer"] == "#/track_id"
    like = _422(
        client.post(
            "/events", json={"events": [{**good, "type": "like", "ms_played": 5}]}, headers=auth
        )
    )
    assert like[0]["field"] == "body.events.0.ms_played"
    # a query parameter has a field and no pointer into a body
    query = _422(client.get(f"/users/{USER}/recommendations", params={"n": 0}))
    assert query[0]["field"] == "query.n" and "pointer" not in query[0]


def test_pointer_escapes_as_rfc_6901_says() -> None:
    assert pointer("body") == "#"
    assert pointer("body.events.0.ts") == "#/events/0/ts"
    assert pointer("body.a/b.c~d") == "#/a~1b/c~0d"
    assert pointer("query.n") is None and pointer("path.user_id") is None


def test_segment_models_are_loaded_at_start_up_with_their_map(live: object) -> None:
    state = live.app.state.encore  # type: ignore[attr-defined]
    stamp, model = state._models[("segments", "default")]
    assert stamp > 0 and model.map_embedding() is not None
    assert segment_model(state, "default") is model  # the same object answers


def test_placing_with_the_kept_map_equals_building_it_again(live: object) -> None:
    state = live.app.state.encore  # type: ignore[attr-defined]
    model = segment_model(state, "default")
    kept = model.assign(state.reader(), [USER, "lh:user_07"])
    feats = model.builder.transform(state.reader(), [USER, "lh:user_07"])
    fresh = place(
        model.segmenter.train_z, model.xy, model.segmenter.prepare(feats), seed=model.segmenter.seed
    )
    np.testing.assert_allclose(kept[["x", "y"]].to_numpy(), fresh, rtol=1e-12, atol=1e-12)


def test_a_users_segment_is_kept_until_their_next_events(
    client: httpx.Client, api_key: str, live: object
) -> None:
    def counts() -> tuple[int, int]:
        cache = client.get("/health").json()["answer_cache"]
        return int(cache["hits"]), int(cache["misses"])

    first = client.get(f"/users/{USER}/segment")
    assert first.status_code == 200
    hits, misses = counts()
    again = client.get(f"/users/{USER}/segment")
    assert again.json() == first.json()
    assert counts() == (hits + 1, misses)
    track = int(live.reader().scalar("SELECT min(track_id) FROM tracks"))  # type: ignore[attr-defined]
    event = {"type": "play", "user_id": USER, "track_id": track, "ts": "2024-05-01T10:00:00"}
    assert client.post("/events", json=event, headers={"X-API-Key": api_key}).status_code == 201
    after = client.get(f"/users/{USER}/segment")
    assert after.status_code == 200 and after.json()["user_id"] == USER
    assert counts() == (hits + 1, misses + 1)  # computed again from the new events
    assert client.get("/users/nobody/segment").status_code == 404


def test_the_writer_derives_genres_only_when_their_inputs_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = Store.refresh_derived

    def counted(self: Store) -> None:
        calls.append(1)
        real(self)

    monkeypatch.setattr(Store, "refresh_derived", counted)
    with Store(tmp_path / "s.duckdb") as store:
        writer = _WriterStore(store)
        writer.refresh_derived()
        assert calls == []  # nothing it derives from was added: nothing to recompute
        store.con.execute("INSERT INTO genre_map VALUES ('dream pop', NULL)")
        writer.refresh_derived()
        assert calls == [1]
        writer.refresh_derived()
        assert calls == [1]
