"""The config of ``selfsynth judge``: grading settings (``JudgeConfig``) plus the evaluation folder
and its references. Apart from the other commands' configs because grading's imports are heavier
(``selfsynth ls`` stays fast)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from selfsynth.config import field
from selfsynth.configs.sections import TaskSpec
from selfsynth.metrics.grading import JudgeConfig


@dataclass
class JudgeCommandConfig(TaskSpec, JudgeConfig):
    """``selfsynth judge``: the grading settings plus which evaluation folder and references. The
    task section's ``toy_cache`` is not used (and not a flag): the dataset graded against is the
    one the records' metrics.json names, or ``root``."""

    eval_dir: str | None = field(None, positional=True, metavar="EVAL_DIR",
                          help="evaluation folder holding records.jsonl (or the records.jsonl file itself)")
    task: str | None = field(None, help="task of the records (default: the 'task' in metrics.json next to them)")
    root: str | None = field(None, help="dataset folder the records came from (default: the one metrics.json records)", metavar="DIR")
    concepts: str | None = field(None, help="reference concepts per class {class name: [concept, ...]}", metavar="JSON")
    out: str | None = field(None, help="where judge_records.jsonl and judge_metrics.json go (default: next to the records)",
                            flags=("output_path",), metavar="DIR")
    cache: str | None = field(None, help="judge and fluency cache (default <out>/judge_cache.sqlite)", metavar="SQLITE")

    def grading(self) -> JudgeConfig:
        """The grading settings alone."""
        return JudgeConfig(**{f.name: getattr(self, f.name) for f in fields(JudgeConfig)})
