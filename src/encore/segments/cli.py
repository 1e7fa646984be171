"""``encore segments``: fit listener segments, show them, assign users, draw the map."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from encore.cli.common import (
    OutputFormat,
    SeedOpt,
    State,
    console,
    emit,
    emit_json,
    err_console,
    sub_app,
    with_state,
)
from encore.errors import ConfigError, UnknownIdError

segments_app = sub_app(
    "Listener segments: cluster users by taste and behaviour, name them, map them."
)

NameOpt = Annotated[
    str, typer.Option("--name", help="Model name (several segmentations can live side by side).")
]
ModelDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-dir",
        help="Folder of the saved model (default <db>.segments/<name>/).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``segments`` sub-app to the main app."""
    app.add_typer(segments_app, name="segments")


def _dir(db: Path, name: str, model_dir: Path | None) -> Path:
    from encore.segments.model import model_dir as default_dir

    return model_dir if model_dir is not None else default_dir(db, name)


def _date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {value!r} is not a date (use YYYY-MM-DD)") from exc


def _kv(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for key, value in summary.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                rows.append({"metric": f"{key}.{k2}", "value": _fmt(v2)})
        else:
            rows.append({"metric": key, "value": _fmt(value)})
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


@segments_app.command("fit")
@with_state
def fit_cmd(
    st: State,
    users: Annotated[
        str | None,
        typer.Option("--users", help="Only users of this namespace, e.g. hetrec, lfm1b, lh."),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="kmeans (k by silhouette), gmm (k by BIC) or hdbscan.")
    ] = "kmeans",
    k: Annotated[
        int | None, typer.Option("--k", help="Fixed number of segments (default: chosen).")
    ] = None,
    k_min: Annotated[int, typer.Option("--k-min", help="Smallest k tried.")] = 2,
    k_max: Annotated[int, typer.Option("--k-max", help="Largest k tried.")] = 10,
    features: Annotated[
        str | None,
        typer.Option("--features", help="Comma-separated feature groups (default: all)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Window start (YYYY-MM-DD) of the events used.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Window end (exclusive).")] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", help="Fit on a seeded sample of N users; the rest are assigned."),
    ] = None,
    map_method: Annotated[
        str, typer.Option("--map", help="tsne, umap (needs umap-learn) or none.")
    ] = "tsne",
    seed: SeedOpt = 0,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Fits compared for the adjusted Rand index.")
    ] = 5,
    min_coverage: Annotated[
        float, typer.Option("--min-coverage", help="Least share of users a feature must cover.")
    ] = 0.3,
    jobs: Annotated[int, typer.Option("--jobs", help="Threads for clustering and t-SNE.")] = 1,
    name: NameOpt = "default",
    model_dir: ModelDirOpt = None,
) -> None:
    """Fit segments, save the model next to the store and the assignments in user_segments."""
    from encore.data.store import Store
    from encore.segments.features import candidate_users
    from encore.segments.model import fit_segments, write_assignments

    if map_method not in ("tsne", "umap", "none"):
        raise ConfigError(f"--map must be tsne, umap or none, not {map_method!r}")
    groups = [g.strip() for g in features.split(",") if g.strip()] if features else None
    with Store(st.db) as store:
        with err_console.status("fitting segments"):
            model = fit_segments(
                store,
                name=name,
                namespace=users,
                groups=groups,
                method=method,
                k=k,
                k_range=(k_min, k_max),
                seed=seed,
                n_seeds=seeds,
                since=_date(since, "--since"),
                until=_date(until, "--until"),
                sample=sample,
                map_method=None if map_method == "none" else map_method,
                n_jobs=jobs,
                min_coverage=min_coverage,
            )
            extra = None
            if sample is not None:
                rest = sorted(set(candidate_users(store, users)) - set(model.user_ids))
                if rest:
                    extra = model.assign(store, rest, place_on_map=False)
            written = write_assignments(store, model, extra)
        path = model.save(_dir(st.db, name, model_dir))
    summary = model.summary()
    summary["assigned"] = written
    summary["saved"] = str(path)
    if st.fmt is OutputFormat.json:
        emit_json(
            {
                "summary": summary,
                "curve": model.segmenter.curve,
                "profiles": model.profiles,
                "agreement": model.agreement,
            }
        )
        return
    emit(_kv(summary), st.fmt, title="Segmentation")
    if model.segmenter.curve is not None:
        emit(model.segmenter.curve, st.fmt, title="Choice of k (saved as curve.csv)")
    emit(model.profiles, st.fmt, title="Segments")
    if model.agreement is not None and not model.agreement.empty:
        emit(model.agreement, st.fmt, title="Agreement with known attributes")


