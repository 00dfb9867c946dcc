"""Config presets: layered under the user's YAML and flags (defaults < preset < YAML < flags).

The paper's defaults target LLaVA-1.5-7B on GPUs. The toy base model is ~1 M parameters trained
on a 2-core CPU, where lr 1e-5 for 2 epochs would change nothing; its preset holds the settings
measured to teach it within about a minute per iteration.
"""
from __future__ import annotations

from typing import Any

TOY_RUN_PRESET: dict[str, Any] = {
    "iterations": 2,
    "gen_batch_size": 32,
    "eval_batch_size": 32,
    "eval_max_new_tokens": 64,
    "train": {
        "learning_rate": 2e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "train_lm_head": True,
        "epochs": 2,
    },
    "synth": {},
}
