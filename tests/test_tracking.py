"""--train.report_to: a toy run's training curves and per-iteration metrics, read back with
TensorBoard's own event reader; and the run's terminal output (one line per finished step)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_toy import TOY_CACHE

# one iteration of `ours` with the offline judge (EE, CS; fluency off to keep it short)
TINY_RUN = ["run", "--task", "toy", "--method", "ours", "--iterations", "1", "--limit", "8", "--train.max_steps", "4",
            "--synth.describe_prompts", "1", "--synth.describe_samples", "2", "--synth.rewrite_questions", "2",
            "--synth.describe_max_new_tokens", "32", "--synth.rewrite_max_new_tokens", "32", "--eval_max_new_tokens", "32",
            "--judge", "local", "--judging.fluency", "false"]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, toy_world):
    pytest.importorskip("tensorboard", reason="tensorboard is a main dependency; this environment lacks it")
    out = tmp_path_factory.mktemp("tracked") / "runs"
    # progress bars on (as a user sees them), stderr captured: not a terminal
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    done = subprocess.run([sys.executable, "-m", "selfsynth", *TINY_RUN, "--train.report_to", "tensorboard",
                           "--toy_cache", str(TOY_CACHE), "--out", str(out), "--json"],
                          capture_output=True, timeout=900, env=env)  # bytes: carriage returns kept as written
    stderr = done.stderr.decode("utf-8")
    assert done.returncode == 0, stderr[-3000:]
    return out, json.loads(done.stdout), stderr


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(event.step, event.value) for event in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_has_the_loss_per_step_and_the_metrics_per_iteration(tracked_run):
    out, results, _ = tracked_run
    unit = out / "default" / "toy" / "ours" / "seed_0"
    board = unit / "tensorboard"
    assert results["config"]["train"]["report_to"] == "tensorboard"
    assert results["curves"] == f"tensorboard --logdir {board}"

    train = _scalars(board / "train_iter1")
    losses = read_losses(unit / "iter_1" / "train" / "adapter" / "loss_log.jsonl")
    assert [step for step, _ in train["train/loss"]] == [1, 2, 3, 4]
    # the same numbers the run's own loss log holds (TensorBoard stores float32)
    assert [value for _, value in train["train/loss"]] == pytest.approx(losses, rel=1e-6)
    assert "train/learning_rate" in train

    evals = _scalars(board / "eval")
    by_iteration = {r["iteration"]: r for r in results["iterations"]}
    for tag, read in (("eval/accuracy", lambda r: r["metrics"]["accuracy"]), ("judge/CS", lambda r: r["judge"]["cs"]),
                      ("judge/EE", lambda r: r["judge"]["ee"])):
        assert [step for step, _ in evals[tag]] == [0, 1], tag
        assert [value for _, value in evals[tag]] == pytest.approx([read(by_iteration[i]) for i in (0, 1)], abs=1e-6), tag


def test_a_rerun_logs_each_iteration_once(tracked_run):
    out, _, _ = tracked_run
    done = subprocess.run([sys.executable, "-m", "selfsynth", *TINY_RUN, "--train.report_to", "tensorboard",
                           "--toy_cache", str(TOY_CACHE), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    evals = _scalars(out / "default" / "toy" / "ours" / "seed_0" / "tensorboard" / "eval")
    assert [step for step, _ in evals["eval/accuracy"]] == [0, 1]


def test_the_run_prints_one_line_per_finished_step_and_no_blank_lines(tracked_run):
    _, results, stderr = tracked_run
    # what a terminal or a log viewer shows of each line: the text after its last carriage return
    shown = [line.split("\r")[-1] for line in stderr.split("\n")]
    assert shown[-1] == "" and stderr.endswith("\n")
    shown = shown[:-1]
    assert shown and all(line.strip() for line in shown), [i for i, line in enumerate(shown) if not line.strip()]
    steps = [line for line in shown if " · iter " in line]
    # iteration 0: eval, judge; iteration 1: data, train, eval, judge
    assert len(steps) == 6, steps
    assert sum("curves: tensorboard --logdir" in line for line in shown) == 1
    # generation bars are cleared once their step prints its line; no weight-loading/saving bars
    leftovers = [line for line in shown if line.startswith(("eval toy", "describe images", "rewrite answers", "Loading weights", "Writing model shards"))]
    assert not leftovers, leftovers
    # generation bars are drawn on terminals only: a captured stream gets none of their updates
    assert "eval toy" not in stderr and "rewrite answers" not in stderr


def read_losses(path: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in path.read_text().splitlines()]


def test_the_default_tracker_is_tensorboard_when_installed_else_none(monkeypatch):
    import importlib.util

    from selfsynth.train import TrainConfig

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    assert TrainConfig().report_to == "none"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "tensorboard" else real(name, *a))
    assert TrainConfig().report_to == "tensorboard"
    assert TrainConfig(report_to="wandb").report_to == "wandb"  # an explicit choice is kept


def test_an_unknown_tracker_is_one_line_and_exit_2(capsys):
    from selfsynth.cli import main

    assert main(["run", "--train.report_to", "comet", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tensorboard, wandb, mlflow, none" in err, err
