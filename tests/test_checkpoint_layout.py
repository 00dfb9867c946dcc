"""Merged checkpoints are written in the LLaVA-1.5 hub layout (llava-hf/llava-1.5-7b-hf key names),
and transformers 5 reloads them with the same answers and logits as the model before saving."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from selfsynth.generate import GenArgs, generate
from selfsynth.io import read_jsonl
from selfsynth.models import is_hub_layout, load_model, merge_adapter, write_hub_layout


HUB_PREFIXES = ("vision_tower.vision_model.", "multi_modal_projector.", "language_model.model.", "language_model.lm_head.")
# names as they stand in llava-hf/llava-1.5-7b-hf's model.safetensors.index.json
HUB_NAMES = [
    "vision_tower.vision_model.embeddings.patch_embedding.weight",
    "vision_tower.vision_model.embeddings.class_embedding",
    "vision_tower.vision_model.embeddings.position_embedding.weight",
    "vision_tower.vision_model.pre_layrnorm.weight",
    "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
    "vision_tower.vision_model.encoder.layers.1.mlp.fc2.bias",
    "vision_tower.vision_model.post_layernorm.weight",
    "multi_modal_projector.linear_1.weight",
    "multi_modal_projector.linear_2.bias",
    "language_model.model.embed_tokens.weight",
    "language_model.model.layers.0.self_attn.q_proj.weight",
    "language_model.model.layers.1.mlp.down_proj.weight",
    "language_model.model.norm.weight",
    "language_model.lm_head.weight",
]
QUESTION = "Based on the visual content, what is the specific name of this bird? Provide an explanation."


def _tensor_names(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            names.extend(handle.keys())
    return names


@pytest.fixture(scope="module")
def merged(tmp_path_factory, toy_world):
    """A LoRA adapter with non-zero random weights on the language model (+ a trained projector),
    merged and saved by ``merge_adapter``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from selfsynth.train import LM_LINEAR_LAYERS, _lora_target_regex

    root = tmp_path_factory.mktemp("layout")
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(toy_world.model_path, dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=_lora_target_regex(LM_LINEAR_LAYERS),
                      modules_to_save=["multi_modal_projector"], init_lora_weights=False)
    peft_model = get_peft_model(model, lora)
    with torch.no_grad():  # move the projector copy away from the base weights, as training would
        for param in peft_model.base_model.model.model.multi_modal_projector.modules_to_save["default"].parameters():
            param.add_(0.01 * torch.randn_like(param))
    adapter = root / "adapter"
    peft_model.save_pretrained(adapter)
    out = Path(merge_adapter(toy_world.model_path, adapter, root / "merged"))
    return adapter, out


def _requests(world, n: int) -> list[tuple[str, str]]:
    rows = read_jsonl(Path(world.dataset_root) / "test.jsonl")[:n]
    return [(str(Path(world.dataset_root) / r["image"]), QUESTION) for r in rows]


def test_merged_checkpoint_has_the_hub_key_names(toy_world, merged):
    _, out = merged
    names = _tensor_names(out)
    assert all(name.startswith(HUB_PREFIXES) for name in names), [n for n in names if not n.startswith(HUB_PREFIXES)]
    assert set(HUB_NAMES) <= set(names)
    assert not any(name.startswith("vision_tower.embeddings") or name.startswith("model.") for name in names)
    assert is_hub_layout(out)
    # no tensor lost or added: one saved tensor per tensor of the base checkpoint
    assert len(names) == len(_tensor_names(Path(toy_world.model_path)))


def test_merged_checkpoint_reloads_with_identical_outputs(toy_world, merged):
    from transformers import AutoModelForImageTextToText

    adapter, out = merged
    reloaded, info = AutoModelForImageTextToText.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    in_memory = load_model(toy_world.model_path, adapter=adapter, merge=True)
    from_disk = load_model(out)
    requests = _requests(toy_world, 12)
    args = GenArgs(max_new_tokens=40)
    expected = generate(in_memory, requests, args, batch_size=12)
    assert generate(from_disk, requests, args, batch_size=12) == expected  # greedy answers, per sample
    assert all(answer[0] for answer in expected)
    batch = in_memory.processor(images=[_image(p) for p, _ in requests[:4]],
                                text=[in_memory.processor.apply_chat_template(
                                    [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}],
                                    add_generation_prompt=True, tokenize=False)] * 4,
                                return_tensors="pt")
    with torch.inference_mode():
        a = in_memory.model(**batch).logits
        b = from_disk.model(**batch).logits
    assert a.abs().max() > 1.0  # real logits, not an all-zero output on both sides
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_a_transformers5_folder_converts_to_the_hub_layout(tmp_path, toy_world, toy_lm):
    """``save_pretrained`` alone writes ``vision_tower.embeddings.*``; ``write_hub_layout`` renames
    the tensors (what the vllm engine serves) and transformers reads both the same."""
    plain = tmp_path / "plain"
    toy_lm.model.save_pretrained(plain)
    toy_lm.processor.save_pretrained(plain)
    assert not is_hub_layout(plain)
    assert any(name.startswith("vision_tower.embeddings.") for name in _tensor_names(plain))
    hub = tmp_path / "hub"
    write_hub_layout(plain, hub)
    assert is_hub_layout(hub) and set(HUB_NAMES) <= set(_tensor_names(hub))
    requests = _requests(toy_world, 6)
    args = GenArgs(max_new_tokens=30)
    assert generate(load_model(hub), requests, args) == generate(load_model(plain), requests, args)


def _image(path: str):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")
