"""Commands of the audio area: ``encore audio train | evaluate | ingest | predict | similar``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from encore.cli.common import (
    OutputFormat,
    SeedOpt,
    State,
    emit,
    emit_json,
    err_console,
    say_written,
    sub_app,
    with_state,
    write_csvs,
)

audio_app = sub_app(
    "Genre and mood from the audio itself (log-mel CNN), and embeddings for tracks nobody has played."
)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Folder of clips with a labels.csv (file,genre[,artist,title]); default <ENCORE_DATA>/genre-audio.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Audio model file (default <store>.models/audio-cnn.npz).",
        show_default=False,
    ),
]
EpochsOpt = Annotated[int, typer.Option("--epochs", help="CNN training epochs.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", help="torch threads (default: torch's).", show_default=False),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device", help="Train on auto (a CUDA GPU when present, else the CPU), cpu or cuda."
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``audio`` sub-app to the main app."""
    app.add_typer(audio_app, name="audio")


def _data_dir(data: Path | None) -> Path:
    """``--data``, else ``<ENCORE_DATA>/genre-audio``; a missing default says how to set it."""
    import os

    from encore.config import Settings
    from encore.errors import ConfigError

    if data is not None:
        return data
    folder = Settings.from_env().data_dir / "genre-audio"
    if not folder.is_dir():
        how = "ENCORE_DATA/genre-audio" if os.environ.get("ENCORE_DATA") else "ENCORE_DATA unset"
        raise ConfigError(
            f"{folder}: no such folder (no --data given; the default, {how})",
            hint="pass --data FOLDER (clips with a labels.csv: file,genre[,artist,title]) "
            "or set ENCORE_DATA to the folder holding genre-audio/",
        )
    return folder


def default_model_path(db: Path) -> Path:
    """``<store>.models/audio-cnn.npz``."""
    return db.with_name(db.name + ".models") / "audio-cnn.npz"


def _load_model(model: Path | None, db: Path) -> Any:
    from encore.audio.cnn import AudioModel
    from encore.errors import ConfigError

    path = model or default_model_path(db)
    if not path.exists():
        raise ConfigError(
            f"{path}: no audio model",
            hint="train one first: encore audio train (or pass --model FILE)",
        )
    return AudioModel.load(path)


