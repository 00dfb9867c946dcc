"""The real lmms-eval CLI, offline, with our model entry point and an exported task, gives the
same per-sample answers and matches as `selfsynth eval` on the same samples."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from selfsynth.cli import main
from selfsynth.io import read_jsonl


N_TEST = 16  # the crown task's test split, evaluated whole by both (their --limit picks differently)


def test_lmms_eval_cli_matches_selfsynth_eval(crown_root, toy_world, tmp_path, capsys):
    exported = tmp_path / "lmms_tasks"
    assert main(["export-lmms", "--task", "toy", "--root", str(crown_root), "--out", str(exported)]) == 0
    ours = tmp_path / "ours"
    assert main(["eval", "--task", "toy", "--root", str(crown_root), "--model", str(toy_world.model_path),
                 "--out", str(ours), "--batch-size", "4"]) == 0
    capsys.readouterr()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "TQDM_DISABLE": "1"}
    command = [
        sys.executable, "-m", "lmms_eval",
        "--model", "selfsynth_llava",
        "--model_args", f"pretrained={toy_world.model_path}",
        "--tasks", "selfsynth_toy",
        "--include_path", str(exported),
        "--batch_size", "4",
        "--log_samples",
        "--output_path", str(tmp_path / "lmms_out"),
    ]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (samples_file,) = list((tmp_path / "lmms_out").rglob("*_samples_selfsynth_toy.jsonl"))
    (results_file,) = list((tmp_path / "lmms_out").rglob("*_results.json"))
    lmms_rows = sorted(read_jsonl(samples_file), key=lambda r: r["doc_id"])
    records = read_jsonl(ours / "records.jsonl")
    assert len(lmms_rows) == len(records) == N_TEST
    for row, record in zip(lmms_rows, records):
        item = row["selfsynth_accuracy"]
        assert item["id"] == record["id"]
        assert item["answer"] == record["answer"] == row["filtered_resps"]
        assert item["match"] == record["match"]
        assert row["selfsynth_accuracy_paper"]["match"] == record["paper_match"]
    assert sum(r["match"] for r in records) > 0  # not all-0; answers are compared per sample
    results = json.loads(results_file.read_text())["results"]["selfsynth_toy"]
    metrics = json.loads((ours / "metrics.json").read_text())
    assert results["selfsynth_accuracy,none"] == metrics["accuracy"]
    assert results["selfsynth_accuracy_paper,none"] == metrics["accuracy_paper"]


def test_entry_point_resolves_to_our_class():
    from lmms_eval.models import MODEL_REGISTRY_V2, get_model

    from selfsynth.tasks.lmms_bridge.model import SelfSynthLlava, lmms_manifest

    assert MODEL_REGISTRY_V2.resolve("selfsynth_llava").class_path == "selfsynth.tasks.lmms_bridge.model.SelfSynthLlava"
    assert get_model("selfsynth_llava") is SelfSynthLlava
    assert lmms_manifest().simple_class_path == "selfsynth.tasks.lmms_bridge.model.SelfSynthLlava"  # the payload lmms-eval calls bare
