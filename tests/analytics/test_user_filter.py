"""``--user``: one listener's own genre chart (product.md, the listener with their export).

The product check found no way to draw a personal genre chart: the analytics took a
country or a segment, never one listener.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from encore.analytics import api
from encore.cli.main import app
from encore.data.store import Store

runner = CliRunner()
WIDE = ["--from", "2000-01-01", "--to", "2030-12-31", "--user", "lh:user_05"]
MINE = ["analytics"]
JSON = ["-f", "json"]


def test_genres_of_one_listener_count_their_plays(listeners_db: Path) -> None:
    with Store(listeners_db, read_only=True) as store:
        own = store.scalar(
            "SELECT count(*) FROM events WHERE user_id = 'lh:user_05' AND NOT COALESCE(skipped, FALSE)"
        )
        everyone = store.scalar("SELECT count(*) FROM events WHERE NOT COALESCE(skipped, FALSE)")
        mine = api.run(store, "genres", start="2000-01-01", end="2030-12-31", user="lh:user_05")
        trend = api.run(
            store, "trend", start="2000-01-01", end="2030-12-31", user="lh:user_05", every="month"
        )
    assert 0 < own < everyone
    assert int(mine["plays"].sum()) == own
    assert int(trend["plays"].sum()) == own
    assert any("listener: lh:user_05" in str(v) for v in mine.attrs.values()), mine.attrs


def test_user_option_on_the_cli(listeners_db: Path, tmp_path: Path) -> None:
    chart = tmp_path / "mine.png"
    res = runner.invoke(
        app,
        [*MINE, "trend", *WIDE, "--db", str(listeners_db), "--chart", str(chart), "-f", "json"],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and chart.stat().st_size > 10_000
    top = runner.invoke(
        app,
        [
            *MINE,
            "top-artists",
            *WIDE,
            "-n",
            "3",
            "--by",
            "listeners",
            "--db",
            str(listeners_db),
            *JSON,
        ],
    )
    assert top.exit_code == 0, top.output
    listeners = {r["listeners"] for r in json.loads(top.stdout)}
    assert listeners == {1}, listeners  # only this listener  # only this listener
    # an unknown id: exit 66, the closest ids named
    bad = runner.invoke(
        app, ["analytics", "genres", "--user", "user_05", "--db", str(listeners_db)]
    )
    assert bad.exit_code == 66 and "lh:user_05" in bad.output