@segments_app.command("show")
@with_state
def show_cmd(
    st: State,
    segment: Annotated[
        int | None, typer.Option("--segment", help="Show one segment in detail.")
    ] = None,
    name: NameOpt = "default",
    model_dir: ModelDirOpt = None,
) -> None:
    """Profiles of the fitted segments (size, genres, artists, countries, tenure, skips)."""
    from encore.segments.model import SegmentModel

    model = SegmentModel.load(_dir(st.db, name, model_dir))
    prof = model.profiles
    if segment is None:
        if st.fmt is OutputFormat.json:
            emit_json({"summary": model.summary(), "profiles": prof})
            return
        emit(prof, st.fmt, title=f"Segments of model {model.name!r} ({model.segmenter.method})")
        return
    if segment not in set(prof["segment"].tolist()):
        raise UnknownIdError(
            "segment", [segment], hint="known: " + ", ".join(map(str, prof["segment"].tolist()))
        )
    row = {str(k): v for k, v in prof[prof["segment"] == segment].iloc[0].to_dict().items()}
    if st.fmt is OutputFormat.json:
        emit_json(row)
        return
    emit(
        pd.DataFrame({"field": list(row), "value": [_fmt(v) for v in row.values()]}),
        st.fmt,
        title=f"Segment {segment}",
    )


@segments_app.command("assign")
@with_state
def assign_cmd(
    st: State,
    user: Annotated[list[str], typer.Argument(help="User id(s) in the store, e.g. hetrec:2.")],
    save: Annotated[
        bool, typer.Option("--save", help="Also write the assignment to user_segments.")
    ] = False,
    name: NameOpt = "default",
    model_dir: ModelDirOpt = None,
) -> None:
    """Assign users to a segment from their data, without refitting (and place them on the map)."""
    from encore.data.store import Store
    from encore.data.users import resolve_user
    from encore.segments.model import SegmentModel, store_assignments

    with Store(st.db, read_only=not save) as store:
        users = [resolve_user(store, u) for u in user]  # a typo names the closest ids
        model = SegmentModel.load(_dir(st.db, name, model_dir))
        out = model.assign(store, users)
        if save:
            store_assignments(store, model, out, replace=False)
    emit(out, st.fmt, title="Assigned segments")


@segments_app.command("map")
@with_state
def map_cmd(
    st: State,
    out: Annotated[Path, typer.Option("--out", help="Output file: .png or .html (interactive).")],
    method: Annotated[
        str | None, typer.Option("--method", help="tsne or umap (default: the map saved by fit).")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Chart title.")] = None,
    name: NameOpt = "default",
    model_dir: ModelDirOpt = None,
) -> None:
    """Draw the 2-D map of listeners coloured by segment (PNG or interactive HTML)."""
    from encore.segments.mapping import embed, plot_html, plot_png
    from encore.segments.model import SegmentModel

    suffix = out.suffix.lower()
    if suffix not in (".png", ".html"):
        raise ConfigError(f"--out must end in .png or .html, not {out.name!r}")
    model = SegmentModel.load(_dir(st.db, name, model_dir))
    wanted = method or model.map_method or "tsne"
    xy = model.xy
    if xy is None or wanted != model.map_method:
        assert model.segmenter.train_z is not None
        with err_console.status(f"computing the {wanted} map"):
            xy = embed(model.segmenter.train_z, method=wanted, seed=model.segmenter.seed)
    heading = title or (
        f"Listener segments ({model.namespace or 'all users'}, {len(model.user_ids):,} users, "
        f"{model.segmenter.method})"
    )
    if suffix == ".png":
        path = plot_png(xy, model.labels, model.names, out, title=heading, method=wanted)
    else:
        hover = pd.DataFrame({"user_id": model.user_ids, "top_genres": model.top_genres})
        path = plot_html(xy, model.labels, model.names, hover, out, title=heading, method=wanted)
    if st.fmt is OutputFormat.json:
        emit_json({"out": str(path), "method": wanted, "users": len(model.user_ids)})
    else:
        console.print(f"map written to {path}")
