"""`selfsynth select-eval` on the toy world (recorded visible concepts), its result in Table 13, and
the lexical attribute rule used on CUB."""
from __future__ import annotations

import json

import pytest

from selfsynth.cli import main
from selfsynth.io import read_jsonl
from selfsynth.metrics.select_eval import attribute_visible
from tests.fixtures_toy import TOY_CACHE


def test_select_eval_on_toy_feeds_table_13(toy_world, tmp_path, capsys):
    from selfsynth.embed import KNOWN_ENCODERS

    minilm_folder = KNOWN_ENCODERS["all-MiniLM-L6-v2"]()  # the same weights under a second name
    out = tmp_path / "runs"
    argv = ["select-eval", "--task", "toy", "--toy_cache", str(TOY_CACHE), "--limit", "12", "--out", str(out),
            "--synth.describe_samples", "2", "--synth.describe_prompts", "1", "--synth.describe_max_new_tokens", "48", "--encoders", f"all-MiniLM-L6-v2,{minilm_folder}", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == "toy" and result["n_images"] == 12 and sorted(result["encoders"]) == sorted(["all-MiniLM-L6-v2", minilm_folder])
    from selfsynth.tasks.base import build_task

    task = build_task("toy", None, {}, cache_dir=str(TOY_CACHE))
    task_images = {s.id: task.image_concepts(s) for s in task.load("train")}
    for encoder, scores in result["encoders"].items():
        rows = read_jsonl(scores["select_file"])
        assert len(rows) == 12
        # precision recomputed by hand from the selections and the images' recorded visible concepts
        by_hand = [sum(c in task_images[r["id"]] for c in r["selected"]) / len(r["selected"]) for r in rows]
        assert scores["precision"] == pytest.approx(sum(by_hand) / len(by_hand))
        assert scores["concepts_per_image"] == pytest.approx(sum(len(r["selected"]) for r in rows) / 12)
    # the same weights select the same concepts
    assert result["encoders"]["all-MiniLM-L6-v2"]["precision"] == pytest.approx(result["encoders"][minilm_folder]["precision"])
    assert main(["table", "13", "--out", str(out), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["encoder"] for r in rows] == sorted(result["encoders"])
    assert rows[0]["precision"]["mean"] == pytest.approx(result["encoders"][rows[0]["encoder"]]["precision"])
    assert rows[0]["precision"]["n"] == 1 and rows[0]["precision"]["std"] is None


def test_cub_attribute_rule():
    assert attribute_visible("bright blue wings", ["blue wing color", "white belly color"])
    assert not attribute_visible("red crown", ["blue crown color"])
    assert attribute_visible("a curved bill", ["curved (up or down) bill shape"])  # the gloss is not required
    assert not attribute_visible("curved tail", ["curved (up or down) bill shape"])
    assert attribute_visible("hooked bill", ["hooked bill shape"])


def test_select_eval_without_ground_truth_is_a_user_error(capsys):
    from selfsynth.errors import UserError
    from selfsynth.metrics.select_eval import ground_truth

    class Plain:
        name = "stanford_dogs"

    with pytest.raises(UserError, match="has no per-image ground truth"):
        ground_truth(Plain())
