"""``encore rl``: check the off-policy estimators, fit the simulator, compare the policies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from encore.cli.common import (
    OutputFormat,
    State,
    console,
    emit,
    emit_json,
    err_console,
    say_written,
    sub_app,
    with_state,
    write_csvs,
)
from encore.errors import ConfigError

rl_app = sub_app(
    "Reinforcement learning: bandit and REINFORCE policies, off-policy evaluation, simulator."
)

SmallOpt = Annotated[
    bool,
    typer.Option(
        "--small", help="Small settings (8 listeners, 2,500 rounds each): about a minute."
    ),
]
MinPlaysOpt = Annotated[
    int | None,
    typer.Option("--min-item-plays", help="Tracks played fewer times leave the action space."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every sample and fit.")]
MaxRoundsOpt = Annotated[
    int | None,
    typer.Option("--max-rounds-per-user", help="Keep each listener's latest N rounds."),
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="REINFORCE training epochs.")]


def register(app: typer.Typer) -> None:
    """Add the ``rl`` sub-app to the main app."""
    app.add_typer(rl_app, name="rl")


def _at_least_one(**options: int | None) -> None:
    """Refuse a count option below 1 (``max_rounds_per_user`` is ``--max-rounds-per-user``)."""
    for name, value in options.items():
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")


def _settings(small: bool, min_item_plays: int | None, seed: int, **more: Any) -> Any:
    from dataclasses import replace

    from encore.rl.evaluate import Settings

    s = Settings.small() if small else Settings()
    changes: dict[str, Any] = {"seed": seed}
    _at_least_one(min_item_plays=min_item_plays)
    if min_item_plays is not None:
        changes["min_item_plays"] = min_item_plays
    changes.update({k: v for k, v in more.items() if v is not None})
    return replace(s, **changes)


def _load(db: Path, settings: Any) -> Any:
    from encore.data.store import Store
    from encore.rl.logs import load_rounds

    with Store(db, read_only=True) as store:
        return load_rounds(
            store,
            min_item_plays=settings.min_item_plays,
            max_users=settings.max_users,
            max_rounds_per_user=settings.max_rounds_per_user,
        )


def _ci(v: float, lo: float, hi: float) -> str:
    if pd.isna(v):
        return ""
    if pd.isna(lo):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison with each interval in one column (for the terminal)."""
    return pd.DataFrame(
        {
            "policy": table["policy"],
            "ndcg@10": table["ndcg@10"].round(4),
            "recall@10": table["recall@10"].round(4),
            "users": table["rank_users"],
            "OPE SNIPS": [
                _ci(*r) for r in table[["ope_snips", "ope_snips_low", "ope_snips_high"]].to_numpy()
            ],
            "OPE DR": [_ci(*r) for r in table[["ope_dr", "ope_dr_low", "ope_dr_high"]].to_numpy()],
            "ESS": table["ess"].round(1),
            "sim min/session": [
                _ci(*r)
                for r in table[["sim_minutes", "sim_minutes_low", "sim_minutes_high"]].to_numpy()
            ],
            "sim skips/session": table["sim_skips"].round(2),
            "sim listen rate": table["sim_listen_rate"].round(3),
        }
    )


