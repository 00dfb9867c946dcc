"""`selfsynth regress`: the non-inferiority gate on hand-written evaluation folders — p-values
against a brute-force enumeration, the margin's boundary, n = 0, and every setting that makes two
folders incomparable."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import beta

from selfsynth.cli import main
from selfsynth.io import write_json, write_jsonl
from selfsynth.errors import UserError
from selfsynth.reports.regress import compare, load_evaluation

GENERATION = {"max_new_tokens": 256, "temperature": 0.0, "top_p": 1.0, "num_samples": 1, "seed": 0, "dtype": "torch.float32"}
SETUP = {"task": "toy", "split": "test", "limit": None, "seed": 0, "prompts_hash": "abc", "question": "q?",
         "generation": GENERATION, "engine": "hf", "scoring_rule": "match-v2"}


def write_eval(folder: Path, hits: list[bool], labels: list[str] | None = None, **metrics) -> Path:
    labels = labels or [f"class{i % 4}" for i in range(len(hits))]
    records = [{"id": f"s{i:03d}", "label": labels[i], "answer": "", "match": h, "paper_match": h} for i, h in enumerate(hits)]
    write_jsonl(folder / "records.jsonl", records)
    write_json(folder / "metrics.json", {**SETUP, "model_fingerprint": folder.name, "accuracy": float(np.mean(hits)) if hits else 0.0, **metrics})
    return folder


def brute_p_value(lost: int, gained: int, n: int, delta0: float, gamma: float = 1e-3, grid: int = 400) -> float:
    """The non-inferiority p-value written independently: every trinomial outcome, ordered by
    T = (C - B - nΔ0) / sqrt(B + C + n|Δ0| + 1), enumerated at each nuisance value of a grid over the
    Berger-Boos interval (not the code's K-conditional sum)."""
    k, t_obs = lost + gained, (gained - lost - n * delta0) / math.sqrt(lost + gained + n * abs(delta0) + 1)
    low = 0.0 if k == 0 else beta.ppf(gamma / 2, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(1 - gamma / 2, k + 1, n - k)
    best = 0.0
    for psi in np.linspace(max(low, -delta0) if delta0 < 0 else low, high, grid):
        p_gained = min((psi + delta0) / 2, psi)  # when ψ < Δ0 the null's largest tail has every discordant pair a gain
        p_lost = psi - p_gained
        total = 0.0
        for b in range(n + 1):
            for c in range(n + 1 - b):
                if (c - b - n * delta0) / math.sqrt(b + c + n * abs(delta0) + 1) >= t_obs - 1e-12:
                    coef = math.factorial(n) // (math.factorial(b) * math.factorial(c) * math.factorial(n - b - c))
                    total += coef * p_lost ** b * p_gained ** c * (1 - psi) ** (n - b - c)
        best = max(best, total)
    return min(1.0, best + gamma)


def gate(tmp_path, base_hits, cand_hits, **kwargs):
    base = load_evaluation(write_eval(tmp_path / "base", base_hits))
    return compare(base, load_evaluation(write_eval(tmp_path / "cand", cand_hits)), **kwargs)


def test_paired_report_numbers(tmp_path):
    base = [True] * 30 + [False] * 10  # 0.75
    cand = [True] * 22 + [False] * 8 + [True] * 2 + [False] * 8  # loses 8, gains 2: 0.60
    report = gate(tmp_path, base, cand)
    assert report["n"] == 40 and report["lost"] == 8 and report["gained"] == 2 and report["net_lost"] == 6
    assert report["baseline"]["accuracy"] == 0.75 and report["candidate"]["accuracy"] == 0.6
    assert (report["baseline_right"], report["candidate_right"]) == (30, 24)
    assert report["delta"] == pytest.approx(-0.15)
    assert report["alpha"] == 0.025 and report["interval_level"] == pytest.approx(0.95)
    assert report["p_noninferior"] == pytest.approx(brute_p_value(8, 2, 40, 0.0), abs=2e-3)
    low, high = report["delta_interval"]
    assert -0.4 < low < -0.15 < high < 0.05 and report["delta_ci95"] == [low, high]
    assert report["verdict"] == "not-shown" and report["regressed"]
    assert (report["baseline"]["model_fingerprint"], report["candidate"]["model_fingerprint"]) == ("base", "cand")
    # classes that lost, worst first: s022..s029 (classes 2,3,0,1,2,3,0,1) are lost, s030/s031
    # (classes 2, 3) gained, so classes 0 and 1 go 8/10 → 6/10 and classes 2 and 3 7/10 → 6/10
    dropped = [(row["label"], row["n"], row["baseline"], row["candidate"]) for row in report["classes_dropped"]]
    assert dropped == [("class0", 10, 0.8, 0.6), ("class1", 10, 0.8, 0.6), ("class2", 10, 0.7, 0.6), ("class3", 10, 0.7, 0.6)]


@pytest.mark.parametrize("lost, gained, n, max_drop", [
    (4, 0, 24, "0"), (4, 0, 24, "0.25"), (0, 6, 20, "0"), (1, 1, 25, "0.2"), (2, 9, 30, "0.05"), (0, 0, 18, "0.3"),
])
def test_p_values_agree_with_brute_force_enumeration(tmp_path, lost, gained, n, max_drop):
    base = [True] * lost + [False] * gained + [True] * (n - lost - gained)
    cand = [False] * lost + [True] * gained + [True] * (n - lost - gained)
    report = gate(tmp_path, base, cand, max_drop=max_drop)
    assert (report["lost"], report["gained"]) == (lost, gained)
    reference = brute_p_value(lost, gained, n, -float(max_drop))
    assert reference - 1e-12 <= report["p_noninferior"] <= reference + 2e-3
    improved = brute_p_value(lost, gained, n, 0.0)
    assert improved - 1e-12 <= report["p_improved"] <= improved + 2e-3
    # the decision is the one the brute force takes, and the printed interval agrees with it
    assert (report["verdict"] in ("improved", "non-inferior")) == (reference <= 0.025)
    assert (report["delta_interval"][0] > -float(max_drop)) == (report["verdict"] in ("improved", "non-inferior"))
    assert (report["verdict"] == "improved") == (report["delta_interval"][0] > 0)


def test_the_issue_case_a_four_of_24_drop_is_not_waved_through(tmp_path):
    # 4 lost, 0 gained of 24: the old gate called this TOLERATED (McNemar p = 0.125) while
    # printing an interval that excluded 0; now the interval and the decision come from one test
    report = gate(tmp_path, [True] * 24, [False] * 4 + [True] * 20, max_drop="0.01")
    assert report["verdict"] == "not-shown" and report["regressed"]
    assert report["delta_interval"][0] < -0.01 and report["allowed_net_lost"] == 0
    assert "H0: delta <= -0.01" in report["reason"] and "not rejected at one-sided alpha 0.025" in report["reason"]
    assert "lost 4, gained 0 of 24" in report["reason"]


def test_at_the_boundary_delta_exactly_minus_max_drop_is_not_non_inferior(tmp_path):
    # 400 pairs, 20 lost, 16 gained: delta is exactly -0.01 = -max_drop; H0 holds at the data
    base = [True] * 20 + [False] * 16 + [True] * 200 + [False] * 164
    cand = [False] * 20 + [True] * 16 + [True] * 200 + [False] * 164
    report = gate(tmp_path, base, cand, max_drop="0.01")
    assert report["delta"] == pytest.approx(-0.01) and report["verdict"] == "not-shown"
    assert report["p_noninferior"] > 0.4  # the observed point sits on the null's boundary
    low, high = report["delta_interval"]
    assert low < -0.01 < high
    # one more gained sample moves the point estimate inside the margin, still not shown at n = 400
    assert gate(tmp_path / "more", base, cand[:20] + [True] * 17 + cand[37:], max_drop="0.01")["verdict"] == "not-shown"


def test_non_inferiority_improvement_and_a_shown_regression(tmp_path):
    n = 300
    same = [True] * 200 + [False] * 100
    identical = gate(tmp_path / "a", same, same, max_drop="0.02")
    # no discordant pair among 300: the drop is shown to be under 2 points ((0.98)^300 < 0.025)
    assert identical["verdict"] == "non-inferior" and not identical["regressed"]
    assert identical["delta_interval"][0] > -0.02
    # with a zero margin an unchanged model cannot be shown no worse: the gate says so, not "ok"
    assert gate(tmp_path / "b", same, same)["verdict"] == "not-shown"
    better = gate(tmp_path / "c", same, [True] * 240 + [False] * 60)
    assert better["verdict"] == "improved" and better["delta_interval"][0] > 0 and not better["regressed"]
    worse = gate(tmp_path / "d", same, [True] * 150 + [False] * 150, max_drop="0.05")
    assert worse["verdict"] == "regressed" and worse["delta_interval"][1] < -0.05
    assert worse["allowed_net_lost"] == 15 and isinstance(worse["allowed_net_lost"], int) and n == 300


def test_alpha_and_margin_are_checked(tmp_path):
    base = load_evaluation(write_eval(tmp_path / "base", [True] * 8))
    for kwargs, message in [({"alpha": 0.6}, "one-sided level"), ({"alpha": 0.0}, "one-sided level"),
                            ({"max_drop": "-0.1"}, "expected a number in"), ({"max_drop": "1"}, "expected a number in")]:
        with pytest.raises(UserError, match=message):
            compare(base, base, **kwargs)


def test_cli_exit_codes_and_report_file(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 150 + [False] * 50)
    better = write_eval(tmp_path / "better", [True] * 190 + [False] * 10)
    worse = write_eval(tmp_path / "worse", [False] * 100 + [True] * 50 + [False] * 50)
    assert main(["regress", "--baseline", str(base), "--candidate", str(better)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("IMPROVED: H0: delta <= 0 rejected at one-sided alpha 0.025")
    assert "(150 of 200) -> 0.9500 (190 of 200)" in printed[0] and "[95%: " in printed[0]
    out = tmp_path / "report.json"
    assert main(["regress", "--baseline", str(base / "metrics.json"), "--candidate", str(worse), "--out", str(out),
                 "--max-drop", "0.05"]) == 1
    printed = capsys.readouterr().out
    assert "REGRESSED: H0: delta <= -0.05 (non-inferiority margin --max-drop 0.05) not rejected" in printed
    assert "lost 100, gained 0 of 200" in printed and "0.7500 (150 of 200) -> 0.2500 (50 of 200)" in printed
    assert json.loads(out.read_text())["lost"] == 100
    assert main(["regress", "--baseline", str(base), "--candidate", str(better), "--max-drop", "a lot"]) == 2
    assert "expected a number such as 0.01" in capsys.readouterr().err


def test_empty_evaluations_are_a_user_error(tmp_path, capsys):
    empty = write_eval(tmp_path / "empty", [])
    assert main(["regress", "--baseline", str(empty), "--candidate", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no samples to compare (n = 0)" in err and err.count("\n") == 1


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
