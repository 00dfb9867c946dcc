"""A worked example of a third-party method: one class in one file, registered through the
``selfsynth.methods`` entry point of its own distribution (``../pyproject.toml``) — no edit to the
harness. Install it with ``pip install -e tests/plugins/selfsynth_example_plugin``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class LabelConceptsRunner(Runner):
    """label sentence followed by the first class-level concepts (plugin example)"""

    name = "label_concepts"

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        prompts = self.prompts()
        concepts = self.class_concepts().concepts
        rows = []
        for sample in self.train_samples:
            features = ", ".join(concepts.get(sample.label, [])[:2])
            answer = prompts.label_sentence.format(label=sample.label) + (f" It has {features}." if features else "")
            for question in prompts.explain[:2]:
                rows.append({"id": sample.id, "image": sample.image_path, "question": question, "answer": answer})
        return rows
