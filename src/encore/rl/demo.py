"""Demo step: the off-policy estimators checked on synthetic logs, and a list served with
exact propensities (what makes future logs fit for exact off-policy evaluation)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from encore.cli.console import console
from encore.data.store import Store


def run(db: Path, out: Path, data: Path) -> list[Path]:
    """Synthetic OPE check (20 logs of 1,000 rounds) and one exploring list for a listener."""
    from encore.recommenders import recommend as rec
    from encore.rl.ope import synthetic_check
    from encore.rl.serve import append_log, explore_slate

    folder = out / "rl"
    folder.mkdir(parents=True, exist_ok=True)
    check, truth = synthetic_check(n_rounds=[1000], repeats=20, n_boot=50)
    check_csv = folder / "ope_synthetic_check.csv"
    check.to_csv(check_csv, index=False)
    table = Table(title=f"Off-policy estimators on 20 synthetic logs (true value {truth:.3f})")
    for col in ("estimator", "bias", "std", "rmse", "coverage"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for row in check.itertuples():
        table.add_row(
            str(row.estimator),
            f"{row.bias:+.4f}",
            f"{row.std:.4f}",
            f"{row.rmse:.4f}",
            f"{row.coverage:.2f}",
        )
    console.print(table)
    outputs = [check_csv]
    with Store(db, read_only=True) as store:
        users = [
            str(r[0])
            for r in store.con.execute(
                "SELECT user_id FROM events WHERE starts_with(user_id, 'lh:') "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ).fetchall()
        ]
        if not users:
            return outputs
        loaded = rec.get_model_for(store, db, "popular", level="track")
        answer = rec.recommend_for_user(
            store, loaded.model, users[0], 50, explain=False, max_per_artist=None
        )
    slate = explore_slate(answer.table, 10, epsilon=0.2, seed=0)
    (folder / "served_with_propensities.csv").unlink(missing_ok=True)  # a fresh log per demo
    log_csv = append_log(
        folder / "served_with_propensities.csv",
        slate,
        user_id=users[0],
        policy="popular",
        epsilon=0.2,
        seed=0,
    )
    console.print(
        f"{users[0]}: 10 popular tracks served with epsilon 0.2; "
        f"{int(slate['explored'].sum())} explored, propensities logged to {log_csv}"
    )
    return [*outputs, log_csv]
