"""`nl`: label only. Each training image gets the simple questions answered by one sentence that
states the label; iterated K times on the same schedule as the other methods."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class NlRunner(Runner):
    """label only answers, iterated"""

    name = "nl"

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        prompts = self.prompts()
        rng = random.Random(self.iteration_seed(iteration))
        per_image = self.config.synth.rewrite_questions
        rows = []
        for sample in self.train_samples:
            for k in range(per_image):
                rows.append({
                    "id": sample.id,
                    "image": sample.image_path,
                    "question": rng.choice(prompts.simple),
                    "answer": prompts.label_sentence.format(label=sample.label),
                    "question_index": k,
                })
        return rows
