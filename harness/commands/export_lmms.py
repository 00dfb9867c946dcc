"""`selfsynth export-lmms`: write a task as a local lmms-eval task (JSONL + YAML + utils.py)
(``selfsynth.api.export_lmms``; flags from ``ExportLmmsConfig``, declared in ``selfsynth.cli``).

Then: ``python -m lmms_eval --model selfsynth_llava --model_args pretrained=DIR[,peft=ADAPTER]
--tasks selfsynth_<task> --include_path OUT``.
"""
from __future__ import annotations

from typing import Any


def show(result: dict[str, Any], config) -> str:
    lines = [f"{name}: {count} samples" for name, count in result["tasks"].items()]
    if result["skipped"]:
        lines.append(f"skipped {len(result['skipped'])} unreadable image(s)")
    lines.append(f"run: python -m lmms_eval --model selfsynth_llava --model_args pretrained=MODEL "
                 f"--tasks {','.join(result['tasks'])} --include_path {result['include_path']}")
    return "\n".join(lines)
