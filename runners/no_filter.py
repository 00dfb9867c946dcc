"""`no_filter` (Table 12 ablation): like `ours`, but iterations ≥ 2 keep a random candidate — no
InfoNCE ranking, no label check."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class NoFilterRunner(Runner):
    """ours without InfoNCE ranking or label check (Table 12)"""

    name = "no_filter"
    describes_images = True

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        return self.synthesized_data(iteration, model_path, out_dir, self.selected_concepts(), mode="random")
