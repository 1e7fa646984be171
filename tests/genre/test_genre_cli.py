"""``encore genre train | evaluate | predict`` through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from encore.cli.main import app

runner = CliRunner()


def test_genre_cli_end_to_end(genre_db: Path, tmp_path: Path) -> None:
    base = ["--db", str(genre_db), "--model-dir", str(tmp_path / "models")]
    r = runner.invoke(
        app,
        [
            "genre",
            "train",
            "--model",
            "logreg",
            "--dataset",
            "tcc_ceds",
            "--groups",
            "text",
            *base,
            "-f",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["labelled"] > 4000 and Path(info["saved"]).exists()

    r = runner.invoke(
        app,
        [
            "genre",
            "predict",
            "--artist",
            "Muddy Waters",
            "--title",
            "Hoochie Coochie Man",
            "--model",
            "logreg",
            "--dataset",
            "tcc_ceds",
            *base,
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    ranked = json.loads(r.stdout)
    assert [x["rank"] for x in ranked] == [1, 2, 3] and all(
        0 <= x["probability"] <= 1 for x in ranked
    )

    # names of a track the store has are predicted from its listeners, like its id
    # (the product check: `genre predict --artist "Noel Gallagher"` treated a store artist
    # as new and answered from the name alone); --new keeps the names-only answer
    from encore.data.store import Store

    with Store(genre_db, read_only=True) as store:
        track_id, artist, title = store.execute(
            "SELECT t.track_id, a.name, t.title FROM tracks t JOIN artists a USING (artist_id) "
            "WHERE t.source = 'tcc_ceds' AND (SELECT count(*) FROM tracks u JOIN artists b "
            "USING (artist_id) WHERE b.name_norm = a.name_norm AND u.title_norm = t.title_norm) = 1 "
            "ORDER BY t.track_id LIMIT 1"
        ).fetchone()
    named = ["genre", "predict", "--artist", artist, "--title", title, "--model", "logreg"]
    named += ["--dataset", "tcc_ceds", *base, "-f", "json"]
    r = runner.invoke(app, named)
    assert r.exit_code == 0, r.output
    assert f"is in the store (id {track_id})" in r.stderr
    by_id = runner.invoke(app, ["genre", "predict", str(track_id), *named[6:]])
    assert json.loads(r.stdout) == json.loads(by_id.stdout)
    r = runner.invoke(app, [*named, "--new"])
    assert r.exit_code == 0 and "in the store" not in r.stderr
    assert "item_id" not in json.loads(r.stdout)[0]

    r = runner.invoke(
        app, ["genre", "predict", "999999999", "--model", "logreg", "--dataset", "tcc_ceds", *base]
    )
    assert r.exit_code == 66 and "unknown" in r.output

    r = runner.invoke(
        app, ["genre", "predict", "--model", "vae", "--dataset", "tcc_ceds", "--title", "x", *base]
    )
    assert r.exit_code != 0 and "genre train" in r.output

    out = tmp_path / "eval"
    r = runner.invoke(
        app,
        [
            "genre",
            "evaluate",
            "--dataset",
            "tcc_ceds",
            "--split",
            "time",
            "--models",
            "majority,artist_prior",
            "--db",
            str(genre_db),
            "--out",
            str(out),
            "-f",
            "csv",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "artist_prior" in r.stdout
    assert any(p.suffix == ".png" for p in out.iterdir()) and any(
        p.suffix == ".html" for p in out.iterdir()
    )


def test_genre_cli_bad_input(genre_db: Path) -> None:
    r = runner.invoke(
        app, ["genre", "train", "--model", "nope", "--dataset", "tcc_ceds", "--db", str(genre_db)]
    )
    assert r.exit_code == 66 and "unknown genre model" in r.output
    r = runner.invoke(app, ["genre", "evaluate", "--dataset", "nope", "--db", str(genre_db)])
    assert r.exit_code == 64