@rl_app.command("ope-check")
@with_state
def ope_check_cmd(
    st: State,
    rounds: Annotated[
        str, typer.Option("--rounds", help="Log sizes, comma-separated.")
    ] = "500,2000",
    repeats: Annotated[int, typer.Option("--repeats", help="Synthetic logs per size.")] = 100,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples per log.")] = 100,
    seed: SeedOpt = 0,
) -> None:
    """Bias, spread, RMSE and interval coverage of every estimator on synthetic logs whose
    true policy value is known (run before trusting them on real logs)."""
    from rich.progress import Progress

    from encore.rl.ope import SyntheticBandit, synthetic_check

    try:
        sizes = [int(x) for x in rounds.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--rounds: {rounds!r} is not a list of integers") from exc
    if not sizes or min(sizes) < 10:
        raise ConfigError("--rounds needs sizes of at least 10")
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("synthetic logs", total=len(sizes) * repeats)
        table, truth = synthetic_check(
            SyntheticBandit(seed=seed),
            n_rounds=sizes,
            repeats=repeats,
            n_boot=n_boot,
            seed=seed,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    emit(table, st.fmt, title=f"Off-policy estimators on synthetic logs (true value {truth:.4f})")


@rl_app.command("simulate")
@with_state
def simulate_cmd(
    st: State,
    small: SmallOpt = False,
    min_item_plays: MinPlaysOpt = None,
    sessions: Annotated[
        int, typer.Option("--sessions", help="Simulated sessions per listener.")
    ] = 20,
    max_rounds_per_user: MaxRoundsOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Fit the listener simulator on the store's rewarded rounds and report its fit to the
    held-out sessions (skip rate, session length, genre mix)."""
    from encore.cli.common import progress_status
    from encore.rl.logging_policy import Embeddings, fit_behaviour
    from encore.rl.simulator import Simulator, heldout_fit

    _at_least_one(sessions=sessions, max_rounds_per_user=max_rounds_per_user)
    settings = _settings(small, min_item_plays, seed, max_rounds_per_user=max_rounds_per_user)
    with progress_status("fitting the simulator"):
        data = _load(st.db, settings)
        emb = Embeddings.fit(data, seed=seed)
        behaviour = fit_behaviour(data, emb, sample=settings.behaviour_sample, seed=seed)
        sim = Simulator.fit(data, emb)
        fit = heldout_fit(sim, behaviour, sessions_per_user=sessions, seed=seed)
    if st.fmt is OutputFormat.json:
        emit_json({"data": data.stats, "fit": fit, **sim.stats})
        return
    emit(fit, st.fmt, title="Simulator against held-out sessions")


@rl_app.command("evaluate")
@with_state
def evaluate_cmd(
    st: State,
    policies: Annotated[
        str,
        typer.Option(
            "--policies",
            help="Registry models, comma-separated (popular,als,sasrec,bandit,reinforce...).",
        ),
    ] = "popular,als,bandit,reinforce",
    small: SmallOpt = False,
    min_item_plays: MinPlaysOpt = None,
    sessions: Annotated[
        int | None, typer.Option("--sessions", help="Simulated sessions per listener.")
    ] = None,
    ope_rounds: Annotated[
        int | None, typer.Option("--ope-rounds", help="Test rounds sampled for the estimates.")
    ] = None,
    max_users: Annotated[
        int | None, typer.Option("--max-users", help="Keep the first N listeners (by id).")
    ] = None,
    max_rounds_per_user: MaxRoundsOpt = None,
    epochs: EpochsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the tables and charts (PNG + HTML).")
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Compare the policies on ranking metrics, off-policy estimates with intervals and ESS,
    and long-run reward in the calibrated simulator (one table)."""
    from encore.recommenders.registry import available_models
    from encore.rl.evaluate import run_rl_evaluation, write_charts

    names = [p.strip() for p in policies.split(",") if p.strip()]
    known = set(available_models())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        from encore.errors import UnknownIdError

        raise UnknownIdError("model", unknown or [policies], hint="see encore evaluate --help")
    _at_least_one(
        sessions=sessions,
        ope_rounds=ope_rounds,
        max_users=max_users,
        max_rounds_per_user=max_rounds_per_user,
        epochs=epochs,
    )
    settings = _settings(
        small,
        min_item_plays,
        seed,
        sessions=sessions,
        ope_rounds=ope_rounds,
        max_users=max_users,
        max_rounds_per_user=max_rounds_per_user,
        reinforce_epochs=epochs,
    )
    if out is not None and out.suffix:
        raise ConfigError(f"--out {out}: give a folder, not a file")
    with console.status("loading the rewarded rounds") as status:
        data = _load(st.db, settings)
        result = run_rl_evaluation(
            data, policies=names, settings=settings, progress=lambda m: status.update(m)
        )
    paths: list[Path] = []
    if out is not None:
        tables = {
            "rl_comparison": result.table,
            "rl_ope": result.ope,
            "rl_sessions": result.sessions,
            "rl_simulator_fit": result.simulator_fit,
        }
        write_csvs(out, tables)
        paths = write_charts(result, out)
    if st.fmt is OutputFormat.json:
        _warn_few_ranked(result.table)  # on stderr, in every format
        emit_json(
            {
                "data": result.data_stats,
                "comparison": result.table,
                "ope": result.ope,
                "simulator_fit": result.simulator_fit,
                "logging_policy_fit": result.behaviour_fit,
                "charts": [str(p) for p in paths],
            }
        )
        return
    shown = result.table if st.fmt is OutputFormat.csv else display_table(result.table)
    emit(shown, st.fmt, title="RL policies against CF (listen rate; minutes per session)")
    _warn_few_ranked(result.table)
    if st.fmt is OutputFormat.table:
        emit(result.simulator_fit, st.fmt, title="Simulator against held-out sessions")
        emit(pd.DataFrame([result.behaviour_fit]), st.fmt, title="Logging policy, held-out fit")
        say_written(paths)


def _warn_few_ranked(table: pd.DataFrame) -> None:
    """A note when ndcg@10 / recall@10 rest on fewer listeners than an interval needs: on a
    store of a few histories, `--small` ranked one listener, so each policy scored 0 or 1."""
    from encore.evaluation.stats import MIN_USERS_FOR_INTERVALS

    if "rank_users" not in table:
        return
    ranked = pd.to_numeric(table["rank_users"], errors="coerce").dropna()
    if ranked.empty or int(ranked.max()) >= MIN_USERS_FOR_INTERVALS:
        return
    n = int(ranked.max())
    err_console.print(
        f"[yellow]note:[/] ndcg@10 and recall@10 come from {n} listener(s) with test plays, "
        f"too few to rank the policies (intervals need {MIN_USERS_FOR_INTERVALS}); read the "
        "off-policy and simulator columns, or give more listeners (--max-users N, no --small)",
        highlight=False,
        soft_wrap=True,
    )


@rl_app.command("train")
@with_state
def train_cmd(
    st: State,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="Registry model to fit on the rewarded rounds (bandit, reinforce, ...).",
        ),
    ] = "bandit",
    small: SmallOpt = False,
    min_item_plays: MinPlaysOpt = None,
    max_rounds_per_user: MaxRoundsOpt = None,
    epochs: EpochsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the learning curve (PNG + HTML).")
    ] = None,
    seed: SeedOpt = 0,
) -> None:
    """Fit a policy on the store's rewarded rounds (train side; the bandit with genres) and
    save it as <db>.models/rl-<policy>.npz, which `encore rl recommend --model-file` serves."""
    from encore.recommenders.recommend import models_dir
    from encore.recommenders.registry import available_models
    from encore.rl.evaluate import fit_policies, write_curve

    if policy not in set(available_models()):
        from encore.errors import UnknownIdError

        raise UnknownIdError("model", [policy], hint="see encore evaluate --help")
    _at_least_one(max_rounds_per_user=max_rounds_per_user, epochs=epochs)
    settings = _settings(
        small,
        min_item_plays,
        seed,
        max_rounds_per_user=max_rounds_per_user,
        reinforce_epochs=epochs,
    )
    with console.status("loading the rewarded rounds") as status:
        data = _load(st.db, settings)
        model = fit_policies(data, [policy], settings, say=lambda m: status.update(m))[policy]
    path = model.save(models_dir(st.db) / f"rl-{policy}.npz")
    paths: list[Path] = []
    curve = model.training_curve() if hasattr(model, "training_curve") else None
    if out is not None and curve is not None:
        paths = write_curve(policy, curve, out)
    summary = {
        "policy": policy,
        "items": data.n_items,
        "train_rounds": data.stats["train_rounds"],
        "listeners": data.stats["users"],
        "fit_s": round(float(model.fit_time_s or 0.0), 2),
        "file": str(path),
    }
    if st.fmt is OutputFormat.json:
        emit_json(
            {**summary, "curve": [] if curve is None else curve, "charts": [str(p) for p in paths]}
        )
        return
    emit(pd.DataFrame([summary]), st.fmt, title=f"{policy} fitted on the rewarded rounds")
    if curve is not None and st.fmt is OutputFormat.table:
        emit(curve.round(4), st.fmt, title="Learning curve")
    say_written(paths)


