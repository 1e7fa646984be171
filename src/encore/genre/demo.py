"""Demo step: genre of artists without a genre tag, on HetRec Last.fm 2K (well under 2 minutes).

Evaluates the majority baseline against logistic regression (collaborative features only,
and all features) on an artist-disjoint split, draws the confusion matrix, then predicts
the genre of an artist that is not in the store and of one whose genre is unknown.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from encore.cli.console import console


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
        model = result.models["logreg [all]"]
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
