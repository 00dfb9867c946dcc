"""`no_filter` (Table 12, "w/o Filtering"): ours without either filter. Iteration 1 puts a seeded
random subset of the image's class concepts in the hidden context, as many as step 2's
information-bottleneck filter keeps for that image, instead of the filter's choice; iterations ≥ 2
keep a random candidate, with no InfoNCE ranking and no label check.

``synth.no_filter_concepts selected`` keeps step 2's selection at iteration 1 (only the rejection
filter removed), which makes iteration 1 identical to ``ours``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class NoFilterRunner(Runner):
    """ours without the concept filter (iteration 1) or the rejection filter (Table 12)"""

    name = "no_filter"
    display_name = "w/o Filtering"
    describes_images = True

    def image_concepts(self) -> dict[str, list[str]]:
        """{image id: hidden-context concepts} under ``synth.no_filter_concepts``."""
        from selfsynth.synth.select import random_concepts_per_image

        selected = self.selected_concepts()  # step 2 still runs: it fixes how many concepts each image gets
        if self.config.synth.no_filter_concepts == "selected":
            return selected
        sizes = {image: len(concepts) for image, concepts in selected.items()}
        return random_concepts_per_image(self.train_samples, self.class_concepts(), sizes, self.config.synth.draw_seed)

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        return self.synthesized_data(iteration, model_path, out_dir, self.image_concepts(), mode="random")
