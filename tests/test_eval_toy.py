"""`selfsynth eval` / harness.evaluate on the toy base model: records, metrics, cache, errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import read_jsonl
from selfsynth.tasks.labels import paper_match


def test_eval_records_match_rescoring(crown_root, toy_world, tmp_path, capsys):
    from selfsynth.tasks.toy import ToyTask

    out = tmp_path / "eval"
    argv = ["eval", "--task", "toy", "--root", str(crown_root), "--model", str(toy_world.model_path),
            "--out", str(out), "--batch-size", "8", "--json"]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    records = read_jsonl(out / "records.jsonl")
    task = ToyTask(crown_root)
    samples = task.load("test")
    assert [r["id"] for r in records] == [s.id for s in samples] and metrics["n"] == len(samples) == 16
    for record, sample in zip(records, samples):
        assert record["label"] == sample.label
        assert record["match"] == task.match(record["answer"], sample.label)
        assert record["paper_match"] == paper_match(record["answer"], sample.label)
    hits = [r["match"] for r in records]
    # the base model describes crowns: it names the right one on some images, not on all
    assert sum(hits) > 0  # the crown-colour task is answerable; records are compared one by one above
    assert metrics["accuracy"] == pytest.approx(sum(hits) / len(hits))
    assert metrics["accuracy_ci95"][0] <= metrics["accuracy"] <= metrics["accuracy_ci95"][1]
    assert sum(v["n"] for v in metrics["per_class"].values()) == 16
    assert metrics["question"] == "Based on what you see, what is the exact name of this bird? Explain your answer."
    assert metrics["split"] == "test" and metrics["limit"] is None and len(metrics["model_fingerprint"]) == 32
    assert json.loads((out / "metrics.json").read_text()) == metrics

    # a re-run is answered from the response cache, with identical records
    from selfsynth.cache import ResponseCache
    from selfsynth.evaluate import evaluate
    from selfsynth.models import load_model

    cache = ResponseCache(out / "cache.sqlite")
    again = evaluate(task, samples, load_model(toy_world.model_path), tmp_path / "again", cache=cache, batch_size=3,
                     extra={"split": "test", "limit": None, "seed": 0})  # the setup `selfsynth eval` records
    assert cache.hits == 16 and cache.misses == 0
    assert read_jsonl(tmp_path / "again" / "records.jsonl") == records
    assert again["accuracy"] == metrics["accuracy"]
    # the regression gate reads these folders as written. Same answers: with no margin nothing is shown
    # (H0: delta <= 0 holds at delta = 0); 16 agreeing pairs do show a drop below 0.3 is ruled out
    assert main(["regress", "--baseline", str(out), "--candidate", str(tmp_path / "again"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "not-shown"
    assert main(["regress", "--baseline", str(out), "--candidate", str(tmp_path / "again"), "--json", "--max-drop", "0.3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "non-inferior"
    assert report["n"] == 16 and report["delta"] == 0 and report["lost"] == report["gained"] == 0


def test_eval_limit_and_default_toy_root(toy_world, tmp_path, capsys):
    # no --toy_cache: in a checkout the default is the suite's build (selfsynth.toy.world.default_cache)
    out = tmp_path / "limited"
    assert main(["eval", "--task", "toy", "--limit", "3", "--out", str(out), "--max-new-tokens", "16"]) == 0
    printed = capsys.readouterr().out
    assert "toy/test: n=3" in printed
    records = read_jsonl(out / "records.jsonl")
    # the run's test subset for --limit 3 --seed 0: one image from each of 3 classes, in split order
    from selfsynth.tasks.base import split_seed, subset
    from selfsynth.tasks.toy import ToyTask

    expected = subset(ToyTask(toy_world.dataset_root).load("test"), 3, split_seed(0, "test"))
    assert [r["id"] for r in records] == [s.id for s in expected]
    assert len({r["label"] for r in records}) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["limit"] == 3 and metrics["seed"] == 0 and metrics["root"] == str(toy_world.dataset_root)


def test_eval_asks_the_overriding_prompts(toy_world, tmp_path, capsys):
    import yaml

    from selfsynth.tasks.prompts import load_prompts, prompts_hash

    custom = {**{k: v for k, v in vars(load_prompts("toy")).items() if k != "domain"}, "explain": ["Which species is this? Say why."]}
    path = tmp_path / "prompts.yaml"
    path.write_text(yaml.safe_dump(custom))
    out = tmp_path / "custom"
    argv = ["eval", "--task", "toy", "--root", str(toy_world.dataset_root), "--model", str(toy_world.model_path),
            "--limit", "2", "--out", str(out), "--max-new-tokens", "8", "--prompts", str(path), "--json"]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["question"] == "Which species is this? Say why." and metrics["prompts"] == str(path)
    assert metrics["prompts_hash"] == prompts_hash(load_prompts("toy", path)) != prompts_hash(load_prompts("toy"))
    assert {r["question"] for r in read_jsonl(out / "records.jsonl")} == {"Which species is this? Say why."}
    # a prompt file with a missing key is a one-line user error before any model loads
    del custom["describe"]
    path.write_text(yaml.safe_dump(custom))
    assert main(argv) == 2
    assert str(path) in capsys.readouterr().err


def test_eval_user_errors(tmp_path, capsys):
    for bad in ("0", "-2"):
        assert main(["eval", "--task", "toy", "--limit", bad, "--toy_cache", str(tmp_path / "toy")]) == 2
        assert "limit" in capsys.readouterr().err
    assert not (tmp_path / "toy").exists()  # failed before the toy world was built
    assert main(["eval", "--task", "cub200", "--model", str(tmp_path)]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["eval", "--task", "cub200", "--root", str(tmp_path)]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main(["eval", "--task", "toy", "--root", str(tmp_path), "--model", str(tmp_path)]) == 2
    assert "toy_meta.json" in capsys.readouterr().err


def test_evaluate_shows_fgvc_images_cropped(dataset_roots, toy_lm, tmp_path):
    from PIL import Image

    from selfsynth.evaluate import evaluate
    from selfsynth.generate import GenArgs, generate
    from selfsynth.registry import TASKS

    root, _ = dataset_roots["fgvc_aircraft"]
    task = TASKS.get("fgvc_aircraft")(root)
    samples = task.load("test")
    metrics = evaluate(task, samples, toy_lm, tmp_path / "fgvc", max_new_tokens=12, batch_size=4)
    records = read_jsonl(tmp_path / "fgvc" / "records.jsonl")
    assert [r["id"] for r in records] == [s.id for s in samples] and metrics["n"] == 4
    assert any("accuracy_paper" in flag for flag in metrics["flags"])
    # the answers are the model's answers on the banner-free images
    cropped = []
    for i, sample in enumerate(samples):
        path = tmp_path / f"crop{i}.png"
        with Image.open(sample.image_path) as image:
            image.convert("RGB").crop((0, 0, 30, 30)).save(path, format="PNG")
        cropped.append((str(path), metrics["question"]))
    expected = generate(toy_lm, cropped, GenArgs(max_new_tokens=12), batch_size=4)
    assert [r["answer"] for r in records] == [e[0] for e in expected]
