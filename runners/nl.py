"""`nl`: label only. Each training image gets the simple questions answered by one sentence that
states the label; iterated K times on the same schedule as the other methods.

Questions are drawn per image and iteration without replacement, the evaluation question held out
(``synth.train_on_eval_question`` puts it back), seeded by ``synth.seed``. When a domain has fewer
simple questions than ``synth.rewrite_questions`` (the toy world's 4), the remaining questions
come from the other pools, still answered by the label sentence, so every method gets the same
number of questions per image."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from selfsynth.runner import Runner


class NlRunner(Runner):
    """label only answers, iterated"""

    name = "nl"
    display_name = "NL"
    uses_concepts = False
    generates_data = False  # label sentences: no model output

    def build_data(self, iteration: int, model_path: str, out_dir: Path) -> list[dict[str, Any]]:
        from selfsynth.synth.stage import QuestionDraw, image_rng, question_pools

        prompts = self.prompts()
        synth = self.config.synth
        pools = question_pools(prompts, synth.train_on_eval_question)
        rows = []
        for sample in self.train_samples:
            drawer = QuestionDraw(image_rng(synth.draw_seed, f"nl-{iteration}", sample.id), pools, replace=synth.train_on_eval_question)
            for k in range(synth.rewrite_questions):
                picked = drawer.take("simple")
                if picked is None:  # every pool used up for this image
                    break
                rows.append({
                    "id": sample.id,
                    "image": sample.image_path,
                    "question": picked[1],
                    "answer": prompts.label_sentence.format(label=sample.label),
                    "question_type": picked[0],
                    "question_index": k,
                })
        return rows
