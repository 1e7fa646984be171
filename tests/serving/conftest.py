"""A served store: the listeners' real data with for_you (small settings) and item kNN at
artist level saved beside it, an API key, and a client on the app."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("lightgbm")

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from encore.data.store import Store
from encore.recommenders import recommend as rec
from encore.segments.model import fit_segments
from encore.segments.model import model_dir as segment_dir
from encore.serving.app import create_app
from encore.serving.auth import create_key
from encore.serving.state import ServeSettings


@pytest.fixture(scope="session")
def served_db(
    listeners_db: Path, listeners_for_you: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the listeners' store (20 histories + HetRec) with saved models, each in
    small settings said as such: the session's for_you (one cut, 60 trees), item kNN at
    artist level over the artists with at least 5 listeners (3.4k of 20k: a fit in seconds
    instead of a minute) and 3 segments of the 20 listeners."""
    from encore.data.dataset import InteractionDataset, build_interactions
    from encore.recommenders.registry import get_model

    db = tmp_path_factory.mktemp("served") / "store.duckdb"
    shutil.copy(listeners_db, db)
    with Store(db) as store:
        path = rec.model_file(db, "for_you", "track")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(listeners_for_you, path)
        frame = build_interactions(store, level="artist", min_item_interactions=5)
        data = InteractionDataset.from_interactions(frame, item_level="artist")
        knn = get_model("item_knn").fit(data).save(rec.model_file(db, "item_knn", "artist"))
        state = rec._store_state(store)
        manifest = {
            path.name: {"model": "for_you", "level": "track", **state},
            knn.name: {"model": "item_knn", "level": "artist", **state},
        }
        (rec.models_dir(db) / rec.MANIFEST).write_text(json.dumps(manifest))
        segments = fit_segments(
            store, namespace="lh", k=3, n_seeds=2, friends_permutations=10, min_coverage=0.3
        )
        segments.save(segment_dir(db, "default"))
    return db


@pytest.fixture(scope="session")
def api_key(served_db: Path) -> str:
    """An active write key of the served store."""
    return create_key(served_db, "tests")[1]


@dataclass
class Live:
    """A service running on loopback: its URL and its app (for the store's own view)."""

    url: str
    app: FastAPI

    def reader(self) -> Store:
        """A read connection of the running service (this thread's cursor)."""
        store: Store = self.app.state.encore.reader()
        return store


@pytest.fixture(scope="session")
def live(served_db: Path) -> Iterator[Live]:
    """``encore serve``'s app run by uvicorn on 127.0.0.1 in a thread (one per session)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServeSettings(db=served_db))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the service did not start")
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="session")
def client(live: Live) -> Iterator[httpx.Client]:
    """An HTTP client on the running service."""
    with httpx.Client(base_url=live.url, timeout=120) as c:
        yield c


@pytest.fixture
def service() -> Iterator[Callable[[Path], TestClient]]:
    """Start clients on ``encore serve``'s app over stores made by the test (one compute
    thread, four request threads); every client is closed at the end of the test."""
    clients: list[TestClient] = []

    def serve(db: Path) -> TestClient:
        c = TestClient(create_app(ServeSettings(db=db, compute_threads=1, threads=4)))
        c.__enter__()
        clients.append(c)
        return c

    yield serve
    for c in clients:
        c.__exit__(None, None, None)
