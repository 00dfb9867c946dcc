"""`base`: the untouched model, zero-shot (iteration 0 only)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class BaseRunner(Runner):
    """untouched model, zero-shot"""

    name = "base"
    display_name = "Base"
    trains = False

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        # Never called: a zero-shot method has no training iterations.
        return []


