"""selfsynth.models: offline reload through the Auto classes, fingerprints."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from selfsynth.errors import UserError
from selfsynth.models import load_model, model_fingerprint


def test_reload_offline_with_auto_classes_and_generate(toy_world):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

    processor = AutoProcessor.from_pretrained(toy_world.model_path, local_files_only=True)
    model = LlavaForConditionalGeneration.from_pretrained(toy_world.model_path, local_files_only=True)
    auto = AutoModelForImageTextToText.from_pretrained(toy_world.model_path, local_files_only=True)
    assert type(auto) is LlavaForConditionalGeneration
    image = Image.open(next(Path(toy_world.dataset_root, "images").glob("test_*.png"))).convert("RGB")
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the bird in the image."}]}],
        add_generation_prompt=True,
    )
    assert prompt == "USER: <image>\nDescribe the bird in the image. ASSISTANT:"
    inputs = processor(images=image, text=prompt, return_tensors="pt")
    assert int((inputs["input_ids"] == model.config.image_token_index).sum()) == 36  # 6x6 patches
    out = model.generate(**inputs, max_new_tokens=40, do_sample=False)
    text = processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert text.startswith("The bird has") and text.endswith(".")
    assert out[0, -1].item() == processor.tokenizer.eos_token_id  # it stops on its own


def test_fingerprint_is_stable_and_content_based(tmp_path, toy_world, toy_lm):
    fp = model_fingerprint(toy_world.model_path)
    assert fp == model_fingerprint(toy_world.model_path) == toy_lm.fingerprint
    copy = tmp_path / "copy"
    shutil.copytree(toy_world.model_path, copy)
    assert model_fingerprint(copy) == fp  # location does not matter
    (copy / "chat_template.jinja").write_text((copy / "chat_template.jinja").read_text() + " ")
    assert model_fingerprint(copy) != fp


def test_bad_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder, and not a Hugging Face Hub id"):
        load_model(tmp_path / "missing")
    with pytest.raises(UserError, match="config.json"):
        load_model(tmp_path)
