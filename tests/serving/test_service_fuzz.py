"""Fuzz the running service from its own OpenAPI document (schemathesis), with a fixed
example budget: no 500, no hang, and no store change from a rejected request."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, settings

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from encore.serving.app import openapi_document  # noqa: E402

#: Random examples per operation (a small, fixed budget; 13 operations). Schemathesis'
#: coverage phase runs first and is what covers the document: every parameter's boundary
#: and invalid values, missing required ones, wrong types (about 10 to 150 deterministic
#: cases per operation, 1,000 in all); the random examples add a few mixed cases on top
#: (12 of them added 7 % more cases and no finding, so 6 are kept).
EXAMPLES = 6
#: The slowest answer a fuzzed request may take (seconds) before it counts as a hang.
HANG = 20.0

schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_fuzzed_requests_never_fail_the_server(
    case: schemathesis.Case, live: object, api_key: str
) -> None:
    url: str = live.url  # type: ignore[attr-defined]
    store = live.reader()  # type: ignore[attr-defined]
    before = int(store.scalar("SELECT count(*) FROM ingests"))
    headers = {"X-API-Key": api_key} if case.method == "POST" else None
    started = time.monotonic()
    response = case.call(base_url=url, headers=headers, timeout=HANG)
    took = time.monotonic() - started
    assert response.status_code < 500, (
        f"{case.as_curl_command()} -> {response.status_code}: {response.text}"
    )
    assert took < HANG, f"{case.as_curl_command()} took {took:.1f} s"
    if response.status_code >= 400:
        kind = response.headers.get("content-type", [""])
        assert (kind[0] if isinstance(kind, list) else kind).startswith("application/problem+json")
        after = int(store.scalar("SELECT count(*) FROM ingests"))
        assert after == before, f"a rejected request changed the store: {case.as_curl_command()}"
