"""`lge`: label + general explanation. Iteration 1 rewrites answers with ALL of the class's
concepts (no image-level selection); later iterations resample from the previous model and keep a
candidate that names the label, without any concept-based ranking."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class LgeRunner(Runner):
    """label + class-level general explanation"""

    name = "lge"
    display_name = "L+GE"

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        from selfsynth.synth import class_concepts_per_image

        per_image = class_concepts_per_image(self.train_samples, self.class_concepts())
        return self.synthesized_data(iteration, model_path, out_dir, per_image, mode="label")
