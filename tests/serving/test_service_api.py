"""The HTTP API on the listeners' real store: answers, problem details, keys, live events."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from encore.cli.main import app as cli
from encore.data.store import Store

USER = "lh:user_05"
PROBLEM = "application/problem+json"


def _events(store: Store, where: str = "TRUE") -> int:
    return int(store.scalar(f"SELECT count(*) FROM events WHERE {where}"))


def _problem(r: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"].startswith("https://")
    return body  # type: ignore[no-any-return]


def test_health_and_version(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["events"] > 300_000 and health["users"] > 1_900
    assert health["answer_cache"]["size"] == 4096 and health["answer_cache"]["hits"] >= 0
    version = client.get("/version").json()
    assert version["encore"] and version["schema_version"] == health["schema_version"]


def test_recommendations_are_named_new_tracks_with_reasons(client: httpx.Client) -> None:
    r = client.get(f"/users/{USER}/recommendations", params={"n": 8})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "for_you" and body["model_source"] == "loaded"
    items = body["items"]
    assert [i["rank"] for i in items] == list(range(1, 9))
    assert all(i["name"] and i["artist"] and i["because"] for i in items)
    new = client.get(
        f"/users/{USER}/recommendations", params={"n": 8, "new_artists_only": True}
    ).json()["items"]
    assert new and {i["artist"] for i in new}.isdisjoint(
        {i["artist"] for i in items if i["because"].startswith("new from")}
    )


def test_recommendations_refuse_bad_input_with_problems(client: httpx.Client) -> None:
    body = _problem(client.get("/users/lh:user_5000/recommendations"), 404)
    assert "unknown user" in body["detail"]
    body = _problem(client.get(f"/users/{USER}/recommendations", params={"n": 0}), 422)
    assert body["errors"][0]["field"] == "query.n"
    _problem(client.get(f"/users/{USER}/recommendations", params={"model": "nope"}), 400)
    body = _problem(
        client.get(
            f"/users/{USER}/recommendations",
            params={"model": "item_knn", "level": "artist", "discovery": 0.5},
        ),
        400,
    )
    assert "for_you" in body["detail"]


def test_similar_artists_from_the_saved_model(client: httpx.Client, live: object) -> None:
    store: Store = live.reader()  # type: ignore[attr-defined]
    artist = int(store.scalar("SELECT artist_id FROM artists WHERE name = 'Radiohead'"))
    body = client.get(f"/items/{artist}/similar", params={"level": "artist", "n": 5}).json()
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert artist not in {i["item_id"] for i in body["items"]}
    assert all(i["name"] for i in body["items"])
    _problem(client.get("/items/999999999/similar", params={"level": "artist"}), 404)


def test_analytics_window_and_filters(client: httpx.Client) -> None:
    year = client.get("/analytics/genres", params={"from": "2024-01-01", "to": "2024-12-31"})
    assert year.status_code == 200, year.text
    body = year.json()
    assert body["start"].startswith("2024-01-01") and body["end"].startswith("2025-01-01")
    plays = {r["genre"]: r["plays"] for r in body["rows"]}
    assert sum(plays.values()) > 0
    minutes = client.get(
        "/analytics/genres", params={"from": "2024-01-01", "to": "2024-12-31", "by": "minutes"}
    ).json()
    assert minutes["by"] == "minutes" and {r["genre"] for r in minutes["rows"]} == set(plays)
    top = client.get("/analytics/top-tracks", params={"genre": "rock", "n": 3}).json()
    assert 0 < len(top["rows"]) <= 3 and {r["genre"] for r in top["rows"]} == {"rock"}
    trend = client.get("/analytics/trend", params={"every": "week", "genres": ["rock", "pop"]})
    assert trend.status_code == 200 and {r["genre"] for r in trend.json()["rows"]} <= {
        "rock",
        "pop",
    }
    _problem(client.get("/analytics/genres", params={"from": "yesterday"}), 400)
    _problem(client.get("/analytics/genres", params={"by": "hours"}), 422)
    _problem(client.get("/analytics/top-tracks", params={"genre": "no such genre"}), 404)


def test_models_not_trained_are_409_with_the_command(client: httpx.Client) -> None:
    body = _problem(client.get("/segments/map", params={"name": "missing"}), 409)
    assert "segments fit" in body["hint"]
    body = _problem(
        client.get("/genre/predict", params={"artist": "Radiohead", "dataset": "nothing"}), 409
    )
    assert "genre train" in body["hint"]
    _problem(client.get("/genre/predict", params={"dataset": "../../etc"}), 422)


def test_writes_need_a_valid_key(client: httpx.Client, served_db: Path, live: object) -> None:
    event = {"type": "play", "user_id": "keys:1", "track_id": 1, "ms_played": 1000}
    store: Store = live.reader()  # type: ignore[attr-defined]
    before = _events(store)
    _problem(client.post("/events", json=event), 401)
    _problem(client.post("/events", json=event, headers={"Authorization": "Bearer enc_wrong"}), 403)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "ci", "--db", str(served_db), "-f", "json"])
    assert made.exit_code == 0, made.output
    import json

    created = json.loads(made.stdout)
    ok = client.post("/events", json=event, headers={"X-API-Key": created["key"]})
    assert ok.status_code == 201, ok.text
    listed = runner.invoke(cli, ["keys", "list", "--db", str(served_db), "-f", "json"])
    assert created["key"] not in listed.stdout and created["key_id"] in listed.stdout
    revoked = runner.invoke(cli, ["keys", "revoke", created["key_id"], "--db", str(served_db)])
    assert revoked.exit_code == 0, revoked.output
    _problem(client.post("/events", json=event, headers={"X-API-Key": created["key"]}), 403)
    gone = runner.invoke(cli, ["keys", "revoke", "nosuchid", "--db", str(served_db)])
    assert gone.exit_code == 66 and "unknown API key" in gone.output
    assert _events(store) == before + 1


def test_events_reflect_in_the_next_recommendation(
    client: httpx.Client, api_key: str, live: object
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    store: Store = live.reader()  # type: ignore[attr-defined]
    first = client.get(f"/users/{USER}/recommendations", params={"n": 10}).json()["items"]
    liked, played = first[0]["item_id"], first[1]["item_id"]
    r = client.post(
        "/events",
        json={
            "events": [
                {"type": "like", "user_id": USER, "track_id": liked},
                {"type": "play", "user_id": USER, "track_id": played, "ms_played": 200_000},
                {"type": "skip", "user_id": USER, "track_id": played, "ms_played": 5_000},
            ]
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted"], body["likes"], body["plays"], body["skips"]) == (3, 1, 1, 1)
    # written through the ingest path: references resolved back to the same tracks
    ingest = body["ingest_id"]
    assert store.scalar("SELECT entity_id FROM likes WHERE ingest_id = ?", [ingest]) == liked
    rows = store.execute(
        "SELECT track_id, skipped FROM events WHERE ingest_id = ? ORDER BY ms_played", [ingest]
    ).fetchall()
    assert rows == [(played, True), (played, False)]
    after = client.get(f"/users/{USER}/recommendations", params={"n": 10}).json()["items"]
    assert {liked, played}.isdisjoint({i["item_id"] for i in after})


def test_rejected_batches_change_nothing(client: httpx.Client, api_key: str, live: object) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    store: Store = live.reader()  # type: ignore[attr-defined]
    before = _events(store), int(store.scalar("SELECT count(*) FROM ingests"))
    good = {"type": "play", "user_id": "bad:1", "track_id": 1}
    bad_track = {"events": [good, {**good, "track_id": 987654321}]}
    body = _problem(client.post("/events", json=bad_track, headers=auth), 422)
    assert body["errors"][0]["field"] == "body.events.1.track_id"
    future = (datetime.now() + timedelta(days=30)).isoformat()
    _problem(client.post("/events", json={**good, "ts": future}, headers=auth), 422)
    _problem(
        client.post("/events", json={**good, "type": "like", "ms_played": 3}, headers=auth), 422
    )
    body = _problem(client.post("/events", json={**good, "ms_played": -1}, headers=auth), 422)
    _problem(client.post("/events", json={**good, "extra": 1}, headers=auth), 422)
    _problem(client.post("/events", json={"events": []}, headers=auth), 422)
    _problem(client.post("/events", content=b"{not json", headers=auth), 422)
    after = _events(store), int(store.scalar("SELECT count(*) FROM ingests"))
    assert after == before


def test_concurrent_writers_and_readers_lose_and_duplicate_nothing(
    live: object, api_key: str
) -> None:
    url: str = live.url  # type: ignore[attr-defined]
    store: Store = live.reader()  # type: ignore[attr-defined]
    track = int(store.scalar("SELECT min(track_id) FROM tracks WHERE title IS NOT NULL"))
    base = datetime(2024, 3, 1)
    writers, posts, per_post = 4, 3, 4
    errors: list[str] = []

    def write(w: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            for p in range(posts):
                batch = [
                    {
                        "type": "play",
                        "user_id": f"conc:{w}",
                        "track_id": track,
                        "ts": (base + timedelta(seconds=w * 1000 + p * 10 + i)).isoformat(),
                        "ms_played": 60_000 + i,
                    }
                    for i in range(per_post)
                ]
                r = c.post("/events", json={"events": batch}, headers={"X-API-Key": api_key})
                if r.status_code != 201:
                    errors.append(r.text)

    def read() -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            for _ in range(5):
                r = c.get(f"/users/{USER}/recommendations", params={"n": 5})
                if r.status_code != 200:
                    errors.append(r.text)
                h = c.get("/analytics/genres")
                if h.status_code != 200:
                    errors.append(h.text)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    rows = store.execute(
        "SELECT count(*), count(DISTINCT (user_id, ts)) FROM events WHERE user_id LIKE 'conc:%'"
    ).fetchone()
    assert rows == (writers * posts * per_post, writers * posts * per_post)


@pytest.mark.parametrize("path", ["/dashboard", "/static/dashboard.js", "/static/plotly.min.js"])
def test_dashboard_files_are_served_locally(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and len(r.content) > 1000
    if path == "/dashboard":
        assert "http" not in r.text.split("<body>")[0].replace("charset", "")


def test_reads_can_be_closed(client: httpx.Client, live: object, api_key: str) -> None:
    from dataclasses import replace

    state = live.app.state.encore  # type: ignore[attr-defined]
    opened = state.settings
    state.settings = replace(opened, read_key_required=True)
    try:
        _problem(client.get("/analytics/genres"), 401)
        _problem(client.get(f"/users/{USER}/recommendations"), 401)
        ok = client.get("/analytics/genres", headers={"Authorization": f"Bearer {api_key}"})
        assert ok.status_code == 200
        assert client.get("/health").status_code == 200  # liveness stays open
    finally:
        state.settings = opened
    assert client.get("/analytics/genres").status_code == 200


def test_segments_profiles_map_and_a_users_segment(client: httpx.Client) -> None:
    listing = client.get("/segments").json()
    assert listing["users"] == 20 and len(listing["profiles"]) == 3
    points = client.get("/segments/map").json()["points"]
    assert len(points) == 20 and {p["segment"] for p in points} == {0, 1, 2}
    mine = client.get(f"/users/{USER}/segment").json()
    assert mine["user_id"] == USER and mine["segment"] in (0, 1, 2) and mine["segment_name"]
    _problem(client.get("/users/nobody/segment"), 404)
    _problem(client.get("/segments", params={"name": "../x"}), 422)


def test_a_trained_listeners_new_events_fold_into_a_cf_model(
    client: httpx.Client, api_key: str, live: object
) -> None:
    """item_knn was trained with lh:user_11; plays of the artist it recommends first (new to
    them), posted after training, change the next answer without a refit: that artist is
    now heard (left out) and lifts the scores of the artists like it (fold-in of the row)."""
    user, params = "lh:user_11", {"model": "item_knn", "level": "artist", "n": 10}
    store: Store = live.reader()  # type: ignore[attr-defined]
    before = client.get(f"/users/{user}/recommendations", params=params).json()
    assert not any("changed since training" in n for n in before["notes"])
    state = live.app.state.encore  # type: ignore[attr-defined]
    model = state._models[("recommender", "item_knn", "artist")][1].model
    fitted = model.recommend([user], k=10)  # an unchanged user keeps the fitted answer exactly
    assert [i["item_id"] for i in before["items"]] == fitted["item_id"].tolist()
    ids = [i["item_id"] for i in before["items"]]
    artist, track = store.execute(
        """SELECT artist_id, min(track_id) FROM tracks WHERE artist_id = ANY($ids)
           GROUP BY 1 ORDER BY list_position($ids, artist_id) LIMIT 1""",
        {"ids": ids},
    ).fetchone()
    plays = [
        {
            "type": "play",
            "user_id": user,
            "track_id": track,
            "ts": f"2025-01-0{1 + i // 10}T10:{i % 10:02d}:00",
            "ms_played": 200_000,
        }
        for i in range(30)
    ]
    r = client.post("/events", json={"events": plays}, headers={"X-API-Key": api_key})
    assert r.status_code == 201, r.text
    after = client.get(f"/users/{user}/recommendations", params=params).json()
    assert any("changed since training" in n for n in after["notes"]), after["notes"]
    now = {i["item_id"]: i["score"] for i in after["items"]}
    assert artist not in now and len(now) == 10  # heard now: no longer recommended
    was = {i["item_id"]: i["score"] for i in before["items"]}
    assert any(now[a] > was[a] + 1e-6 for a in set(now) & set(was))


def test_answers_are_cached_until_the_users_next_events(
    client: httpx.Client, api_key: str, live: object
) -> None:
    answers = live.app.state.encore.answers  # type: ignore[attr-defined]
    models = live.app.state.encore._models  # type: ignore[attr-defined]
    loaded = models[("recommender", "for_you", "track")][1]  # loaded at start-up
    user, params = "lh:user_07", {"n": 6}
    first = client.get(f"/users/{user}/recommendations", params=params)
    hits = answers.stats().hits
    again = client.get(f"/users/{user}/recommendations", params=params)
    assert again.status_code == 200 and again.content == first.content
    assert answers.stats().hits == hits + 1
    top = first.json()["items"][0]["item_id"]
    like = {"type": "like", "user_id": user, "track_id": top}
    before = answers.stats()
    assert client.post("/events", json=like, headers={"X-API-Key": api_key}).status_code == 201
    fresh = client.get(f"/users/{user}/recommendations", params=params).json()
    assert top not in {i["item_id"] for i in fresh["items"]}  # the like is reflected
    after = answers.stats()
    # computed afresh by this request (refresh ahead is off by default), not served cached
    assert after.misses == before.misses + 1 and after.hits == before.hits
    assert models[("recommender", "for_you", "track")][1] is loaded  # never loaded again