def _progress() -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@audio_app.command("train")
@with_state
def train_cmd(
    st: State,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = 15,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Train the CNN (and mood head) on every clip of a labelled folder; save it.

    The mood head is fitted where Emotify ratings are there. ingest, predict and similar
    read the saved model.
    """
    from encore.audio.clips import load_clips
    from encore.audio.cnn import AudioModel, CNNConfig, resolve_device
    from encore.audio.evaluate import MOOD_TARGETS, load_inputs
    from encore.audio.signal import AudioCache

    cfg = CNNConfig(epochs=epochs, seed=seed, threads=threads, device=device)
    on = str(resolve_device(device))  # a GPU asked for and not there is refused before decoding
    clips = load_clips(_data_dir(data))
    cache = AudioCache.default()
    with _progress() as prog:
        task = prog.add_task("decoding clips", total=len(clips.frame))
        specs, _ = load_inputs(clips, cache, lambda m, i, n: prog.update(task, completed=i))
        task2 = prog.add_task("training the CNN (epochs)", total=epochs)
        fitted = AudioModel.fit(
            specs,
            clips.labels(),
            clips.genres,
            cfg,
            lambda row: prog.update(task2, completed=int(row["epoch"])),
        )
    if clips.has_mood:
        emb = fitted.embed(specs)
        fitted.fit_mood(emb, clips.frame[list(MOOD_TARGETS)].to_numpy(dtype=float), MOOD_TARGETS)
    path = fitted.save(model or default_model_path(st.db))
    hist = fitted.history
    emit(
        {
            "model": str(path),
            "clips": len(clips.frame),
            "genres": ", ".join(clips.genres),
            "epochs": epochs,
            "final_train_loss": round(float(hist.rows[-1]["train_loss"]), 4),
            "seconds": round(hist.seconds, 1),
            "device": on,
            "mood_head": clips.has_mood,
        },
        st.fmt,
        title="Audio model",
    )


@audio_app.command("evaluate")
@with_state
def evaluate_cmd(
    st: State,
    data: DataOpt = None,
    folds: Annotated[int, typer.Option("--folds", help="Folds (grouped by artist and song).")] = 5,
    seeds: Annotated[
        str,
        typer.Option(
            "--seeds", help="Comma-separated seeds; the k-fold split is repeated per seed."
        ),
    ] = "0",
    epochs: EpochsOpt = 15,
    per_genre: Annotated[
        int | None,
        typer.Option(
            "--per-genre",
            help="Use at most this many clips per genre (quick runs).",
            show_default=False,
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="List length of the cold-start precision.")] = 10,
    gtzan: Annotated[
        Path | None,
        typer.Option(
            "--gtzan",
            help="GTZAN features CSV for the reference row (default <ENCORE_DATA>/gtzan-features/features_30_sec.csv if there).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write tables (CSV) and the confusion matrix (PNG + HTML) here.",
            show_default=False,
        ),
    ] = None,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Grouped k-fold CV of the CNN, baselines and ensemble; mood and cold start.

    Baselines: majority and classic features + logistic regression, on the same folds.
    Mood and cold-start tables come where Emotify ratings exist.
    """
    import pandas as pd

    from encore.audio.charts import spectrogram_grid
    from encore.audio.clips import load_clips
    from encore.audio.cnn import CNNConfig, resolve_device
    from encore.audio.evaluate import EvalSetting, confusion_charts, cross_validate, gtzan_reference
    from encore.config import Settings
    from encore.errors import ConfigError, DataError

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError as exc:
        raise ConfigError(f"--seeds must be integers separated by commas, not {seeds!r}") from exc
    if not seed_list:
        raise ConfigError("--seeds names no seed")
    gpath = gtzan or Settings.from_env().data_dir / "gtzan-features" / "features_30_sec.csv"
    if gtzan is not None and not gtzan.is_file():
        raise DataError(
            "no such file", file=str(gtzan), hint="--gtzan names GTZAN's features_30_sec.csv"
        )
    resolve_device(device)
    clips = load_clips(_data_dir(data))
    if per_genre is not None:
        clips = clips.subset(per_genre, seed=seed_list[0])
    setting = EvalSetting(
        folds=folds,
        seeds=seed_list,
        cnn=CNNConfig(epochs=epochs, threads=threads, device=device),
        k=k,
    )
    with _progress() as prog:
        task = prog.add_task("decoding clips", total=len(clips.frame))

        def report(message: str, i: int, n: int) -> None:
            prog.update(task, description=message, completed=i, total=n)

        result = cross_validate(clips, setting, progress=report)
    ref = gtzan_reference(gpath, folds, seed_list) if gpath.is_file() else None
    genre = pd.concat([result.genre, ref], ignore_index=True) if ref is not None else result.genre
    written: list[str] = []
    if out is not None:
        tables = {
            "audio-genre": genre,
            "audio-per_fold": result.per_fold,
            "audio-mood": result.mood,
            "audio-coldstart": result.coldstart,
            "audio-coldstart_per_fold": result.coldstart_per_fold,
        }
        written += [str(p) for p in write_csvs(out, tables)]
        written += [str(p) for p in confusion_charts(result, out)]
        first = clips.frame.groupby("genre", sort=True).head(1)
        grid = spectrogram_grid(
            [Path(p) for p in first["path"]], list(first["genre"]), out / "audio-spectrograms.png"
        )
        written.append(str(grid))
    if st.fmt is OutputFormat.json:
        emit_json(
            {
                "setting": result.setting,
                "genre": genre,
                "confusion": {m: v.tolist() for m, v in result.confusion.items()},
                "genres": result.genres,
                "mood": result.mood,
                "coldstart": result.coldstart,
                "files": written,
            }
        )
        return
    if st.fmt is OutputFormat.table:  # one column per metric: "mean [lo, hi]"
        genre = _compact(genre, ["accuracy", "macro_f1"])
    emit(
        genre,
        st.fmt,
        title=f"Genre, {folds}-fold CV grouped by artist, seeds {list(seed_list)} (mean, 95% interval over folds)",
    )
    if st.fmt is OutputFormat.table:
        if result.mood is not None:
            emit(
                result.mood,
                st.fmt,
                title="Mood from audio (out-of-fold): Spearman and ROC-AUC of 'majority chose it'",
            )
        if result.coldstart is not None:
            emit(
                _compact(result.coldstart, ["p_same_genre", "p_liked"]),
                st.fmt,
                title=f"Cold start: precision@{k} of held-out clips per listener",
            )
        say_written(written)


@audio_app.command("ingest")
@with_state
def ingest_cmd(
    st: State,
    path: Annotated[
        Path, typer.Argument(help="An audio file or a folder of them (labels.csv names tracks).")
    ],
    model: ModelOpt = None,
    on_error: Annotated[
        str, typer.Option("--on-error", help="raise or skip undecodable files.")
    ] = "raise",
) -> None:
    """Embed every audio file and write the embeddings, genre and mood to track_features."""
    from encore.audio.store import AudioEmbeddingLoader
    from encore.data.ingest import ingest
    from encore.data.store import Store

    fitted = _load_model(model, st.db)
    with _progress() as prog:
        task = prog.add_task("embedding audio files", total=None)
        loader = AudioEmbeddingLoader(
            fitted, on_file=lambda i, n: prog.update(task, completed=i, total=n)
        )
        with Store(st.db) as store:
            result = ingest(store, loader, path, on_error=on_error)  # type: ignore[arg-type]
    emit(
        {
            "ingest_id": result.ingest_id,
            "tracks": result.loaded.get("tracks", 0),
            "feature_rows": result.loaded.get("track_features", 0),
            "rejected": sum(result.rejected.values()),
            "replaced_previous": result.replaced_previous,
        },
        st.fmt,
        title="Audio ingest",
    )


def _embed_file(fitted: Any, file: Path) -> tuple[Any, Any]:
    from encore.audio.signal import AudioCache

    spec = AudioCache.default().spectrogram(file)
    return fitted._forward([spec])


@audio_app.command("predict")
@with_state
def predict_cmd(
    st: State,
    file: Annotated[Path, typer.Argument(help="An audio file (MP3, WAV, FLAC, OGG).")],
    model: ModelOpt = None,
) -> None:
    """Genre probabilities and predicted mood (share of listeners per emotion) of a file."""
    import pandas as pd

    fitted = _load_model(model, st.db)
    emb, prob = _embed_file(fitted, file)
    rows = [
        {"kind": "genre", "label": g, "value": round(float(p), 4)}
        for g, p in zip(fitted.genres, prob[0], strict=True)
    ]
    rows.sort(key=lambda r: -float(r["value"]))
    if fitted.mood_coef is not None:
        mood = fitted.predict_mood(emb)[0]
        rows += [
            {
                "kind": "like rate" if m == "like_rate" else "mood (share of listeners)",
                "label": m,
                "value": round(float(v), 4),
            }
            for m, v in zip(fitted.mood_names, mood, strict=True)
        ]
    emit(
        pd.DataFrame(rows),
        st.fmt,
        title=f"{file.name}: genre {fitted.genres[int(prob[0].argmax())]}",
    )


@audio_app.command("similar")
@with_state
def similar_cmd(
    st: State,
    file: Annotated[Path, typer.Argument(help="An audio file.")],
    n: Annotated[int, typer.Option("-n", help="How many tracks.")] = 10,
    model: ModelOpt = None,
) -> None:
    """The store's tracks closest to a file by audio embedding (tracks with no plays too)."""
    from encore.audio.signal import file_digest
    from encore.audio.store import similar_tracks
    from encore.data.store import Store
    from encore.errors import ConfigError

    if n < 1:
        raise ConfigError("-n must be at least 1")
    fitted = _load_model(model, st.db)
    emb, _ = _embed_file(fitted, file)
    with Store(st.db, read_only=True) as store:
        row = store.con.execute(
            "SELECT internal_id FROM external_ids WHERE source = 'audio' AND entity = 'track' "
            "AND external_id = ?",
            [f"sha256:{file_digest(file)[:32]}"],
        ).fetchall()
        table = similar_tracks(store, emb[0], n, exclude={int(r[0]) for r in row})
    if len(table) < n:
        # a short list says why: the store has no more embedded tracks to rank
        itself = " other than this clip" if row else ""
        err_console.print(
            f"[dim]only {len(table):,} stored track(s){itself} have an audio embedding "
            "(`encore audio ingest FOLDER` adds more)[/]",
            highlight=False,
            soft_wrap=True,
        )
    emit(table, st.fmt, title=f"Tracks that sound like {file.name}")


def _compact(table: Any, metrics: list[str]) -> Any:
    """``metric``, ``metric_lo``, ``metric_hi`` columns as one text column each."""
    out = table.drop(columns=[f"{m}_{b}" for m in metrics for b in ("lo", "hi")])
    for m in metrics:
        out[m] = [
            f"{v:.3f}" if lo != lo else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
            for v, lo, hi in zip(table[m], table[f"{m}_lo"], table[f"{m}_hi"], strict=True)
        ]
    return out
