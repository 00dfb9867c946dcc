"""`reproduce --dry-run`'s estimate: shared work counted once, every stage, the judge's own price
(none for the local judge), a loud line for cells it cannot size, and, on a small toy grid, the
answers and judge calls the run then makes, counted independently in its store."""
from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from selfsynth.experiment import dry_run, load_experiment, plan, reproduce
from selfsynth.experiment.spec import CostSettings

REPO = Path(__file__).resolve().parents[1]


def grid(tmp_path: Path, name: str = "grid", **changes) -> Path:
    data = {"name": name, "out": str(tmp_path / "runs"), "tasks": ["toy"], "methods": ["base"], "seeds": [0],
            "tables": ["1"], "overrides": {"toy_cache": str(REPO / ".cache" / "toy"), "limit": 4, "test_limit": 8}}
    overrides = changes.pop("overrides", {})
    data.update(changes)
    data["overrides"].update(overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def stage(report: dict, name: str, key: str = "answers") -> int:
    return report["stages"].get(name, {}).get(key, 0)


def test_shared_work_is_counted_once(tmp_path, toy_world):
    ours = plan(load_experiment(grid(tmp_path, "a", methods=["ours"], iterations=2)))
    both = plan(load_experiment(grid(tmp_path, "b", methods=["ours", "no_filter"], iterations=2)))
    with_base = plan(load_experiment(grid(tmp_path, "c", methods=["base", "ours"], iterations=2)))
    assert stage(ours, "describe") > 0
    assert stage(both, "describe") == stage(ours, "describe")  # step 1 once for ours and no_filter
    assert stage(both, "rewrite") == 2 * stage(ours, "rewrite")  # no_filter's own hidden context
    # base adds nothing: its only evaluation is iteration 0, which ours makes anyway
    assert stage(with_base, "eval") == stage(ours, "eval")
    selected = plan(load_experiment(grid(tmp_path, "d", methods=["ours", "no_filter"], iterations=2,
                                         overrides={"synth": {"no_filter_concepts": "selected"}})))
    assert stage(selected, "rewrite") == stage(ours, "rewrite")  # the same prompts: one rewriting


def test_iteration_zero_is_shared_across_seeds_only_without_a_limit(tmp_path, toy_world):
    limited = plan(load_experiment(grid(tmp_path, "a", seeds=[0, 1], judge="local")))
    assert stage(limited, "eval") == 2 * 8 and stage(limited, "judge", "judge_calls") == 2 * 8  # a subset per seed
    whole = plan(load_experiment(grid(tmp_path, "b", seeds=[0, 1], judge="local", overrides={"limit": None, "test_limit": None})))
    n_test = whole["cells"][0]["n_test"]
    assert n_test > 8 and stage(whole, "eval") == n_test  # the whole split: the same answers for both seeds


def test_local_judge_is_free_and_an_api_judge_uses_its_own_price(tmp_path, toy_world):
    local = plan(load_experiment(grid(tmp_path, "a", methods=["base"], judge="local")))
    _, text = dry_run(grid(tmp_path, "a", methods=["base"], judge="local"))
    assert local["totals_to_run"]["judge_usd"] == 0.0 and "judge local: runs on this machine, no price" in text
    priced = grid(tmp_path, "b", methods=["base"], judge="openai", overrides={
        "judging": {"openai": {"model": "gpt-4o", "price_input_per_mtok": 2.5, "price_output_per_mtok": 10.0}}})
    report = plan(load_experiment(priced))
    cost = CostSettings()
    calls = report["totals_to_run"]["judge_calls"]
    assert calls == 8
    assert report["totals_to_run"]["judge_usd"] == round(calls * (cost.judge_input_tokens * 2.5 + cost.judge_output_tokens * 10.0) / 1e6, 2)
    unpriced = plan(load_experiment(grid(tmp_path, "c", methods=["base"], judge="openai")))
    assert "judge_usd" not in unpriced["totals_to_run"]
    # one price source: the estimate has no prices of its own
    assert not [f.name for f in dataclasses.fields(CostSettings) if "price" in f.name]
    for path in (REPO / "experiments").rglob("*.yaml"):
        assert "price" not in json.dumps(yaml.safe_load(path.read_text()).get("cost", {})), path


def test_every_stage_is_estimated(tmp_path, toy_world):
    report = plan(load_experiment(grid(tmp_path, "a", methods=["ours"], iterations=2, judge="local",
                                       general=["mmstar", "mme"], select_encoders=["all-MiniLM-L6-v2"],
                                       transfer=[{"train_task": "toy", "eval_task": "toy", "method": "ours"}],
                                       overrides={"general_limit": 5})))
    assert set(report["stages"]) == {"eval", "judge", "describe", "rewrite", "reject", "train", "general", "select_eval", "transfer"}
    assert stage(report, "general") == 2 * (5 + 5)  # base and final model, 5 questions of each benchmark
    assert stage(report, "transfer") == 8  # the final model on the eval task's test subset
    _, text = dry_run(grid(tmp_path, "a"))
    assert "to run, per stage:" in text and "| total" in text


def test_a_cell_that_cannot_be_sized_is_named_loudly(tmp_path, toy_world, monkeypatch):
    import selfsynth.experiment.cost as cost

    real = cost._full_sizes
    monkeypatch.setattr(cost, "_full_sizes", lambda cell: None if cell.seed == 1 else real(cell))
    path = grid(tmp_path, "a", seeds=[0, 1])
    report, text = dry_run(path)
    assert report["unsized"] == {"toy__base__seed_1": "dataset size unknown (add tasks[].split_sizes)"}
    assert "NOT SIZED (left out of every total): toy__base__seed_1: dataset size unknown" in text
    assert report["totals_to_run"]["answers"] == 8  # seed 0 only


def store_counts(out: Path) -> tuple[int, int, int]:
    """What the run made, read from its store, not from the estimate: generated answers (every
    sequence in the response cache's generation entries), answers graded (distinct model ×
    test sample over the judge steps) and judge calls actually made (the judge's cache entries)."""
    with sqlite3.connect(out / "cache.sqlite") as db:
        answers = sum(len(json.loads(v)) for (v,) in db.execute("SELECT value FROM responses WHERE namespace = 'generation'"))
        calls = db.execute("SELECT COUNT(*) FROM responses WHERE namespace = 'judge'").fetchone()[0]
    graded = set()
    for records in out.glob("default/toy/*/seed_*/iter_*/judge_local/judge_records.jsonl"):
        iteration = records.parent.parent
        model = "base" if iteration.name == "iter_0" else str(iteration)
        graded |= {(model, json.loads(line)["id"]) for line in records.read_text().splitlines()}
    return answers, len(graded), calls


@pytest.mark.slow
def test_dry_run_predicts_what_the_run_makes(tmp_path, toy_world):
    """A toy grid with every generating stage (iteration 0 shared by three methods, descriptions
    shared by ours and no_filter, rewriting, rejection sampling, judging): the estimate made
    before the run against counts taken from the store after it."""
    path = grid(tmp_path, methods=["base", "ours", "no_filter"], iterations=2, judge="local",
                overrides={"limit": 2, "test_limit": 8})
    report, _ = dry_run(path)
    predicted = report["totals_to_run"]
    outcome = reproduce(path, progress=lambda line: None)
    assert not outcome["failed"]
    answers, graded, calls = store_counts(tmp_path / "runs")
    assert abs(predicted["answers"] - answers) <= 0.05 * answers, (predicted["answers"], answers)
    assert abs(predicted["judge_calls"] - graded) <= 0.05 * graded, (predicted["judge_calls"], graded)
    # the judge's cache also merges identical answers (the toy model repeats itself): never more
    assert calls <= graded
    print(f"\npredicted answers {predicted['answers']}, generated {answers}; "
          f"predicted judge calls {predicted['judge_calls']}, answers graded {graded}, judge cache entries {calls}")
