"""`selfsynth claims`: the paper's claims as data, checked over a hand-written store whose answers
are known — verdicts (holds / not shown / contradicted), estimates recomputed by hand, intervals
inside the metric's range, the JSON for CI, user errors in one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfsynth.cli import main
from selfsynth.io import write_json, write_jsonl
from selfsynth.reports.claims import check_claims, load_claims, render_claims

N_IMAGES = 40
SEEDS = (0, 1, 2)


def hits_for(method: str, iteration: int, seed: int) -> np.ndarray:
    """Known outcomes: base 20%; Ours 60% → 80%; NL equal to Ours; L+GE 30%; w/o Filtering above Ours."""
    rng = np.random.default_rng(100 * seed + 10 * iteration + len(method))
    rate = 0.2 if iteration == 0 else {"ours": 0.6 + 0.2 * (iteration - 1), "lge": 0.3, "no_filter": 0.95}.get(method, 0.0)
    if method == "nl" and iteration > 0:
        return hits_for("ours", iteration, seed)
    order = rng.permutation(N_IMAGES)
    out = np.zeros(N_IMAGES, dtype=bool)
    out[order[: round(rate * N_IMAGES)]] = True
    if iteration == 0:
        out = np.arange(N_IMAGES) < 8  # the base model: the same answers in every run
    return out


def cs_for(method: str, seed: int) -> np.ndarray:
    return np.full(N_IMAGES, {"ours": 0.7, "lge": 0.4, "no_filter": 0.7, "nl": 0.0}.get(method, 0.5)) + 0.01 * seed


def write_store(out: Path, methods=("ours", "nl", "lge", "no_filter"), seeds=SEEDS, unparsed: int = 0,
                experiment: str = "default") -> Path:
    for method in methods:
        for seed in seeds:
            unit = out / experiment / "toy" / method / f"seed_{seed}"
            iterations = []
            for iteration in range(3):
                folder = unit / f"iter_{iteration}" / "eval"
                hits = hits_for(method, iteration, seed)
                write_jsonl(folder / "records.jsonl", [{"id": f"t{i}", "label": "c", "match": bool(h), "paper_match": bool(h),
                                                        "answer": "", "question": "q"} for i, h in enumerate(hits)])
                metrics = {"accuracy": float(hits.mean()), "n": N_IMAGES, "task": "toy"}
                write_json(folder / "metrics.json", metrics)
                if iteration == 2:
                    ee = 0 if method == "nl" else 1
                    rows = [{"id": f"t{i}", "ee": ee, "cs": float(c), "judge_status": "scored"} for i, c in enumerate(cs_for(method, seed))]
                    for row in rows[:unparsed]:
                        row.update(judge_status="unparsed", ee=None, cs=None)
                    write_jsonl(folder / "judge_records.jsonl", rows)
                    scored = cs_for(method, seed)[unparsed:]
                    write_json(folder / "judge_metrics.json", {"ee": ee, "cs": float(scored.mean()), "n": N_IMAGES, "parse_failures": unparsed,
                                                               "judge": {"judge": "local-proxy", "proxy": True}})
                iterations.append({"iteration": iteration, "metrics": metrics, "records": str((folder / "records.jsonl").relative_to(out))})
            write_json(unit / "manifest.json", {"schema_version": 1, "expected_iterations": len(iterations),
                                                "config": {"task": "toy", "method": method, "seed": seed}})
            write_json(unit / "results.json", {"schema_version": 1, "task": "toy", "method": method, "seed": seed, "limit": None,
                                               "config": {"task": "toy", "method": method, "experiment": experiment},
                                               "iterations": iterations})
    return out


def by_id(report):
    return {r["id"]: r for r in report.as_dict()["claims"]}


def test_verdicts_on_a_store_with_known_answers(tmp_path):
    claims = by_id(check_claims([write_store(tmp_path / "runs")]))
    assert claims["ours_acc_gt_lge"]["verdict"] == "holds"  # 60-80% against 30% on 3 × 40 images
    assert claims["ours_acc_ge_nl"]["verdict"] == "holds"  # identical answers: Δ = 0 ≥ −2 points
    assert claims["ours_cs_gt_lge"]["verdict"] == "holds"
    assert claims["nl_no_explanation"]["verdict"] == "holds"  # EE is 0 on every image
    assert claims["ours_acc_gt_no_filter"]["verdict"] == "contradicted"  # the ablation is better here
    assert claims["ours_cs_gt_no_filter"]["verdict"] == "contradicted"  # equal CS: Δ = 0 is not > 0
    assert claims["accuracy_rises"]["verdict"] == "holds"  # 20% → 60% → 80%
    # no general.json or select_eval.json in this store: those claims are listed, not shown, and say why
    for missing, why in (("general_kept", "no stored general.json"), ("selection_beats_random", "no stored select_eval.json")):
        assert claims[missing]["verdict"] == "not shown" and claims[missing]["checks"][0]["note"].startswith(why)


def test_estimates_are_means_over_seeds_of_paired_differences(tmp_path):
    claims = by_id(check_claims([write_store(tmp_path / "runs")]))
    checks = claims["ours_acc_gt_lge"]["checks"]
    assert [c["where"] for c in checks] == ["iteration 1", "iteration 2"]
    for check, iteration in zip(checks, (1, 2)):
        by_hand = np.mean([(hits_for("ours", iteration, s).astype(float) - hits_for("lge", iteration, s)).mean() for s in SEEDS])
        assert check["estimate"] == pytest.approx(by_hand)
        assert -1.0 <= check["low"] <= check["estimate"] <= check["high"] <= 1.0
        assert (check["n_seeds"], check["n_samples"]) == (3, 120)
    rises = claims["accuracy_rises"]["checks"]
    assert [c["where"] for c in rises] == ["iteration 1 vs 0", "iteration 2 vs 1"]
    assert rises[0]["estimate"] == pytest.approx(0.6 - 0.2)
    nl = claims["nl_no_explanation"]["checks"][0]
    assert (nl["estimate"], nl["low"], nl["high"]) == (0.0, 0.0, 0.0)


def test_one_seed_of_a_small_difference_is_not_shown(tmp_path):
    out = write_store(tmp_path / "runs", methods=("ours", "lge"), seeds=(0,))
    # make L+GE's answers Ours' with two images changed: Δ = 2/40, far inside the noise of 40 images
    for iteration in (1, 2):
        hits = hits_for("ours", iteration, 0).copy()
        hits[np.flatnonzero(hits)[:2]] = False
        path = out / "default/toy/lge/seed_0" / f"iter_{iteration}" / "eval" / "records.jsonl"
        write_jsonl(path, [{"id": f"t{i}", "label": "c", "match": bool(h), "paper_match": bool(h), "answer": "", "question": "q"}
                           for i, h in enumerate(hits)])
    claims = by_id(check_claims([out]))
    assert claims["ours_acc_gt_lge"]["verdict"] == "not shown"
    assert claims["ours_acc_ge_nl"]["checks"][0]["note"] == "no stored run of nl"


def test_unparseable_judge_replies_are_left_out_and_counted(tmp_path):
    report = check_claims([write_store(tmp_path / "runs", unparsed=3)])
    assert (report.unparsed, report.judged) == (3 * 4 * 3, 40 * 4 * 3)
    assert by_id(report)["ours_cs_gt_lge"]["checks"][0]["n_samples"] == 3 * 37
    assert "unparseable: 36 of 480" in render_claims(report)


def test_claims_are_data_a_user_file_adds_one(tmp_path, capsys):
    out = write_store(tmp_path / "runs")
    mine = tmp_path / "mine.yaml"
    mine.write_text("- id: above_base\n  text: the final model beats the base model\n  metric: accuracy\n"
                    "  a: {method: ours, iteration: last}\n  b: {method: ours, iteration: first}\n  relation: '>'\n  value: 0\n")
    assert main(["claims", "--out", str(out), "--claims", str(mine), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in report["claims"]] == ["above_base"] and report["claims"][0]["verdict"] == "holds"
    assert report["claims"][0]["checks"][0]["estimate"] == pytest.approx(0.8 - 0.2)


def test_cli_text_json_and_every_paper_claim_listed(tmp_path, capsys):
    out = write_store(tmp_path / "runs")
    write_json(out / "select_eval.json", {"task": "toy", "seed": 0, "n_images": 40,
                                          "encoders": {"clip": {"precision": 0.9, "random_precision": 0.5}}})
    assert main(["claims", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "HOLDS        Ours' accuracy is above L+GE's, every iteration" in text
    assert "CONTRADICTED Filtering helps accuracy" in text
    assert "NOT SHOWN    Concept selection (IB) is more precise than a random selection" in text  # one seed
    assert main(["claims", "--out", str(out), "--format", "json"]) == 0
    listed = {c["id"] for c in json.loads(capsys.readouterr().out)["claims"]}
    assert listed == {c.id for c in load_claims()}


@pytest.mark.parametrize("content, message", [
    ("- id: x\n  metric: speed\n  relation: '>'\n  value: 0\n", "metric 'speed': expected one of"),
    ("- id: x\n  metric: accuracy\n  a: {method: ours}\n  relation: '>'\n  value: 0\n", "b is missing"),
    ("- id: x\n  metric: accuracy\n  a: {method: ours}\n  relation: '<='\n  value: 0\n  colour: red\n", "unknown field(s) colour"),
    ("{not: [yaml", "not valid YAML"),
])
def test_a_bad_claims_file_is_one_line(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    assert main(["claims", "--out", str(write_store(tmp_path / "runs", methods=("ours",), seeds=(0,))), "--claims", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert main(["claims", "--out", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_run_folders_given_one_by_one_are_compared_together(tmp_path):
    # `selfsynth reproduce` passes its cells' run folders, one per (method, seed), and names them as
    # its experiment: the methods are still paired with each other
    out = write_store(tmp_path / "runs")
    cells = sorted(out.glob("default/toy/*/seed_*"))
    report = check_claims(cells, as_experiment="toy-demo")
    claims = {r["id"]: r for r in report.as_dict()["claims"]}
    assert claims["ours_acc_gt_lge"]["verdict"] == "holds" and claims["ours_acc_gt_lge"]["experiment"] == "toy-demo"
    assert claims["ours_acc_gt_lge"]["checks"][0]["n_samples"] == 120


def test_reproduce_ends_with_the_claims_block_of_its_cells(tmp_path):
    from selfsynth.experiment import _claims_block, load_experiment

    out = write_store(tmp_path / "runs")  # cells are shared per store: their runs live under default/
    spec = tmp_path / "exp.yaml"
    spec.write_text(f"name: claims-check\nout: {out}\ntasks:\n  - task: toy\nmethods: [nl, lge, ours, no_filter]\n"
                    "seeds: [0, 1, 2]\niterations: 2\ntables: ['1']\n")
    block = _claims_block(load_experiment(spec))
    assert block == render_claims(check_claims([out], as_experiment="claims-check"))
    assert "HOLDS        Ours' accuracy is above L+GE's, every iteration" in block
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"name: nothing-yet\nout: {tmp_path / 'none'}\ntasks:\n  - task: toy\nmethods: [ours]\nseeds: [0]\niterations: 1\n")
    assert _claims_block(load_experiment(empty)).startswith("claims: not checked (")


def test_general_ability_per_benchmark_over_seeds(tmp_path):
    out = write_store(tmp_path / "runs", methods=("ours",))
    changes = {"mmstar": (0.40, [-0.004, -0.006, -0.005]), "mme": (300.0, [-10.0, -12.0, -9.0])}  # points: -0.5 and about -10
    for seed in SEEDS:
        unit = out / "default" / "toy" / "ours" / f"seed_{seed}"
        write_json(unit / "manifest.json", {"schema_version": 1, "config": {"task": "toy", "method": "ours", "seed": seed, "experiment": "default"}})
        for iteration, shift in ((0, 0), (2, 1)):
            benchmarks = {name: {"value": base + shift * deltas[seed]} for name, (base, deltas) in changes.items()}
            write_json(unit / f"iter_{iteration}" / "general" / "general.json", {"benchmarks": benchmarks})
    claim = by_id(check_claims([out]))["general_kept"]
    checks = {c["where"]: c for c in claim["checks"]}
    assert checks["mmstar"]["estimate"] == pytest.approx(-0.5) and checks["mmstar"]["verdict"] == "holds"
    assert checks["mme"]["estimate"] == pytest.approx(-31 / 3) and checks["mme"]["verdict"] == "contradicted"
    assert checks["mme"]["note"] == "seeds only" and checks["mme"]["n_seeds"] == 3
    assert claim["verdict"] == "contradicted"
