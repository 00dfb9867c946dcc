"""`ours`: image-level concepts selected by the information bottleneck, answers rewritten by the
base model (iteration 1), then reward-model-free rejection sampling from the previous model."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class OursRunner(Runner):
    """self-synthesized image-level explanations + reward-free rejection filter"""

    name = "ours"
    display_name = "Ours"
    describes_images = True

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        return self.synthesized_data(iteration, model_path, out_dir, self.selected_concepts(), mode="infonce")
