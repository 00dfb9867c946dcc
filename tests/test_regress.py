"""`selfsynth regress`: the paired regression gate on hand-written evaluation folders — numbers,
the exact tolerance edge, tolerated drops, and every setting that makes two folders incomparable."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from selfsynth.cli import main
from selfsynth.io import write_json, write_jsonl
from selfsynth.reports.regress import compare, load_evaluation, paired_bootstrap_ci

GENERATION = {"max_new_tokens": 256, "temperature": 0.0, "top_p": 1.0, "num_samples": 1, "seed": 0, "dtype": "torch.float32"}
SETUP = {"task": "toy", "split": "test", "limit": None, "seed": 0, "prompts_hash": "abc", "question": "q?",
         "generation": GENERATION, "engine": "hf", "scoring_rule": "match-v2"}


def write_eval(folder: Path, hits: list[bool], labels: list[str] | None = None, **metrics) -> Path:
    labels = labels or [f"class{i % 4}" for i in range(len(hits))]
    records = [{"id": f"s{i:03d}", "label": labels[i], "answer": "", "match": h, "paper_match": h} for i, h in enumerate(hits)]
    write_jsonl(folder / "records.jsonl", records)
    write_json(folder / "metrics.json", {**SETUP, "model_fingerprint": folder.name, "accuracy": float(np.mean(hits)), **metrics})
    return folder


def test_paired_report_numbers(tmp_path):
    base = [True] * 30 + [False] * 10  # 0.75
    cand = [True] * 22 + [False] * 8 + [True] * 2 + [False] * 8  # loses 8, gains 2: 0.60
    report = compare(load_evaluation(write_eval(tmp_path / "base", base)), load_evaluation(write_eval(tmp_path / "cand", cand)))
    assert report["n"] == 40 and report["lost"] == 8 and report["gained"] == 2 and report["net_lost"] == 6
    assert report["baseline"]["accuracy"] == 0.75 and report["candidate"]["accuracy"] == 0.6
    assert report["delta"] == pytest.approx(-0.15)
    assert report["mcnemar_p"] == pytest.approx(binomtest(2, 10, 0.5).pvalue)  # 0.109
    low, high = report["delta_ci95"]
    # 8 losses against 2 gains: a resample with more gains than losses is rarer than 2.5%
    assert -0.35 < low < -0.15 < high <= 0.0
    assert report["regressed"] and report["verdict"] == "regressed"
    # the fingerprints differ (they are what is compared) and are reported, not refused
    assert (report["baseline"]["model_fingerprint"], report["candidate"]["model_fingerprint"]) == ("base", "cand")
    # classes that lost, worst first: s022..s029 (classes 2,3,0,1,2,3,0,1) are lost, s030/s031
    # (classes 2, 3) gained, so classes 0 and 1 go 8/10 → 6/10 and classes 2 and 3 7/10 → 6/10
    dropped = [(row["label"], row["n"], row["baseline"], row["candidate"]) for row in report["classes_dropped"]]
    assert dropped == [("class0", 10, 0.8, 0.6), ("class1", 10, 0.8, 0.6), ("class2", 10, 0.7, 0.6), ("class3", 10, 0.7, 0.6)]


def test_tolerance_and_significance_decide_the_verdict(tmp_path):
    base = write_eval(tmp_path / "base", [True] * 30 + [False] * 10)
    cand = write_eval(tmp_path / "cand", [True] * 29 + [False] * 11)  # one sample lost: -0.025
    b, c = load_evaluation(base), load_evaluation(cand)
    assert compare(b, c)["regressed"]
    assert not compare(b, c, max_drop=0.03)["regressed"]
    tolerated = compare(b, c, alpha=0.05)  # p = 1.0 for one discordant pair
    assert not tolerated["regressed"] and tolerated["verdict"] == "tolerated"
    assert "tolerated as not significant" in tolerated["reason"] and "p=1 >= alpha 0.05" in tolerated["reason"]
    same = compare(b, load_evaluation(write_eval(tmp_path / "same", [True] * 30 + [False] * 10)))
    assert same["delta"] == 0 and same["mcnemar_p"] == 1.0 and same["verdict"] == "ok" and same["classes_dropped"] == []


@pytest.mark.parametrize(
    "n, base_right, cand_right, max_drop, regressed",
    [
        (100, 50, 49, "0.01", False),  # exactly the tolerated drop (0.49 - 0.5 is -0.01000000000000001 in floats)
        (100, 50, 49, 0.01, False),  # the same as a float argument
        (100, 50, 48, "0.01", True),
        (100, 70, 67, "0.03", False),
        (100, 70, 66, "0.03", True),
        (1000, 300, 290, "0.01", False),
        (1000, 300, 289, "0.01", True),
        (7, 7, 6, "0.142857", True),  # 1/7 = 0.1428571... is more than 0.142857
        (7, 7, 6, "0.142858", False),
        (40, 20, 20, "0", False),
    ],
)
def test_drop_at_the_tolerance_edge_is_decided_on_counts(tmp_path, n, base_right, cand_right, max_drop, regressed):
    base = write_eval(tmp_path / "base", [True] * base_right + [False] * (n - base_right))
    cand = write_eval(tmp_path / "cand", [True] * cand_right + [False] * (n - cand_right))
    report = compare(load_evaluation(base), load_evaluation(cand), max_drop=max_drop)
    assert report["regressed"] is regressed
    assert report["net_lost"] == base_right - cand_right


def test_bootstrap_matches_index_resampling_and_is_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.random(400) < 0.6, rng.random(400) < 0.5
    assert paired_bootstrap_ci(a, b) == paired_bootstrap_ci(a, b)
    assert paired_bootstrap_ci(a, b, seed=1) != paired_bootstrap_ci(a, b)
    # the multinomial draw is the distribution of resampling pairs: same interval as resampling ids
    diff = b.astype(float) - a.astype(float)
    idx = np.random.default_rng(7).integers(0, diff.size, size=(20000, diff.size))
    naive = np.quantile(diff[idx].mean(axis=1), [0.025, 0.975])
    ours = paired_bootstrap_ci(a, b, n_boot=20000)
    assert ours == pytest.approx(tuple(naive), abs=0.006)


def test_cli_exit_codes_and_report_file(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 30 + [False] * 10)
    better = write_eval(tmp_path / "better", [True] * 35 + [False] * 5)
    worse = write_eval(tmp_path / "worse", [False] * 20 + [True] * 10 + [False] * 10)
    assert main(["regress", "--baseline", str(base), "--candidate", str(better)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("OK: ")
    out = tmp_path / "report.json"
    assert main(["regress", "--baseline", str(base / "metrics.json"), "--candidate", str(worse), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "REGRESSED: net 20 of 40 samples lost" in printed and "0.7500 -> 0.2500" in printed
    assert json.loads(out.read_text())["lost"] == 20
    assert main(["regress", "--baseline", str(base), "--candidate", str(better), "--max-drop", "a lot"]) == 2
    assert "expected a number such as 0.01" in capsys.readouterr().err


def test_an_eight_point_drop_let_through_by_alpha_says_so(tmp_path, capsys):
    # 25 samples: 3 lost, 1 gained → -8 points, McNemar p = 0.625
    base = write_eval(tmp_path / "base", [True] * 20 + [False] * 5)
    cand = write_eval(tmp_path / "cand", [True] * 17 + [False] * 3 + [True] + [False] * 4)
    assert main(["regress", "--baseline", str(base), "--candidate", str(cand), "--alpha", "0.05"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("TOLERATED: net 2 of 25 samples lost") and "not significant (McNemar p=0.625 >= alpha 0.05)" in last


@pytest.mark.parametrize(
    "change, named",
    [
        ({"generation": {**GENERATION, "max_new_tokens": 4}}, "generation.max_new_tokens: 4 vs 256"),
        ({"generation": {**GENERATION, "dtype": "torch.bfloat16"}}, "generation.dtype: 'torch.bfloat16' vs 'torch.float32'"),
        ({"prompts_hash": "zzz"}, "prompts_hash: 'zzz' vs 'abc'"),
        ({"question": "What is it?"}, "question: 'What is it?' vs 'q?'"),
        ({"scoring_rule": "match-v1"}, "scoring_rule: 'match-v1' vs 'match-v2'"),
        ({"split": "train"}, "split: 'train' vs 'test'"),
        ({"limit": 8, "seed": 1}, "limit: 8 vs None; seed: 1 vs 0"),
        ({"engine": "vllm"}, "engine: 'vllm' vs 'hf'"),
    ],
)
def test_each_setting_that_differs_is_named(tmp_path, capsys, change, named):
    base = write_eval(tmp_path / "base", [True] * 8)
    cand = write_eval(tmp_path / "cand", [True] * 8, **change)
    assert main(["regress", "--baseline", str(base), "--candidate", str(cand)]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1


def test_every_difference_is_named_at_once_and_old_folders_are_not_compared_silently(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 8)
    cand = write_eval(tmp_path / "cand", [True] * 8, generation={**GENERATION, "max_new_tokens": 4, "top_p": 0.9}, scoring_rule=None)
    assert main(["regress", "--baseline", str(base), "--candidate", str(cand)]) == 2
    err = capsys.readouterr().err
    assert "generation.max_new_tokens: 4 vs 256; generation.top_p: 0.9 vs 1.0; scoring_rule: None vs 'match-v2'" in err
    # a folder from before the settings were recorded cannot pass as comparable
    old = write_eval(tmp_path / "old", [True] * 8)
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["generation"]
    write_json(old / "metrics.json", metrics)
    assert main(["regress", "--baseline", str(base), "--candidate", str(old)]) == 2
    assert "generation: None vs {" in capsys.readouterr().err


def test_sample_and_label_differences_are_user_errors(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 8)
    fewer = write_eval(tmp_path / "fewer", [True] * 7)
    relabelled = write_eval(tmp_path / "relabel", [True] * 8, labels=["x"] * 8)
    for cand, expected in [(fewer, "1 only in the baseline"), (relabelled, "labels differ")]:
        assert main(["regress", "--baseline", str(base), "--candidate", str(cand)]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1
    assert main(["regress", "--baseline", str(tmp_path / "missing"), "--candidate", str(base)]) == 2
    assert "missing metrics.json" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{}")
    (tmp_path / "broken" / "records.jsonl").write_text('{"id": "s000"}\n')
    assert main(["regress", "--baseline", str(tmp_path / "broken"), "--candidate", str(base)]) == 2
    assert "line 1: expected an object with id, label, match, paper_match" in capsys.readouterr().err


def test_a_broken_records_line_names_file_and_line(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 3)
    with open(base / "records.jsonl", "a", encoding="utf-8") as handle:
        handle.write("{not json\n")
    assert main(["regress", "--baseline", str(base), "--candidate", str(base)]) == 2
    assert f"{base / 'records.jsonl'}:4: not valid JSON" in capsys.readouterr().err
