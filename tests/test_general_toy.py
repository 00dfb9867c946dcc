"""`selfsynth general` runs all five benchmarks through lmms-eval's own tasks and scoring, offline,
on the toy miniatures: each yields its headline metric; MME cognition recomputed from the logged
samples with the published acc/acc+ definition equals lmms-eval's; a second call reuses every
finished benchmark; a second model folder gets its change vs the base."""
from __future__ import annotations

import time

import pytest

from selfsynth.cli import main
from selfsynth.io import read_json, read_jsonl
from selfsynth.metrics.general import BENCHMARKS, MME_COGNITION


ROWS = {"mmstar": 12, "seedbench_2_plus": 12, "mmmu_val": 12, "mme": 24, "mmbench_en_dev": 12}


@pytest.fixture(scope="module")
def toy_benchmarks(toy_world):
    from selfsynth.toy.benchmarks import ensure_toy_benchmarks

    return ensure_toy_benchmarks(toy_world)


@pytest.fixture(scope="module")
def base_run(toy_world, toy_benchmarks, tmp_path_factory):
    out = tmp_path_factory.mktemp("general_base")
    started = time.time()
    code = main(["general", "--model", toy_world.model_path, "--data", str(toy_benchmarks), "--out", str(out),
                 "--batch-size", "16", "--json"])
    assert code == 0, (out / "lmms_eval.log").read_text()[-3000:]
    print(f"five toy benchmarks: {time.time() - started:.1f} s")
    return out


def test_five_benchmarks_yield_their_headline_metric(base_run):
    summary = read_json(base_run / "general.json")
    assert summary["schema_version"] == 1 and summary["limit"] is None
    assert set(summary["benchmarks"]) == set(BENCHMARKS)
    for name, entry in summary["benchmarks"].items():
        results = read_json(base_run / name / "results.json")["results"][f"selfsynth_local_{name}"]
        assert entry["value"] == results[f"{BENCHMARKS[name].headline},none"]  # lmms-eval's own number
        assert 0.0 <= entry["value"] <= BENCHMARKS[name].maximum
        assert entry["n"] == ROWS[name] == len(read_jsonl(base_run / name / "samples.jsonl"))
    assert "no judge" in summary["benchmarks"]["mmbench_en_dev"]["variant"]
    assert summary["benchmarks"]["mmbench_en_dev"]["lmms_eval_task"] == "mmbench_en_dev_static"
    log = (base_run / "lmms_eval.log").read_text()
    assert "selfsynth_local_mme" in log  # lmms-eval's output went to the log file


def _yes_no(answer: str) -> str:
    """MME's published reading of an answer (the Otter/MME rule lmms-eval uses)."""
    text = answer.lower().strip().replace(".", "")
    if text in ("yes", "no"):
        return text
    if len(text) == 1:
        return {"y": "yes", "n": "no"}.get(text, "other")
    return "yes" if "yes" in text[:4] else "no" if "no" in text[:4] else "other"


def mme_cognition(samples: list[dict]) -> float:
    """Published MME score, from each logged answer and its ground truth: per category
    acc (% questions right) + acc+ (% images with both right), summed over the 4 cognition ones."""
    per_image: dict[str, dict[str, list[bool]]] = {}
    for sample in samples:
        doc = sample["doc"]
        right = _yes_no(sample["filtered_resps"][0]) == doc["answer"].lower()
        per_image.setdefault(doc["category"], {}).setdefault(doc["question_id"], []).append(right)
    total = 0.0
    for category in MME_COGNITION:
        images = per_image[category]
        answers = [r for pair in images.values() for r in pair]
        assert all(len(pair) == 2 for pair in images.values())
        total += 100 * sum(answers) / len(answers) + 100 * sum(all(pair) for pair in images.values()) / len(images)
    return total


def _check_mme(folder) -> float:
    samples = read_jsonl(folder / "mme" / "samples.jsonl")
    summary = read_json(folder / "general.json")["benchmarks"]["mme"]
    # per sample: our reading of the answer agrees with lmms-eval's score
    for sample in samples:
        item = sample.get("mme_cognition_score") or sample["mme_perception_score"]
        assert item["score"] == float(_yes_no(sample["filtered_resps"][0]) == sample["doc"]["answer"].lower())
    cognition = mme_cognition(samples)
    assert cognition == pytest.approx(summary["value"])
    assert sum(summary["subtasks"][c] for c in MME_COGNITION) == pytest.approx(summary["value"])
    return cognition


def test_mme_cognition_recomputed_from_samples(base_run):
    _check_mme(base_run)


def test_second_call_reuses_finished_benchmarks(base_run, toy_world, toy_benchmarks, capsys):
    stamps = {name: (base_run / name / "_done.json").stat().st_mtime_ns for name in BENCHMARKS}
    before = read_json(base_run / "general.json")
    assert main(["general", "--model", toy_world.model_path, "--data", str(toy_benchmarks), "--out", str(base_run),
                 "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier, reused") == len(BENCHMARKS)
    assert {name: (base_run / name / "_done.json").stat().st_mtime_ns for name in BENCHMARKS} == stamps
    assert read_json(base_run / "general.json")["benchmarks"] == before["benchmarks"]
    # another model into the same folder is refused, not mixed
    assert main(["general", "--model", toy_world.model_path, "--data", str(toy_benchmarks), "--out", str(base_run),
                 "--limit", "4", "--benchmarks", "mmstar"]) == 2
    assert "another model" in capsys.readouterr().err


@pytest.fixture(scope="module")
def says_not_model(toy_world, tmp_path_factory):
    """A second model folder: the toy model with the output rows of the tokens " I" and " not"
    exchanged. Its answers that began "I cannot tell ..." now begin "not ...", which MME's
    published parser reads as "no": a model whose MME cognition score is not 0."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(toy_world.model_path)
    processor = AutoProcessor.from_pretrained(toy_world.model_path)
    ids = processor.tokenizer.convert_tokens_to_ids(["ĠI", "Ġnot"])  # as they follow "ASSISTANT:"
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        head[ids] = head[ids[::-1]].clone()
    out = tmp_path_factory.mktemp("says_not")
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_second_model_change_vs_base(base_run, says_not_model, toy_benchmarks, tmp_path, capsys):
    out = tmp_path / "second"
    assert main(["general", "--model", str(says_not_model), "--data", str(toy_benchmarks), "--benchmarks", "mme,mmstar",
                 "--out", str(out), "--batch-size", "16", "--baseline", str(base_run)]) == 0
    printed = capsys.readouterr().out
    summary = read_json(out / "general.json")
    base = read_json(base_run / "general.json")
    cognition = _check_mme(out)
    assert cognition > base["benchmarks"]["mme"]["value"]  # "not ..." answers are right on the "No" questions
    change = summary["baseline"]["benchmarks"]
    for name in ("mme", "mmstar"):
        ours, theirs = summary["benchmarks"][name]["value"], base["benchmarks"][name]["value"]
        assert change[name]["delta"] == pytest.approx(ours - theirs)
        assert change[name]["relative_pct"] == (pytest.approx(100 * (ours - theirs) / theirs) if theirs else None)
    # two of the four benchmarks of the overall improvement: not computed, and said so
    assert summary["baseline"]["overall_improvement_pct"] is None
    assert "overall improvement" in printed and "needs all four" in printed
    assert summary["model_fingerprint"] != base["model_fingerprint"]