@rl_app.command("recommend")
@with_state
def recommend_cmd(
    st: State,
    user: Annotated[str, typer.Argument(help="User id in the store, e.g. lh:user_05.")],
    model: Annotated[
        str, typer.Option("--model", help="Registry model (bandit, reinforce, als, ...).")
    ] = "bandit",
    n: Annotated[int, typer.Option("-n", help="Tracks in the list.")] = 10,
    epsilon: Annotated[
        float, typer.Option("--epsilon", help="Exploration share per slot (0: the model's list).")
    ] = 0.1,
    pool: Annotated[
        int,
        typer.Option("--pool", help="Candidates (the model's top unseen tracks) explored among."),
    ] = 100,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Seed of the draw (default: fresh, and logged).", show_default=False
        ),
    ] = None,
    log_to: Annotated[
        Path | None,
        typer.Option("--log", help="Append the served list with its propensities to this CSV."),
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option("--model-file", help="Serve this saved model (e.g. from encore rl train)."),
    ] = None,
) -> None:
    """A list served by a known exploring policy, each track with its exact propensity
    (slot-wise epsilon-greedy over the model's candidates), optionally logged for exact
    off-policy evaluation later."""
    import secrets

    from encore.data.store import Store
    from encore.recommenders import recommend as rec
    from encore.rl.serve import append_log, explore_slate

    if n < 1 or pool < n:
        raise ConfigError(f"-n must be positive and --pool at least -n (got {n} and {pool})")
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"--epsilon must be between 0 and 1, not {epsilon}")
    if log_to is not None and log_to.suffix.lower() != ".csv":
        raise ConfigError(f"--log {log_to}: the propensity log is a .csv file")
    draw_seed = int(seed) if seed is not None else secrets.randbits(31)
    with Store(st.db, read_only=True) as store:
        uid = rec.resolve_user(store, user)
        with err_console.status(f"getting {model} ready"):
            loaded = rec.get_model_for(store, st.db, model, level="track", model_path=model_file)
        for note in loaded.notes:
            err_console.print(f"[dim]{note}[/]")
        answer = rec.recommend_for_user(
            store, loaded.model, uid, pool, explain=False, level="track", max_per_artist=None
        )
    slate = explore_slate(answer.table, n, epsilon=epsilon, seed=draw_seed)
    if log_to is not None:
        append_log(
            log_to, slate, user_id=uid, policy=loaded.model.name, epsilon=epsilon, seed=draw_seed
        )
        err_console.print(f"logged {len(slate)} tracks with propensities to {log_to}")
    keep = [
        c
        for c in ("rank", "item_id", "name", "artist", "greedy_rank", "explored", "propensity")
        if c in slate
    ]
    served = loaded.model.name
    emit(slate[keep], st.fmt, title=f"{uid}: {served}, epsilon {epsilon} (seed {draw_seed})")
