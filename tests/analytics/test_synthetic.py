"""The synthetic generator (speed tests only): exact size, seeded, structured."""

from __future__ import annotations

from pathlib import Path

from encore.data.store import Store
from encore.data.synthetic import generate


def _fingerprint(store: Store) -> tuple[object, ...]:
    row = store.execute(
        "SELECT count(*), sum(hash(user_id, track_id, ts, ms_played, skipped)) FROM events"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_size_seed_and_replace(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    sa = generate(a, 20_000, seed=3)
    generate(b, 20_000, seed=3)
    assert sa.events == a.scalar("SELECT count(*) FROM events") == 20_000
    assert _fingerprint(a) == _fingerprint(b)
    generate(b, 20_000, seed=4)
    assert _fingerprint(a) != _fingerprint(b)
    assert b.scalar("SELECT count(*) FROM events") == 20_000  # replaced, not added
    assert b.scalar("SELECT count(*) FROM ingests WHERE source = 'synthetic'") == 1
    # every event resolves to a track and an artist of the catalogue
    assert a.scalar("SELECT count(*) FROM plays WHERE artist_id IS NULL OR track_id IS NULL") == 0
    a.close()
    b.close()


def test_structure(syn: Store) -> None:
    # Zipf popularity: the most played 1 % of tracks get far more than 1 % of plays
    top_share = syn.scalar(
        "WITH c AS (SELECT track_id, count(*) n FROM events GROUP BY 1), "
        "r AS (SELECT n, row_number() OVER (ORDER BY n DESC) rk, count(*) OVER () m FROM c) "
        "SELECT sum(n) FILTER (WHERE rk <= m / 100) / sum(n) FROM r"
    )
    assert top_share > 0.1
    skip_rate = syn.scalar("SELECT avg(skipped::INT) FROM events")
    assert 0.05 < skip_rate < 0.5
    assert (
        syn.scalar("SELECT count(*) FROM plays WHERE genre IS NULL") > 0
    )  # the unknown bar exists
    # sessions: consecutive plays of a user mostly follow each other within minutes
    gap = syn.scalar(
        "SELECT median(d) FROM (SELECT epoch(ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts)) d FROM events)"
    )
    assert gap < 600
    assert syn.scalar("SELECT count(DISTINCT country) FROM users") > 5
