"""Judging inside `selfsynth run`: every iteration's evaluation is graded once, as its own run-store
step, with the judge and the reference LM loaded once per process; a re-run loads neither."""
from __future__ import annotations

import pytest

from selfsynth.io import read_json, read_jsonl
from selfsynth.metrics import grading
from selfsynth.metrics.fluency import FluencyScorer
from selfsynth.metrics.judges.base import Judge
from selfsynth.metrics.judges.local import LocalJudge
from tests.fixtures_toy import TOY_CACHE


@pytest.fixture
def counters(monkeypatch):
    counts = {"judges_built": 0, "judge_calls": [], "fluency_loads": 0}
    real_init, real_judge, real_load = LocalJudge.__init__, Judge.judge, FluencyScorer._load

    def init(self, *args, **kwargs):
        counts["judges_built"] += 1
        real_init(self, *args, **kwargs)

    def judge(self, items, *args, **kwargs):
        counts["judge_calls"].append(len(items))
        return real_judge(self, items, *args, **kwargs)

    def load(self):
        counts["fluency_loads"] += self._model is None
        real_load(self)

    monkeypatch.setattr(LocalJudge, "__init__", init)
    monkeypatch.setattr(Judge, "judge", judge)
    monkeypatch.setattr(FluencyScorer, "_load", load)
    monkeypatch.setattr(grading, "_GRADERS", {})
    return counts


def _config(out, seed=0):
    from selfsynth.api import resolve_run_config

    return resolve_run_config(None, {
        "task": "toy", "method": "nl", "iterations": "1", "limit": "12", "seed": str(seed), "out": str(out),
        "toy_cache": str(TOY_CACHE), "judge": "local", "train": {"max_steps": "2"}, "eval_max_new_tokens": "48",
    })


@pytest.mark.slow  # one toy run with training and grading, then its re-run (about a minute of CPU)
def test_run_judges_each_iteration_once_and_a_rerun_loads_no_judge(toy_world, tmp_path, counters, monkeypatch, capsys):
    from selfsynth.api import run

    results = run(_config(tmp_path))
    printed = capsys.readouterr().err
    unit = tmp_path / "default" / "toy" / "nl" / "seed_0"
    assert [r["iteration"] for r in results["iterations"]] == [0, 1]
    # one judge and one reference LM for the whole run, one grading per iteration
    assert counters["judges_built"] == 1 and counters["fluency_loads"] == 1
    assert counters["judge_calls"] == [results["n_test"], results["n_test"]]
    for record in results["iterations"]:
        step = unit / f"iter_{record['iteration']}" / "judge_local"
        metrics = read_json(step / "judge_metrics.json")
        rows = read_jsonl(step / "judge_records.jsonl")
        # the summary in results.json is the step's numbers, which are the per-record means
        scored = [r["cs"] for r in rows if r["cs"] is not None]
        assert record["judge"]["cs"] == metrics["cs"] == pytest.approx(sum(scored) / len(scored))
        assert record["judge"]["n"] == len(rows) == results["n_test"]
        assert record["judge"]["judge"]["judge"] == "local-proxy" and record["judge"]["judge"]["proxy"] is True
        assert record["judge"]["fs_mean"] > 1.0  # a perplexity
        # the answers graded are this iteration's evaluation answers
        answers = [r["answer"] for r in read_jsonl(unit / f"iter_{record['iteration']}" / "eval" / "records.jsonl")]
        assert [r["answer"] for r in rows] == answers
    # one line per step on the terminal; the Trainer's per-step dictionaries only in the run's log
    for step in ("iter 0 · eval", "iter 0 · judge_local", "iter 1 · data", "iter 1 · train", "iter 1 · eval", "iter 1 · judge_local"):
        assert sum(f"toy/nl seed 0 · {step}:" in line for line in printed.splitlines()) == 1, step
    assert "items/s" in printed and "'loss'" not in printed
    log = (unit / "run.log").read_text()
    assert "nl iter 1 train step 1: {" in log and "'loss'" in log and "iter 1 · judge_local" in log

    # Table 1 reads the run as stored: accuracy per iteration, EE/CS/FS of the final iteration
    from selfsynth.reports.tables import build_table

    (row,) = build_table("1", [tmp_path]).records()
    final = results["iterations"][-1]
    assert (row["method"], row["seeds"]) == ("NL", 1)
    assert [row[f"iter {r['iteration']}"]["mean"] for r in results["iterations"]] == [r["metrics"]["accuracy"] for r in results["iterations"]]
    assert (row["EE"]["mean"], row["CS"]["mean"], row["FS"]["mean"]) == (final["judge"]["ee"], final["judge"]["cs"], final["judge"]["fs_mean"])

    # a new process (no shared grader) re-running the same command: every step is reused
    monkeypatch.setattr(grading, "_GRADERS", {})
    before = dict(counters, judge_calls=list(counters["judge_calls"]))
    again = run(_config(tmp_path))
    assert counters == before  # no judge built, no reference LM loaded, nothing judged
    assert [r["judge"] for r in again["iterations"]] == [r["judge"] for r in results["iterations"]]
    assert not again["invocation"]["computed"]
