"""A body that is one of several shapes (POST /events: one event, or {'events': [...]}):
the problem names the mistake in the shape the client sent, not every shape's complaints.

From the product check: a batch with "track_id": "abc" answered
"body.Event.type: Field required (and 4 more)".
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Body, FastAPI
from fastapi.testclient import TestClient

from encore.serving.events import Event, EventBatch
from encore.serving.problems import install


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install(app)

    @app.post("/events")
    async def post(body: Annotated[Event | EventBatch, Body()]) -> dict[str, Any]:
        return {"ok": True}

    return TestClient(app)


def test_batch_with_a_wrong_type_names_that_field(client: TestClient) -> None:
    body = {"events": [{"type": "play", "user_id": "me", "track_id": "abc"}]}
    answer = client.post("/events", json=body)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["detail"].startswith("body.events.0.track_id: Input should be a valid integer")
    assert [e["field"] for e in problem["errors"]] == ["body.events.0.track_id"]


def test_single_event_with_a_wrong_type_names_that_field(client: TestClient) -> None:
    answer = client.post("/events", json={"type": "play", "user_id": "me", "track_id": -3})
    problem = answer.json()
    assert answer.status_code == 422
    assert problem["detail"] == "body.track_id: Input should be greater than or equal to 0"
    assert len(problem["errors"]) == 1


def test_neither_shape_keeps_every_complaint(client: TestClient) -> None:
    """Nothing like either shape: the errors of the closest one, with how many there are."""
    answer = client.post("/events", json={"what": 1})
    problem = answer.json()
    assert answer.status_code == 422
    fields = [e["field"] for e in problem["errors"]]
    assert fields and all(f.startswith("body.") for f in fields)
    assert "Event" not in problem["detail"]


def test_valid_bodies_pass(client: TestClient) -> None:
    one = {"type": "like", "user_id": "me", "track_id": 3}
    assert client.post("/events", json=one).status_code == 200
    assert client.post("/events", json={"events": [one, one]}).status_code == 200
