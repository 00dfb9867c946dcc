"""`selfsynth.results`: runs found by their manifest, cells known by their config fingerprint,
partial runs marked in tables, and a method's identity checked at registration.

One real toy cell (the base model zero-shot on 4 images, seconds) is run; every other stored run
is written through the real writers (``RunStore.write_manifest``, ``write_json``)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from selfsynth import results
from selfsynth.cli import main
from selfsynth.errors import UserError
from selfsynth.experiment import dry_run, reproduce
from selfsynth.io import claim_output_dir, write_json
from selfsynth.registry import Registry
from selfsynth.reports.tables import build_table, format_cell, render
from selfsynth.runner import Runner
from selfsynth.store import RunStore

REPO = Path(__file__).resolve().parents[1]
LIMIT_4 = "limit: 4 images (a subset; not comparable to the paper)"


def experiment(tmp_path: Path, toy_world, name: str, limit: int = 4, **changes) -> Path:
    overrides = {"limit": limit, "toy_cache": str(Path(toy_world.root).parent), **changes.pop("overrides", {})}
    data = {"name": name, "out": str(tmp_path / "runs"), "tasks": ["toy"], "methods": ["base"], "seeds": [0],
            "tables": ["1"], "overrides": overrides, **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def table_json(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "runs" / "experiments" / name / "table1.json").read_text(encoding="utf-8"))


# -- fingerprints -------------------------------------------------------------------------------------
def test_fingerprint_covers_what_produced_the_numbers_not_where_they_are_stored():
    config = {"task": "toy", "limit": 4, "synth": {"reject_samples": 4}, "judge": None,
              "out": "/a/runs", "experiment": "default", "toy_cache": "/a/toy", "iterations": 3}
    moved = {**config, "out": "/elsewhere", "experiment": "other", "toy_cache": "/b", "iterations": 5}
    assert results.config_fingerprint(config) == results.config_fingerprint(moved)
    for key, value in (("limit", 5), ("judge", "local"), ("synth", {"reject_samples": 8})):
        assert results.config_fingerprint({**config, key: value}) != results.config_fingerprint(config), key
    assert results.first_difference(config, {**config, "synth": {"reject_samples": 8}}) == ("synth.reject_samples", 4, 8)
    assert results.first_difference(config, dict(config)) is None


def test_where_curves_are_logged_is_neither_in_the_fingerprint_nor_a_changed_config(tmp_path):
    # train.report_to's default depends on whether tensorboard is installed; it changes no number
    config = {"task": "toy", "limit": 4, "train": {"learning_rate": 1e-5, "report_to": "tensorboard"}}
    plain = {**config, "train": {"learning_rate": 1e-5, "report_to": "none"}}
    assert results.config_fingerprint(config) == results.config_fingerprint(plain)
    assert results.config_fingerprint({**config, "train": {"learning_rate": 2e-5, "report_to": "none"}}) != results.config_fingerprint(config)
    assert config["train"]["report_to"] == "tensorboard"  # the caller's dict is left alone
    store = RunStore(tmp_path, seed=0)
    unit = store.unit_dir("toy", "ours")
    store.write_manifest(unit, config, seeds={"seed": 0}, fingerprints={})
    store.write_manifest(unit, plain, seeds={"seed": 0}, fingerprints={})  # resumes
    with pytest.raises(UserError, match="different config"):
        store.write_manifest(unit, {**plain, "train": {"learning_rate": 2e-5, "report_to": "none"}}, seeds={"seed": 0}, fingerprints={})


# -- cells known by their fingerprint -----------------------------------------------------------------
def test_experiments_sharing_out_never_share_a_cell_of_another_config(tmp_path, toy_world, capsys):
    first = reproduce(experiment(tmp_path, toy_world, "first", limit=4), progress=lambda line: None)
    assert not first["failed"] and [o["cell"] for o in first["outcomes"]] == ["toy__base__seed_0"]
    unit = tmp_path / "runs" / "default" / "toy" / "base" / "seed_0"
    stored = results.read_run(unit)
    assert stored.complete and stored.requested["limit"] == 4 and len(stored.fingerprint) == 64
    assert LIMIT_4 in table_json(tmp_path, "first")["footer"]

    # the same settings under another name: the cell is done, nothing runs
    again = reproduce(experiment(tmp_path, toy_world, "renamed", limit=4), progress=lambda line: None)
    assert again["outcomes"] == []

    # a transfer evaluation records the fingerprint of what produced it, and one of another config is not reused
    transfer = [{"train_task": "toy", "eval_task": "toy", "method": "base"}]
    reproduce(experiment(tmp_path, toy_world, "transfer", transfer=transfer), progress=lambda line: None)
    evaluation = results.read_eval(stored.transfer_folder("toy"))
    assert evaluation.metrics["n"] == 4 and evaluation.fingerprint is not None
    write_json(evaluation.path / results.METRICS, {**evaluation.metrics, "fingerprint": "0" * 64})
    with pytest.raises(UserError, match="the evaluation in .* is of another config"):
        reproduce(experiment(tmp_path, toy_world, "transfer", transfer=transfer), progress=lambda line: None)

    # another limit, synthesis setting or judge: one line naming the field and both values, exit 2
    samples = stored.requested["synth"]["reject_samples"]  # the toy preset's
    changed = {
        "limit": ({"limit": 5}, "limit: stored 4, requested 5"),
        "synth": ({"overrides": {"synth": {"reject_samples": samples + 1}}},
                  f"synth.reject_samples: stored {samples}, requested {samples + 1}"),
        "judge": ({"judge": "local"}, "judge: stored None, requested 'local'"),
    }
    capsys.readouterr()
    for name, (change, expected) in changed.items():
        path = experiment(tmp_path, toy_world, f"other_{name}", **change)
        with pytest.raises(UserError, match=expected.replace("(", r"\(")):
            reproduce(path, progress=lambda line: None)
        assert main(["reproduce", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "--new-run-on-change" in err, err
    assert results.read_run(unit).requested["limit"] == 4  # the stored run was not touched
    report, text = dry_run(experiment(tmp_path, toy_world, "other_limit", limit=5))
    assert [(r["done"], r["changed"]) for r in report["cells"]] == [(False, "limit: stored 4, requested 5")]
    assert "changed: toy__base__seed_0: its folder holds a run of another config (limit: stored 4, requested 5)" in text

    # with the flag, the other config runs in a folder of its own; the first keeps its cell
    other = reproduce(experiment(tmp_path, toy_world, "other_limit", limit=5), progress=lambda line: None, on_change="new_run")
    assert not other["failed"] and len(other["outcomes"]) == 1
    (own,) = [run for run in results.iter_runs(tmp_path / "runs") if run.path != unit]
    assert own.path.parents[2].name == f"default-{own.fingerprint[:10]}" and own.requested["limit"] == 5
    assert own.iterations[0]["metrics"]["n"] == 5 and stored.iterations[0]["metrics"]["n"] == 4
    assert LIMIT_4.replace("4", "5") in table_json(tmp_path, "other_limit")["footer"]
    assert reproduce(experiment(tmp_path, toy_world, "first", limit=4), progress=lambda line: None)["outcomes"] == []
    assert LIMIT_4 in table_json(tmp_path, "first")["footer"]


def test_a_stored_selection_evaluation_of_another_config_is_not_reused(tmp_path, toy_world):
    from selfsynth.experiment import load_experiment, selection_change, selection_path

    path = experiment(tmp_path, toy_world, "select", select_encoders=["all-MiniLM-L6-v2"], methods=[], tables=["13"])
    (cell,) = load_experiment(path).selection
    claim_output_dir(tmp_path / "runs", "run")  # a run store, as a first reproduce leaves it
    assert selection_change(cell) is None  # nothing stored yet
    write_json(selection_path(cell), {"schema_version": 1, "encoders": {}, "fingerprint": results.config_fingerprint(cell.config)})
    assert selection_change(cell) is None
    write_json(selection_path(cell), {"schema_version": 1, "encoders": {}, "fingerprint": "0" * 64})
    assert selection_change(cell) == "config fingerprint differs"
    with pytest.raises(UserError, match="holds a run of another config"):
        reproduce(path, progress=lambda line: None)


# -- partial runs -------------------------------------------------------------------------------------
def _stored_run(root: Path, seed: int, accuracies: list[float], iterations: int = 2) -> Path:
    """A run of `ours` as the store writes it: manifest first, results.json after each iteration."""
    store = RunStore(root, seed=seed)
    unit = store.unit_dir("toy", "ours")
    config = {"task": "toy", "method": "ours", "seed": seed, "iterations": iterations, "experiment": "default"}
    store.write_manifest(unit, config, seeds={"seed": seed}, fingerprints={},
                         extra={"expected_iterations": iterations + 1, "fingerprint": results.config_fingerprint(config),
                                "requested": results.comparable_config(config)})
    records = [{"iteration": i, "metrics": {"accuracy": a, "accuracy_paper": a, "n": 8}} for i, a in enumerate(accuracies)]
    write_json(unit / results.RESULTS, {"schema_version": 1, "task": "toy", "method": "ours", "seed": seed, "limit": 8,
                                        "n_test": 8, "config": config, "iterations": records})
    return unit


def test_a_killed_run_is_marked_incomplete_and_its_cells_show_n(tmp_path):
    _stored_run(tmp_path, 0, [0.25, 0.5, 0.75])
    killed = _stored_run(tmp_path, 1, [0.5])  # killed during iteration 1
    runs = {run.seed: run for run in results.iter_runs(tmp_path)}
    assert runs[0].complete and not runs[1].complete and runs[1].missing() == ["1 of 3 iterations"]
    assert results.read_run(killed).expected_iterations == 3

    table = build_table("1", [tmp_path], seeds=[0, 1])
    (row,) = table.records()
    assert row["method"] == "Ours †" and row["seeds"] == 2
    assert row["iter 0"]["mean"] == pytest.approx(0.375) and row["iter 0"]["n"] == 2
    assert row["iter 2"]["mean"] == pytest.approx(0.75) and row["iter 2"]["n"] == 1
    assert [format_cell(row[f"iter {i}"]) for i in range(3)] == ["0.375 ± 0.177", "0.500 (n=1)", "0.750 (n=1)"]
    text = render(table, "md")
    assert "- (n=k): a cell over k of the 2 seeds asked for (0, 1)" in text
    assert "- † incomplete run, only its finished iterations counted: toy/ours seed 1 (1 of 3 iterations)" in text

    # three seeds asked for, two stored: every cell says so
    three = render(build_table("1", [tmp_path], seeds=[0, 1, 2]), "md")
    assert "0.375 ± 0.177 (n=2)" in three and "of the 3 seeds asked for (0, 1, 2)" in three


def test_the_report_labels_columns_by_display_name_and_marks_incomplete_runs(tmp_path):
    from selfsynth.reports.html.collect import load_run_folder

    _stored_run(tmp_path, 0, [0.25, 0.5, 0.75])
    _stored_run(tmp_path, 1, [0.5])
    labels = [c.label for c in load_run_folder(tmp_path).columns]
    assert labels == ["Ours seed 0 · iter 0", "Ours seed 0 · iter 1", "Ours seed 0 · iter 2", "Ours seed 1 · iter 0 (incomplete run)"]


def test_runs_are_found_by_their_manifest_only(tmp_path):
    _stored_run(tmp_path, 0, [0.5, 0.5, 0.5])
    # lmms-eval's results.json inside a general step, and one with no manifest: neither is a run
    write_json(tmp_path / "default" / "toy" / "ours" / "seed_0" / "iter_0" / "general" / "mme" / results.RESULTS, {"results": {}})
    write_json(tmp_path / "loose" / results.RESULTS, {"schema_version": 1, "task": "toy", "method": "nl", "iterations": []})
    assert [(r.task, r.method, r.seed) for r in results.iter_runs(tmp_path)] == [("toy", "ours", 0)]
    write_json(tmp_path / "default" / "toy" / "ours" / "seed_0" / results.RESULTS, {"schema_version": 7, "iterations": []})
    with pytest.raises(UserError, match="schema_version 7, expected 1"):
        list(results.iter_runs(tmp_path))


# -- method identity ----------------------------------------------------------------------------------
class Renamed(Runner):
    """a runner registered under another name than its own"""

    name = "renamed"
    display_name = "Renamed (ours)"

    def build_data(self, *args, **kwargs):  # pragma: no cover - never run
        raise NotImplementedError("registration is refused before any data is built")


def test_a_runner_registered_under_another_name_is_refused():
    methods = Registry("method", "selfsynth.test_none", base="selfsynth.runner:Runner", identity="name")
    with pytest.raises(UserError, match=r"method 'other' .* has name = 'renamed'"):
        methods.add("other", Renamed)
    methods.add("renamed", Renamed)
    assert methods.get("renamed") is Renamed and methods.display_name("renamed") == "Renamed (ours)"
    assert methods.display_name("uninstalled") == "uninstalled"  # a stored run of a plugin no longer here


def test_built_in_display_names_come_from_the_runner_classes():
    from selfsynth.registry import METHODS

    assert {m: METHODS.display_name(m) for m in ("base", "nl", "lge", "ours", "no_filter")} == {
        "base": "Base", "nl": "NL", "lge": "L+GE", "ours": "Ours", "no_filter": "w/o Filtering"}
    assert all(METHODS.get(m).name == m for m in METHODS.names())


def test_an_entry_point_runner_whose_name_differs_from_its_key_is_refused(tmp_path):
    site = tmp_path / "site"
    (site / "odd_plugin").mkdir(parents=True)
    (site / "odd_plugin" / "__init__.py").write_text(textwrap.dedent('''
        from selfsynth.runners.base import BaseRunner


        class OddRunner(BaseRunner):
            """zero-shot, registered under a key its class does not carry"""
            name = "odd_one"
    '''))
    dist = site / "odd_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[selfsynth.methods]\nodd = odd_plugin:OddRunner\n")
    env = {"PYTHONPATH": f"{site}:{REPO}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    toy_cache = tmp_path / "toy"
    out = subprocess.run([sys.executable, "-m", "selfsynth", "run", "--method", "odd", "--toy_cache", str(toy_cache)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "method 'odd'" in out.stderr and "has name = 'odd_one'" in out.stderr and "Traceback" not in out.stderr
    assert not toy_cache.exists()  # refused before anything was built
