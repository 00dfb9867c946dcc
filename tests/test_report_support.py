"""A hand-made run folder in the run store's schemas, for the report tests (no model, no training).

Task toy on a six-image dataset written here; methods ``ours`` (iterations 0-2, judged) and ``nl``
(iterations 0-1, not judged); the ``_shared`` descriptions and concept selection of the training
images; ``ours`` iteration 1 rewrites and iteration 2 rejection sampling. One class name and one
answer carry markup that must stay text. ``toy_run`` is the one real (small) toy run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from selfsynth.io import write_json, write_jsonl

HOSTILE_CLASS = 'Evil <img src=x onerror="document.body.dataset.pwned=1"> Tern'
HOSTILE_ANSWER = ('<script>document.body.dataset.pwned=2</script><img src=x onerror="document.body.dataset.pwned=3">'
                  " It is a Crimson Finch.")
CLASSES = ["Crimson Finch", "Azure Warbler", HOSTILE_CLASS]
CONCEPTS = {
    "Crimson Finch": ["red crown", "short beak", "forked tail"],
    "Azure Warbler": ["blue crown", "long beak", "rounded tail"],
    HOSTILE_CLASS: ["black crown", '<b onmouseover="x()">hooked</b> beak', "square tail"],
}
TEST = [("t0", "Crimson Finch"), ("t1", "Crimson Finch"), ("t2", "Azure Warbler"), ("t3", "Azure Warbler"),
        ("t4", HOSTILE_CLASS), ("t5", HOSTILE_CLASS)]
TRAIN = [("r0", "Crimson Finch"), ("r1", "Azure Warbler")]
# correct (1) or wrong (0) per test image, per evaluated model
OUTCOMES = {
    ("ours", 0): [0, 0, 1, 0, 0, 0],
    ("ours", 1): [1, 0, 1, 1, 0, 1],
    ("ours", 2): [1, 1, 1, 0, 1, 1],
    ("nl", 0): [0, 0, 1, 0, 0, 0],
    ("nl", 1): [1, 0, 0, 0, 0, 1],
}
ITERATIONS = {"ours": 2, "nl": 1}


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 48), colour).save(path)


def answer_for(sample: str, label: str, correct: bool) -> str:
    if sample == "t5" and correct:
        return HOSTILE_ANSWER.replace("Crimson Finch", label)
    named = label if correct else next(c for c in CLASSES if c != label)
    return f"This bird is a {named}. It has a {CONCEPTS[label][0]} and a {CONCEPTS[named][1]}."


def make_run_folder(base: Path) -> tuple[Path, Path]:
    """Write the dataset and the run folder under ``base``; returns (out, dataset root)."""
    root = base / "dataset"
    write_json(root / "toy_meta.json", {"classes": CLASSES})
    write_json(root / "concepts.json", CONCEPTS)
    rows = {}
    for split, items in (("test", TEST), ("train", TRAIN)):
        rows[split] = []
        for n, (sid, label) in enumerate(items):
            image = f"images/{split}_{sid}.png"
            _image(root / image, (40 * n, 200 - 30 * n, 90))
            rows[split].append({"id": sid, "image": image, "label": label, "visible_concepts": CONCEPTS[label][:2]})
        write_jsonl(root / f"{split}.jsonl", rows[split])
    out = base / "runs"
    unit_root = out / "default" / "toy"
    for method, last in ITERATIONS.items():
        unit = unit_root / method / "seed_0"  # the store keeps one folder per seed
        iterations = []
        for iteration in range(last + 1):
            folder = unit / f"iter_{iteration}" / "eval"
            hits = OUTCOMES[(method, iteration)]
            records = [{"id": sid, "label": label, "question": "Which species is this bird? Explain.",
                        "answer": answer_for(sid, label, bool(hit)), "match": bool(hit), "paper_match": bool(hit)}
                       for (sid, label), hit in zip(TEST, hits)]
            write_jsonl(folder / "records.jsonl", records)
            accuracy = sum(hits) / len(hits)
            metrics = {"accuracy": accuracy, "accuracy_paper": accuracy, "n": len(hits), "task": "toy",
                       "question": records[0]["question"], "prompts_hash": "p1", "model_fingerprint": f"{method}-{iteration}"}
            write_json(folder / "metrics.json", metrics)
            if method == "ours":  # graded by `selfsynth judge` (beside the records) or `run --judge local` (its own step)
                _judge(folder if iteration < 2 else folder.parent / "judge_local", records)
            iterations.append({"iteration": iteration, "metrics": metrics,
                               "records": str((folder / "records.jsonl").relative_to(out))})
        write_json(unit / "manifest.json", {"schema_version": 1, "expected_iterations": len(iterations),
                                            "config": {"task": "toy", "method": method, "seed": 0, "root": str(root)}})
        write_json(unit / "results.json", {
            "schema_version": 1, "task": "toy", "method": method, "seed": 0, "limit": 6, "n_train": len(TRAIN), "n_test": len(TEST),
            "config": {"task": "toy", "method": method, "root": str(root), "task_options": []}, "iterations": iterations,
        })
    _synthesis(unit_root, rows["train"], root)
    return out, root


def _judge(folder: Path, records: list[dict]) -> None:
    rows = []
    for record in records:
        label = record["label"]
        claims = [
            {"claim": CONCEPTS[label][0], "reference": CONCEPTS[label][0], "reference_similarity": 0.97,
             "contrast": "blue crown", "contrast_similarity": 0.6, "consistent": True},
            {"claim": "wrong " + CONCEPTS[label][2], "reference": CONCEPTS[label][2], "reference_similarity": 0.55,
             "contrast": "pointed tail", "contrast_similarity": 0.81, "consistent": False},
        ]
        rows.append({"schema_version": 1, "id": record["id"], "label": label, "answer": record["answer"],
                     "concepts": CONCEPTS[label][:2], "ee": 1, "cs": 0.5, "judge": "local-proxy", "judge_model": "m",
                     "rubric_version": "local-proxy-v1", "prompt_hash": "h", "judge_status": "scored", "judge_error": None,
                     "judge_detail": {"attribute_claims": claims, "other_claims": ["this bird is"], "contrast_concepts": 6},
                     "judge_usage": {}, "judge_cached": False, "match": record["match"]})
    write_jsonl(folder / "judge_records.jsonl", rows)
    write_json(folder / "judge_metrics.json", {"ee": 1.0, "cs": 0.5, "n": len(rows), "judge": {"judge": "local-proxy"},
                                               "note": "EE and CS come from local-proxy, an offline embedding proxy"})


def _synthesis(unit_root: Path, train_rows: list[dict], root: Path) -> None:
    shared = unit_root / "_shared" / "seed_0" / "abc123def456"
    write_json(shared / "concepts.json", CONCEPTS)
    describe, select = [], []
    prompts = ["Describe the bird's appearance.", "What does the bird look like?"]
    for row in train_rows:
        image = str(root / row["image"])
        for p, prompt in enumerate(prompts):
            for k in range(2):
                describe.append({"id": row["id"], "image": image, "label": row["label"], "prompt_index": p, "prompt": prompt,
                                 "sample_index": k, "text": f"description {p}-{k} of {row['id']}: a {CONCEPTS[row['label']][k]}"})
        names = CONCEPTS[row["label"]]
        select.append({"id": row["id"], "label": row["label"], "concepts": names, "selected": [names[1], names[0]],
                       "selected_index": [1, 0], "scores": [-1.25, -0.5, -3.0], "threshold": -0.9, "min_keep_filled": True,
                       "precision": 1.0, "random_precision": 0.667})
    write_jsonl(shared / "describe.jsonl", describe)
    write_jsonl(shared / "select.jsonl", select)
    rewrite, reject = [], []
    for row in train_rows:
        image, label, names = str(root / row["image"]), row["label"], CONCEPTS[row["label"]]
        outcomes = [("label", f"A {label} with a {names[0]}.", f"A {label} with a {names[0]}."),
                    ("near_label_appended", f"A {label[:-1]} bird.", f"A {label[:-1]} bird. This is a {label}."),
                    ("no_label", "A small bird.", None)]
        for q, (reason, raw, kept) in enumerate(outcomes):
            rewrite.append({"id": row["id"], "image": image, "label": label, "question_index": q, "question_type": "explain",
                            "question": f"Question {q}?", "prompt": "hidden", "concepts": names[:2], "raw_answer": raw,
                            "answer": kept, "kept": kept is not None, "reason": reason, "label_ratio": 1.0 if reason == "label" else 0.8 - 0.3 * q,
                            "concepts_mentioned": names[:1] if kept else []})
        for q, (chosen, keep) in enumerate([(1, True), (0, False)]):
            candidates = [f"candidate 0 for {row['id']}", f"It is a {label}, see the {names[0]}.", "candidate 2"]
            reject.append({"id": row["id"], "image": image, "label": label, "iteration": 2, "question_index": q,
                           "candidate_question_type": "cot", "candidate_question": f"Think step by step: question {q}?",
                           "candidates": candidates, "has_label": [False, True, False], "scores": [-2.0, -0.25, -3.5],
                           "chosen": chosen, "kept": keep, "reason": "best_has_label" if keep else "best_lacks_label",
                           "fallback": not keep, "question_type": "explain" if keep else "simple",
                           "question": f"Think step by step: question {q}?" if keep else "What is this bird?",
                           "answer": candidates[chosen] if keep else f"This is a {label}.", "concepts_mentioned": []})
    write_jsonl(unit_root / "ours" / "seed_0" / "iter_1" / "data" / "rewrite.jsonl", rewrite)
    write_jsonl(unit_root / "ours" / "seed_0" / "iter_2" / "data" / "reject.jsonl", reject)


def expected_filter_count(method: str | None = None, iteration: int | None = None, correct: str | None = None) -> int:
    """How many test images the samples view should list for a filter, from OUTCOMES directly."""
    cols = [k for k in OUTCOMES if (method is None or k[0] == method) and (iteration is None or k[1] == iteration)]
    count = 0
    for i in range(len(TEST)):
        marks = [OUTCOMES[k][i] for k in cols]
        if correct == "correct" and not all(marks):
            continue
        if correct == "wrong" and any(marks):
            continue
        count += 1
    return count


def load_json_script(path: Path) -> object:
    """The JSON value a report data file hands to the page."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(", ") + 2, text.rindex(");")
    return json.loads(text[start:end])


# -- one small real toy run (ours, iterations 0-2, iteration 2 judged), shared by the report tests --
# the smallest run that still has every synthesis stage: ~75 s of CPU
QUICK_RUN = ["--task", "toy", "--method", "ours", "--iterations", "2", "--limit", "8", "--train.max_steps", "5",
             "--synth.describe_prompts", "1", "--synth.describe_samples", "2", "--synth.rewrite_questions", "2",
             "--synth.reject_questions", "2", "--synth.reject_samples", "2", "--synth.describe_max_new_tokens", "48",
             "--synth.rewrite_max_new_tokens", "48", "--synth.reject_max_new_tokens", "48", "--eval_max_new_tokens", "48",
             "--judge", "local", "--judging.fluency", "false"]


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory, toy_world):
    """(run folder, results dict) of a real `selfsynth run` on the toy world, every iteration
    graded by the offline judge."""
    import subprocess
    import sys

    from tests.fixtures_toy import TOY_CACHE

    out = tmp_path_factory.mktemp("toy_run") / "runs"
    done = subprocess.run([sys.executable, "-m", "selfsynth", "run", *QUICK_RUN, "--toy_cache", str(TOY_CACHE), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads(done.stdout)
