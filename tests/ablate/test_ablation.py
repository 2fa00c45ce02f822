"""A whole ablation of two tiny variants: determinism, seeds, repetition, resume, the report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ablate_support import tiny_plan

from fineweb_pipe.ablate import runs as ablate_runs
from fineweb_pipe.ablate.ablation import run_ablation
from fineweb_pipe.ablate.plan import Plan
from fineweb_pipe.ablate.report import write_report
from fineweb_pipe.cli import main
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.training.batches import BatchConfig, BatchSource


def scores(results: dict[str, Any]) -> dict[str, Any]:
    """What an ablation measured, without its timings."""
    return {"final": results["final"], "curves": results["curves"], "variants": results["variants"]}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, runs: dict[str, Path]) -> tuple[Plan, Path, dict]:
    plan = tiny_plan(runs)
    out = tmp_path_factory.mktemp("ablation")
    return plan, out, run_ablation(plan, str(out))


def test_the_same_seeds_give_the_same_results(uninterrupted: tuple[Plan, Path, dict], tmp_path: Path) -> None:
    plan, _, first = uninterrupted
    again = run_ablation(plan, str(tmp_path / "again"))
    assert scores(again)["final"] == scores(first)["final"] and again["curves"] == first["curves"]


def test_each_seed_reads_the_data_in_another_order(uninterrupted: tuple[Plan, Path, dict]) -> None:
    plan, out, results = uninterrupted
    folder = results["variants"][0]["tokens_folder"]
    first_batches = []
    for seed in range(plan.seeds):
        config = plan.train_config(folder, str(out / "unused"), seed)
        source = BatchSource(BatchConfig(folder, "train", config.seq_len, config.batch_size, seed=config.seed))
        first_batches.append(source.sampler.batch(0, 0))
    assert not np.array_equal(first_batches[0], first_batches[1])
    bpb = results["final"]["prose"]["heldout/heldout/bpb"]["seeds"]
    assert bpb[0] != bpb[1]


def test_a_variant_shorter_than_the_budget_is_repeated_and_reported(uninterrupted: tuple[Plan, Path, dict]) -> None:
    plan, out, results = uninterrupted
    epochs = {v["name"]: v["epochs"] for v in results["variants"]}
    assert epochs["salad"] > 1 > epochs["prose"]
    for seed in range(plan.seeds):  # trained for the whole budget all the same
        records = ablate_runs.read_records(str(out / "runs" / "salad" / f"seed-{seed}"))
        assert records[-1]["step"] == plan.steps and records[-1]["epochs"] == pytest.approx(epochs["salad"])
    assert "salad" in results["table"] and f"{epochs['salad']:.2f}" in results["table"]
    report = Path(write_report(results, str(out))).read_text()
    assert f"read more than once: salad ({epochs['salad']:.2f} epochs)" in report


def test_the_report_shows_curves_table_funnels_and_a_verdict(uninterrupted: tuple[Plan, Path, dict]) -> None:
    _, out, results = uninterrupted
    report = Path(write_report(results, str(out))).read_text()
    for part in ("Verdict", "Final scores", "Along training", "<polygon", "Funnels of the variants", "url_filter",
                 "outside the seed spread" if "outside" in results["verdicts"][0] else "within the seed spread"):
        assert part in report
    assert results["verdicts"][0].startswith(("prose is better than salad", "salad is better than prose"))
    assert "<script" not in report


def test_a_killed_ablation_resumes_to_the_same_results(uninterrupted: tuple[Plan, Path, dict], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plan, _, whole = uninterrupted
    evaluate = ablate_runs.evaluate_checkpoint
    calls = {"n": 0}

    def killed_on_the_fifth(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 5:  # seed 1's second segment is trained and checkpointed, not yet evaluated
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(ablate_runs, "evaluate_checkpoint", killed_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(plan, str(tmp_path))
    monkeypatch.setattr(ablate_runs, "evaluate_checkpoint", evaluate)
    seed_1 = tmp_path / "runs" / "prose" / "seed-1"
    with open(seed_1 / ablate_runs.RECORDS, "a") as f:
        f.write('{"step": 1')  # a line the kill cut short
    resumed = run_ablation(plan, str(tmp_path))
    assert scores(resumed) == scores(whole) | {"variants": resumed["variants"]}
    assert [r["step"] for r in ablate_runs.read_records(str(seed_1))] == plan.eval_steps()


def test_a_rerun_with_other_settings_is_refused(uninterrupted: tuple[Plan, Path, dict], runs: dict[str, Path]) -> None:
    _, out, _ = uninterrupted
    with pytest.raises(ConfigurationError, match=r"other settings \(tokens differ"):
        run_ablation(tiny_plan(runs, tokens=30_000), str(out))


def test_the_command_prints_the_table_and_writes_the_report(runs: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(["ablate", str(runs["prose"]), str(runs["salad"]), "--eval", str(runs["heldout"]), "--tokens", "8000",
                 "--seeds", "1", "--out", str(out), "--vocab-size", "300", "--n-layer", "1", "--d-model", "32",
                 "--seq-len", "32", "--batch-size", "8", "--eval-points", "2", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "variant" in printed and "with one seed: no spread" in printed and (out / "report.html").exists()
    assert json.loads((out / "results.json").read_text())["steps"] == 31


def test_the_command_names_a_missing_input(runs: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ablate", str(runs["prose"]), str(tmp_path / "nope"), "--eval", str(runs["heldout"]),
                 "--tokens", "1000000", "--out", str(tmp_path / "out")])
    assert code == 2
    assert f"{tmp_path / 'nope'}: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
