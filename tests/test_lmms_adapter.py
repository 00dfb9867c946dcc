"""selfsynth_llava with a LoRA adapter (peft=) answers exactly as `selfsynth eval --adapter`;
loglikelihood scores a continuation consistently with greedy generation."""
from __future__ import annotations

from pathlib import Path

import pytest

from selfsynth.cli import main
from selfsynth.io import read_jsonl


@pytest.fixture(scope="module")
def adapter_dir(toy_world, tmp_path_factory) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(toy_world.model_path)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    peft_model = get_peft_model(model, config)
    # small non-zero B matrices: the adapter changes the answers without wrecking them
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.05)
    out = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(out)
    return out


def _requests(rows):
    from lmms_eval.api.instance import Instance

    from selfsynth.tasks.lmms_bridge import task_utils

    gen_kwargs = {"max_new_tokens": 48, "temperature": 0, "do_sample": False, "until": []}
    return [
        Instance("generate_until", (row["question"], dict(gen_kwargs), task_utils.doc_to_visual, i, "t", "test"), idx=0,
                 metadata={"task": "t", "doc_id": i, "repeats": 1})
        for i, row in enumerate(rows)
    ]


def test_bridge_with_adapter_matches_eval(crown_root, toy_world, adapter_dir, tmp_path, capsys):
    from selfsynth.models import model_fingerprint
    from selfsynth.registry import TASKS
    from selfsynth.tasks.lmms_bridge.export import rows_for
    from selfsynth.tasks.lmms_bridge.model import SelfSynthLlava

    out = tmp_path / "eval"
    assert main(["eval", "--task", "toy", "--root", str(crown_root), "--model", str(toy_world.model_path),
                 "--adapter", str(adapter_dir), "--limit", "6", "--out", str(out), "--max-new-tokens", "48"]) == 0
    capsys.readouterr()
    records = read_jsonl(out / "records.jsonl")

    bridge = SelfSynthLlava(pretrained=str(toy_world.model_path), peft=str(adapter_dir), batch_size="2")
    assert bridge.lm.fingerprint == model_fingerprint(toy_world.model_path, adapter_dir)
    chosen = {r["id"] for r in records}  # eval's --limit subset, in split order
    rows = [row for row in rows_for(TASKS.get("toy")(crown_root), "test") if row["id"] in chosen]
    bridge.task_dict = {"t": {"test": rows}}
    answers = bridge.generate_until(_requests(rows))
    assert answers == [r["answer"] for r in records]

    base = SelfSynthLlava(pretrained=str(toy_world.model_path))
    base.task_dict = bridge.task_dict
    assert base.generate_until(_requests(rows)) != answers  # the adapter is really applied

    # the greedy answer is the greedy continuation under loglikelihood
    from lmms_eval.api.instance import Instance

    from selfsynth.tasks.lmms_bridge import task_utils

    META = {"task": "t", "doc_id": 0, "repeats": 1}
    ll = bridge.loglikelihood([
        Instance("loglikelihood", (rows[0]["question"], " " + answers[0], task_utils.doc_to_visual, 0, "t", "test"), idx=0, metadata=META),
        Instance("loglikelihood", (rows[0]["question"], " " + answers[0] + " zebra zebra", task_utils.doc_to_visual, 0, "t", "test"), idx=0, metadata=META),
    ])
    assert ll[0][1] is True and ll[1][1] is False
    assert ll[0][0] < 0 and ll[1][0] < ll[0][0]


def test_unknown_model_args_fail(toy_world):
    from selfsynth.tasks.lmms_bridge.model import SelfSynthLlava

    with pytest.raises(TypeError, match="unknown model_args conv_template"):
        SelfSynthLlava(pretrained=str(toy_world.model_path), conv_template="vicuna")
