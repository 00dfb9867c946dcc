"""selfsynth.train on the toy world: label masking, a LoRA fine-tune that learns, merging, 2 processes."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from selfsynth.generate import GenArgs, generate
from selfsynth.io import read_jsonl
from selfsynth.models import load_model, merge_adapter
from selfsynth.train import AnswerOnlyCollator, TrainConfig, train
from tests.fixtures_toy import accelerate_launch

QUESTION = "Based on the visual content, what is the specific name of this bird? Provide an explanation."
# measured on 2 shared CPU cores: test-split species accuracy 0.53 after these 150 steps (0.41 at lr 3e-3, 120 steps)
FAST_LORA = dict(lora_r=16, lora_alpha=32, learning_rate=5e-3, per_device_batch_size=16, max_steps=150, train_lm_head=True)


def _species_rows(world, split: str) -> list[dict]:
    root = Path(world.dataset_root)
    rows = []
    for row in read_jsonl(root / f"{split}.jsonl"):
        seen = row["visible_concepts"][:3]
        answer = f"This is a {row['label']}. It has {', '.join(seen[:-1])} and {seen[-1]}."
        rows.append({"id": row["id"], "image": str(root / row["image"]), "question": QUESTION, "answer": answer, "label": row["label"]})
    return rows


def test_collator_keeps_exactly_the_answer_and_eos(toy_world, toy_lm):
    rows = _species_rows(toy_world, "train")[:3]
    rows[1] = dict(rows[1], question="Describe it.", answer="Short.")  # different lengths → padding
    batch = AnswerOnlyCollator(toy_lm.processor)(rows)
    tok = toy_lm.processor.tokenizer
    assert batch["input_ids"].shape == batch["labels"].shape
    for i, row in enumerate(rows):
        kept = batch["labels"][i][batch["labels"][i] != -100].tolist()
        assert tok.decode(kept) == f" {row['answer']}</s>"
        # right padding: the kept tokens are the last real tokens of the row
        n_real = int(batch["attention_mask"][i].sum())
        assert batch["attention_mask"][i][:n_real].all()
        assert batch["input_ids"][i][n_real - len(kept) : n_real].tolist() == kept
    assert batch["attention_mask"][1][-1] == 0  # the short row is padded on the right


@pytest.fixture(scope="module")
def species_adapter(tmp_path_factory, toy_world):
    out = tmp_path_factory.mktemp("lora") / "adapter"
    result = train(toy_world.model_path, _species_rows(toy_world, "train"), out, TrainConfig(**FAST_LORA))
    return out, result


def test_lora_fine_tune_lowers_loss_and_teaches_species(toy_world, toy_lm, species_adapter):
    out, result = species_adapter
    assert result.kind == "adapter" and result.steps == FAST_LORA["max_steps"]
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    log = read_jsonl(out / "loss_log.jsonl")
    assert len(log) == result.steps and [r["step"] for r in log] == list(range(1, result.steps + 1))
    first, last = sum(r["loss"] for r in log[:5]) / 5, sum(r["loss"] for r in log[-5:]) / 5
    assert last < 0.5 * first
    test = _species_rows(toy_world, "test")
    requests = [(r["image"], QUESTION) for r in test]
    before = generate(toy_lm, requests, GenArgs(max_new_tokens=40), batch_size=32)
    tuned = load_model(toy_world.model_path, adapter=out)
    after = generate(tuned, requests, GenArgs(max_new_tokens=40), batch_size=32)
    acc_before = sum(r["label"] in o[0] for r, o in zip(test, before)) / len(test)
    acc_after = sum(r["label"] in o[0] for r, o in zip(test, after)) / len(test)
    assert acc_before == 0.0
    assert acc_after >= 0.35, acc_after  # chance is 1/12; measured 0.53


def test_merged_model_answers_like_the_adapter(tmp_path, toy_world, species_adapter):
    out, _ = species_adapter
    merged = merge_adapter(toy_world.model_path, out, tmp_path / "merged")
    assert (Path(merged) / "config.json").is_file() and (Path(merged) / "chat_template.jinja").is_file()
    requests = [(r["image"], QUESTION) for r in _species_rows(toy_world, "test")[:8]]
    via_adapter = generate(load_model(toy_world.model_path, adapter=out), requests, GenArgs(max_new_tokens=30))
    via_merged = generate(load_model(merged), requests, GenArgs(max_new_tokens=30))
    assert via_merged == via_adapter


WORKER = textwrap.dedent(
    """
    import json, sys
    from selfsynth.train import TrainConfig, train
    model, rows_file, out = sys.argv[1:4]
    rows = json.load(open(rows_file))
    result = train(model, rows, out, TrainConfig(lora_r=4, lora_alpha=8, learning_rate=1e-3, per_device_batch_size=2, max_steps=3, train_lm_head=True))
    from selfsynth.models import distributed_state
    state = distributed_state()
    json.dump({"world": state.num_processes, "steps": result.steps}, open(f"{out}.rank{state.process_index}.json", "w"))
    """
)


def test_two_process_training(tmp_path, toy_world):
    rows = [{k: r[k] for k in ("id", "image", "question", "answer")} for r in _species_rows(toy_world, "train")[:12]]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "adapter"
    accelerate_launch(script, [toy_world.model_path, str(tmp_path / "rows.json"), str(out)], num_processes=2)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"adapter.rank{rank}.json").read_text()) == {"world": 2, "steps": 3}
    assert (out / "adapter_model.safetensors").is_file()
    assert len(read_jsonl(out / "loss_log.jsonl")) == 3
    assert not list(tmp_path.glob(".adapter.*"))  # no scratch or temp folders left behind
