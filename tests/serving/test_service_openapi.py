"""The OpenAPI document checked into docs/openapi.json is the one the app serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from encore.serving.app import openapi_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_checked_in_openapi_matches_the_app() -> None:
    assert DOC.is_file(), "docs/openapi.json is missing: python -m encore.serving.openapi"
    assert DOC.read_text(encoding="utf-8") == openapi_text(), (
        "docs/openapi.json is out of date: regenerate it with `python -m encore.serving.openapi`"
    )


def test_every_area_has_its_paths_and_problems_are_documented() -> None:
    doc = json.loads(openapi_text())
    paths = set(doc["paths"])
    for path in (
        "/health",
        "/version",
        "/users/{user_id}/recommendations",
        "/items/{item_id}/similar",
        "/analytics/genres",
        "/analytics/top-tracks",
        "/analytics/top-artists",
        "/analytics/trend",
        "/genre/predict",
        "/users/{user_id}/segment",
        "/segments",
        "/segments/map",
        "/events",
    ):
        assert path in paths
    assert "Problem" in doc["components"]["schemas"]
    assert "404" in doc["paths"]["/users/{user_id}/recommendations"]["get"]["responses"]
