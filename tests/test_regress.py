"""`selfsynth regress`: the paired regression gate on hand-written evaluation folders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from selfsynth.cli import main
from selfsynth.io import write_json, write_jsonl
from selfsynth.reports.regress import compare, load_evaluation, paired_bootstrap_ci


def write_eval(folder: Path, hits: list[bool], labels: list[str] | None = None, **metrics) -> Path:
    labels = labels or [f"class{i % 4}" for i in range(len(hits))]
    records = [{"id": f"s{i:03d}", "label": labels[i], "answer": "", "match": h, "paper_match": h} for i, h in enumerate(hits)]
    write_jsonl(folder / "records.jsonl", records)
    write_json(folder / "metrics.json", {"task": "toy", "prompts_hash": "abc", "question": "q?", "model_fingerprint": folder.name,
                                         "accuracy": float(np.mean(hits)), **metrics})
    return folder


def test_paired_report_numbers(tmp_path):
    base = [True] * 30 + [False] * 10  # 0.75
    cand = [True] * 22 + [False] * 8 + [True] * 2 + [False] * 8  # loses 8, gains 2: 0.60
    report = compare(load_evaluation(write_eval(tmp_path / "base", base)), load_evaluation(write_eval(tmp_path / "cand", cand)))
    assert report["n"] == 40 and report["lost"] == 8 and report["gained"] == 2
    assert report["baseline"]["accuracy"] == 0.75 and report["candidate"]["accuracy"] == 0.6
    assert report["delta"] == pytest.approx(-0.15)
    assert report["mcnemar_p"] == pytest.approx(binomtest(2, 10, 0.5).pvalue)  # 0.109
    low, high = report["delta_ci95"]
    # 8 losses against 2 gains: a resample with more gains than losses is rarer than 2.5%
    assert -0.35 < low < -0.15 < high <= 0.0
    assert report["regressed"]
    # classes that lost, worst first: s022..s029 → classes 2,3,0,1,2,3,0,1 lose two each, s030/s031 gain
    dropped = {row["label"]: row["delta"] for row in report["classes_dropped"]}
    assert set(dropped) == {"class0", "class1", "class2", "class3"} and all(d < 0 for d in dropped.values())


def test_tolerance_and_significance_decide_the_verdict(tmp_path):
    base = write_eval(tmp_path / "base", [True] * 30 + [False] * 10)
    cand = write_eval(tmp_path / "cand", [True] * 29 + [False] * 11)  # one sample lost: -0.025
    b, c = load_evaluation(base), load_evaluation(cand)
    assert compare(b, c)["regressed"]
    assert not compare(b, c, max_drop=0.03)["regressed"]
    assert not compare(b, c, alpha=0.05)["regressed"]  # p = 1.0 for one discordant pair
    same = compare(b, load_evaluation(write_eval(tmp_path / "same", [True] * 30 + [False] * 10)))
    assert same["delta"] == 0 and same["mcnemar_p"] == 1.0 and not same["regressed"] and same["classes_dropped"] == []


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.random(50) < 0.6, rng.random(50) < 0.5
    assert paired_bootstrap_ci(a, b) == paired_bootstrap_ci(a, b)
    assert paired_bootstrap_ci(a, b, seed=1) != paired_bootstrap_ci(a, b)


def test_cli_exit_codes_and_report_file(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 30 + [False] * 10)
    better = write_eval(tmp_path / "better", [True] * 35 + [False] * 5)
    worse = write_eval(tmp_path / "worse", [False] * 20 + [True] * 10 + [False] * 10)
    assert main(["regress", "--baseline", str(base), "--candidate", str(better)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    out = tmp_path / "report.json"
    assert main(["regress", "--baseline", str(base / "metrics.json"), "--candidate", str(worse), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "REGRESSED" in printed and "0.7500 -> 0.2500" in printed
    assert json.loads(out.read_text())["lost"] == 20


def test_incomparable_evaluations_are_user_errors(tmp_path, capsys):
    base = write_eval(tmp_path / "base", [True] * 8)
    other_prompt = write_eval(tmp_path / "prompt", [True] * 8, prompts_hash="zzz")
    fewer = write_eval(tmp_path / "fewer", [True] * 7)
    relabelled = write_eval(tmp_path / "relabel", [True] * 8, labels=["x"] * 8)
    for cand, expected in [(other_prompt, "prompts_hash differs"), (fewer, "1 only in the baseline"), (relabelled, "labels differ")]:
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
