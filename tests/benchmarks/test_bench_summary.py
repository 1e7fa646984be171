"""benchmarks/_summary.py: the summary tables bench_sasrec_budget.py and bench_sequence.py
write, on a few fake fits (no data, no model). The expected markdown is what each benchmark
wrote before the tables had one home, byte for byte, for the same rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _summary  # noqa: E402
import bench_sasrec_budget  # noqa: E402
import bench_sequence  # noqa: E402

USERS = [f"u{i}" for i in range(30)]
CONFIGS = [
    ("w3", {"windows_per_user": 3, "epochs": 15}),
    ("w5", {"windows_per_user": 5, "lr": 0.005}),
]
VARIANTS = ["sasrec (sampled_softmax)", "sasrec (gbce)", "sasrec (no_skips)"]

BUDGET_MD = (
    "JODIE Last.fm sample, test split (global time; 1 train pairs); 30 users scored; 1 training thread(s); machine: x86_64, 2 CPUs, Linux; load average at the end 1.2.\n"
    "\n"
    "| setting | seeds | next new NDCG@10 | next play NDCG@10 | play recall@10 | epochs | CPU s | wall s |\n"
    "|---|---|---|---|---|---|---|---|\n"
    "| w3 | 3 | 0.4831 +- 0.0450 | 0.5134 +- 0.0208 | 0.5623 | 15.0 | 6.0 | 10.5 |\n"
    "| w5 | 1 | 0.5395 | 0.5457 | 0.3364 |  | 4.3 | 18.4 |\n"
    "| rectools_sasrec | 3 | 0.4753 +- 0.0405 | 0.4883 +- 0.0494 | 0.6321 | 15.0 | 7.4 | 10.4 |\n"
    "\n"
    "Settings (SASRec parameters beyond the defaults):\n"
    "\n"
    "- `w3`: `windows_per_user=3, epochs=15`\n"
    "- `w5`: `windows_per_user=5, lr=0.005`\n"
    "- `rectools_sasrec`: RecTools SASRecModel, softmax loss, 45 epochs, latest window per user; CPU s is the fit alone (whole process: 21.3, 22.3, 23.3 s)\n"
    "\n"
    "Paired bootstrap (2,000 resamples), per-user NDCG@10 averaged over seeds:\n"
    "\n"
    "| task | setting | minus | difference | 95 % interval | users |\n"
    "|---|---|---|---|---|---|\n"
    "| new | w5 | w3 | +0.0564 | [-0.0326, +0.1608] | 30 |\n"
    "| new | w3 | rectools_sasrec | +0.0078 | [-0.0533, +0.0723] | 30 |\n"
    "| new | w5 | rectools_sasrec | +0.0642 | [-0.0509, +0.1857] | 30 |\n"
    "| play | w5 | w3 | +0.0323 | [-0.0811, +0.1400] | 30 |\n"
    "| play | w3 | rectools_sasrec | +0.0251 | [-0.0539, +0.1070] | 30 |\n"
    "| play | w5 | rectools_sasrec | +0.0574 | [-0.0503, +0.1643] | 30 |\n"
)
SEQUENCE_MD = (
    "HEADER line\n"
    "\n"
    "| model | seeds | next new track NDCG@10 | recall@10 | next play NDCG@10 | recall@10 | epochs | fit s (wall) | CPU s |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
    "| popular | 1 | 0.4769 | 0.1803 | 0.5270 | 0.7469 |  | 2.3 | 1.1 |\n"
    "| sasrec (sampled_softmax) | 3 | 0.5039 +- 0.0543 | 0.7003 | 0.5196 +- 0.0284 | 0.4254 | 8.0 | 1.5 | 1.3 |\n"
    "| sasrec (gbce) | 3 | 0.4753 +- 0.0405 | 0.2143 | 0.4883 +- 0.0494 | 0.6321 | 8.0 | 2.2 | 1.0 |\n"
    "| sasrec (no_skips) | 3 | 0.4411 +- 0.0203 | 0.3496 | 0.4825 +- 0.0970 | 0.3334 | 8.0 | 1.5 | 1.7 |\n"
    "\n"
    "Paired bootstrap (2,000 resamples) of each variant minus sasrec (sampled_softmax), per-user NDCG@10 averaged over the seeds each has run (of 3):\n"
    "\n"
    "| task | variant | difference | 95 % interval | users |\n"
    "|---|---|---|---|---|\n"
    "| new | sasrec (gbce) | -0.0286 | [-0.1107, +0.0458] | 30 |\n"
    "| new | sasrec (no_skips) | -0.0629 | [-0.1417, +0.0190] | 30 |\n"
    "| play | sasrec (gbce) | -0.0313 | [-0.1068, +0.0492] | 30 |\n"
    "| play | sasrec (no_skips) | -0.0371 | [-0.1028, +0.0253] | 30 |\n"
)


def fake_fits(budget: bool) -> tuple[list[dict[str, Any]], _summary.PerUser]:
    """Seeded fake fits: three settings over three seeds and one over a single seed (no sd),
    one without epochs (an empty cell), per-user NDCG@10 on 30 users."""
    rng = np.random.default_rng(3)
    rows: list[dict[str, Any]] = []
    per_user: _summary.PerUser = {}
    names = ["w3", "w5", "rectools_sasrec"] if budget else ["popular", *VARIANTS]
    for name in names:
        for seed in [0] if name in ("w5", "popular") else [0, 1, 2]:
            new, play = rng.random(30), rng.random(30)
            for task, v in (("new", new), ("play", play)):
                per_user.setdefault((name, task), []).append(pd.Series(v, index=USERS))
            if budget:
                rows.append(
                    {
                        "config": name,
                        "seed": seed,
                        "new_ndcg@10": new.mean(),
                        "new_recall@10": rng.random(),
                        "play_ndcg@10": play.mean(),
                        "play_recall@10": rng.random(),
                        "users_new": 30,
                        "users_play": 30,
                        "cpu_s": 10 * rng.random(),
                        "wall_s": 20 * rng.random(),
                        "epochs": np.nan if name == "w5" else 15,
                        **({"process_cpu_s": 21.3 + seed} if name == "rectools_sasrec" else {}),
                    }
                )
            else:
                rows.append(
                    {
                        "model": name,
                        "seed": seed,
                        "epochs_run": None if name == "popular" else 8,
                        "new_ndcg@10": new.mean(),
                        "new_recall@10": rng.random(),
                        "play_ndcg@10": play.mean(),
                        "play_recall@10": rng.random(),
                        "fit_s": 3 * rng.random(),
                        "cpu_s": 2 * rng.random(),
                        "users_new": 30,
                        "users_play": 29,
                    }
                )
    return rows, per_user


def budget_tables(with_peer: bool) -> tuple[list[str], list[dict[str, Any]]]:
    rows, per_user = fake_fits(budget=True)
    if not with_peer:
        rows = [r for r in rows if r["config"] != bench_sasrec_budget.PEER]
        per_user = {k: v for k, v in per_user.items() if k[0] != bench_sasrec_budget.PEER}
    return bench_sasrec_budget.tables(
        rows,
        per_user,
        CONFIGS,
        what="test split (global time; 1 train pairs)",
        n_users=30,
        threads=1,
        machine="x86_64, 2 CPUs, Linux",
        load=1.25,
        peer_epochs=45,
    )


def test_budget_markdown_is_unchanged() -> None:
    md, boots = budget_tables(with_peer=True)
    assert "\n".join(md) + "\n" == BUDGET_MD
    # each setting against the first, then each against the peer, both tasks
    assert [(b["task"], b["setting"], b["versus"]) for b in boots] == [
        (task, n, ref)
        for task in ("new", "play")
        for n, ref in (("w5", "w3"), ("w3", "rectools_sasrec"), ("w5", "rectools_sasrec"))
    ]


def test_budget_without_the_peer_drops_its_line_and_rows() -> None:
    md, boots = budget_tables(with_peer=False)
    text = "\n".join(md) + "\n"
    expected = [line for line in BUDGET_MD.splitlines() if "rectools_sasrec" not in line]
    assert text.splitlines() == expected
    assert [b["versus"] for b in boots] == ["w3", "w3"]


def test_sequence_markdown_is_unchanged() -> None:
    rows, per_user = fake_fits(budget=False)
    md, boots = bench_sequence.tables(rows, per_user, "HEADER line", VARIANTS, 3)
    assert "\n".join(md) + "\n" == SEQUENCE_MD
    assert list(boots[0]) == ["task", "variant", "versus", "diff", "low", "high", "n_users"]
    assert {b["versus"] for b in boots} == {VARIANTS[0]}


def test_sequence_with_one_variant_has_no_bootstrap() -> None:
    rows, per_user = fake_fits(budget=False)
    md, boots = bench_sequence.tables(rows, per_user, "HEADER line", VARIANTS[:1], 3)
    assert boots == []
    assert "\n".join(md) + "\n" == SEQUENCE_MD.split("\n\nPaired bootstrap")[0] + "\n"


@pytest.mark.parametrize(
    ("mean", "sd", "cell"),
    [(0.12344, 0.00561, "0.1234 +- 0.0056"), (0.5, float("nan"), "0.5000"), (0.5, None, "0.5000")],
)
def test_mean_sd(mean: float, sd: float, cell: str) -> None:
    assert _summary.mean_sd(mean, sd) == cell


def test_md_table_and_blank_cells() -> None:
    rows = [
        ["a", 1, _summary.blank_or(float("nan"), ".1f")],
        ["b", 2, _summary.blank_or(2.25, ".1f")],
    ]
    assert _summary.md_table(["name", "n", "x"], rows) == [
        "| name | n | x |",
        "|---|---|---|",
        "| a | 1 |  |",
        "| b | 2 | 2.2 |",
    ]


def test_write_results(tmp_path: Path) -> None:
    _summary.write_results(
        tmp_path / "out" / "sequence-x-user-time", ["a", "b"], {"v": np.float64(0.5)}
    )
    assert (tmp_path / "out" / "sequence-x-user-time.md").read_text() == "a\nb\n"
    assert (tmp_path / "out" / "sequence-x-user-time.json").read_text() == '{\n  "v": 0.5\n}'


def test_curve_charts(tmp_path: Path) -> None:
    curve = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [3.0, 2.5, 2.2],
            "val_loss": [3.1, 2.7, 2.6],
            "val_ndcg10": [0.1, 0.15, 0.17],
        }
    )
    _summary.curve_charts(curve, tmp_path / "img" / "sasrec-curve-x", "SASRec on x")
    png = (tmp_path / "img" / "sasrec-curve-x.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    html = (tmp_path / "img" / "sasrec-curve-x.html").read_text()
    assert "SASRec on x" in html and "val NDCG@10" in html
