"""Demo step: genre of artists without a genre tag, on HetRec Last.fm 2K (about a minute).

Evaluates the majority baseline against logistic regression (collaborative features only,
and all features) on an artist-disjoint split and draws the confusion matrix; then fits the
model that ``encore genre predict`` and the API's ``GET /genre/predict`` use by default on
every labelled artist, saves it beside the store (:func:`save_served_model`), and predicts
with it the genre of an artist that is not in the store and of one whose genre is unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from encore.cli.console import console

if TYPE_CHECKING:
    from encore.genre.base import GenreModel
    from encore.genre.features import GenreData


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Run the demo; return the files written."""
    del data  # the store is already built by the main demo
    from encore.data.store import Store
    from encore.genre.charts import confusion_chart, per_genre_chart
    from encore.genre.evaluate import ModelSpec, evaluate
    from encore.genre.features import load_genre_data
    from encore.genre.predict import predict_new, predict_store_items

    with Store(db, read_only=True) as store:
        hetrec = load_genre_data(store, "hetrec")
        specs = [
            ModelSpec("majority"),
            ModelSpec("logreg", {"groups": ("collab",)}, "logreg [collab]"),
            ModelSpec("logreg", {}, "logreg [all]"),
        ]
        result = evaluate(hetrec, specs, split="artist", seed=0)
        table = result.table
        console.print(
            f"HetRec artists: {len(hetrec):,} ({len(hetrec.labelled):,} with a genre), "
            f"artist-disjoint split, {int(table['n_test'].iloc[0]):,} test artists"
        )
        for row in table.itertuples():
            console.print(
                f"  {row.model!s:<18} accuracy {row.accuracy:.3f}  macro-F1 {row.macro_f1:.3f}  "
                f"top-3 {row.top3_accuracy:.3f}",
                markup=False,
            )
        out = out / "genre"  # beside the other steps' out/<area>/ folders
        out.mkdir(parents=True, exist_ok=True)
        files = confusion_chart(result, "logreg [all]", out)
        files += per_genre_chart(result, ["majority", "logreg [all]"], out)
        csv = out / "genre-eval-hetrec-artist.csv"
        table.to_csv(csv, index=False)
        files.append(csv)
        model, saved = save_served_model(db, hetrec)
        console.print(
            f"  {model.name} fitted on all {len(hetrec.labelled):,} labelled artists in "
            f"{model.fit_seconds_:.0f} s, saved beside the store for `encore genre predict` "
            f"and GET /genre/predict: {escape(str(saved))}"
        )
        files.append(saved)
        new = predict_new(model, artist="Ensemble Baroque de Paris")
        console.print(
            "  new artist 'Ensemble Baroque de Paris' (not in the store): "
            + ", ".join(
                f"{g} {p:.2f}" for g, p in zip(new["genre"], new["probability"], strict=True)
            )
        )
        unknown = hetrec.items.loc[
            hetrec.items["genre"].isna() & (hetrec.listens.getnnz(axis=1) > 5), "item_id"
        ]
        if len(unknown):
            pred = predict_store_items(store, model, [int(unknown.iloc[0])])
            console.print(
                f"  store artist {escape(repr(pred['name'].iloc[0]))} (no genre tag): "
                + ", ".join(
                    f"{g} {p:.2f}" for g, p in zip(pred["genre"], pred["probability"], strict=True)
                )
            )
    return files


def save_served_model(db: Path, data: GenreData | None = None) -> tuple[GenreModel, Path]:
    """Fit the model the API serves by default (:data:`~encore.genre.saved.DEFAULT_MODEL` on
    :data:`~encore.genre.saved.DEFAULT_DATASET`, default options, seed 0: what
    ``encore genre train`` saves) on every labelled item of store ``db`` and save it beside
    the store; return it and its file. ``data``: that dataset, if already loaded.

    Raises
    ------
    ConfigError
        The store's model folder cannot be written (checked before the fit).
    """
    from encore.data.store import Store
    from encore.genre.base import model_path
    from encore.genre.features import load_genre_data
    from encore.genre.saved import DEFAULT_DATASET, DEFAULT_MODEL, fit_all, save_dir

    if data is None:
        with Store(db, read_only=True) as store:
            data = load_genre_data(store, DEFAULT_DATASET)
    if data.name != DEFAULT_DATASET:
        raise ValueError(f"the served model is trained on {DEFAULT_DATASET!r}, not {data.name!r}")
    directory = save_dir(db)
    model = fit_all(data, DEFAULT_MODEL, seed=0)
    return model, model.save(model_path(directory, DEFAULT_MODEL, DEFAULT_DATASET))
