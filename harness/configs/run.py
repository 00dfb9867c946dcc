"""``RunConfig`` (``selfsynth run``: one method on one task) and ``EvalConfig`` (``selfsynth eval``:
one model on one split). Both start with the shared ``TaskSpec`` section."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from selfsynth.config import check_fields, field
from selfsynth.configs.sections import TaskSpec
from selfsynth.generate import GenerateConfig
from selfsynth.metrics.fluency import DEFAULT_REFERENCE
from selfsynth.metrics.grading import FLUENCY_MODEL_HELP, GradingSettings
from selfsynth.synth.config import SynthConfig
from selfsynth.train import TrainConfig


@dataclass
class RunConfig(TaskSpec):
    method: str = field("ours", help="method name (see `selfsynth ls methods`)")
    model: str | None = field(None, help="base model: local folder or hub id; default for task toy: the toy base model")
    iterations: int = field(4, help="number of self-synthesis iterations K (0 = evaluate the base model only)", ge=0)
    out: str = field("runs", help="run store folder", flags=("output_path",))
    experiment: str = field("default", help="experiment name: a sub-folder of --out with its own manifest")
    limit: int | None = field(None, help="cap on train and test images each (seeded class-balanced subset; recorded in results)", ge=1)
    test_limit: int | None = field(None, help="cap on test images alone (default: --limit); `selfsynth eval --limit` with this number and --seed evaluates the same subset", ge=1)
    seed: int = field(0, help="global seed: data sampling, generation and training derive from it")
    concepts: str | None = field(None, help="class concepts JSON {class: [concepts]}; default for task toy: its concepts.json")
    concepts_allow_missing: bool = field(False, help="allow classes without concepts in --concepts instead of failing")
    prompts: str | None = field(None, help="YAML overriding the task domain's prompts")
    gen_batch_size: int = field(16, help="batch size for generation", ge=1)
    eval_batch_size: int = field(16, help="batch size for evaluation generation", ge=1)
    eval_max_new_tokens: int = field(256, help="max new tokens of the evaluation answer (paper: 256)", ge=1)
    train: TrainConfig = field(default_factory=TrainConfig, help="training loop settings")
    synth: SynthConfig = field(default_factory=SynthConfig, help="self-synthesis settings")
    judge: str | None = field(None, help="grade every iteration's evaluation (EE, CS, FS) with this judge: local (offline proxy), openai, or a plugin; unset: accuracy only")
    fluency_model: str = field(DEFAULT_REFERENCE, help=FLUENCY_MODEL_HELP)
    judging: GradingSettings = field(default_factory=GradingSettings, help="grading settings (used with --judge)")
    generate: GenerateConfig = field(default_factory=GenerateConfig, help="generation engine (every stage: describe, rewrite, rejection sampling, evaluation)")
    general: list[str] = field(default_factory=list, help="general-ability benchmarks through lmms-eval (e.g. mmstar,mme; see `selfsynth general`) on the base model (iteration 0) and the final merged model")
    general_root: str | None = field(None, help="folder of local benchmark copies for --general (layout: docs/general_ability.md); default for task toy: the toy miniatures")
    general_limit: int | None = field(None, help="first N documents of each --general benchmark", ge=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.synth.seed is None:  # --seed drives the synthesis draws unless synth.seed is set
            self.synth = dataclasses.replace(self.synth, seed=self.seed)


@dataclass
class EvalConfig(TaskSpec):
    model: str | None = field(None, help="model folder or hub id already in the local cache; default: the task's (toy: the toy base model)")
    adapter: str | None = field(None, help="LoRA adapter folder applied on top of --model")
    split: Literal["train", "test"] = field("test", help="which split to evaluate")
    limit: int | None = field(None, help="seeded class-balanced subset of N samples, the one `selfsynth run --limit N` evaluates (recorded in metrics.json)", ge=1)
    seed: int = field(0, help="seed of the --limit subset (the run's --seed)")
    out: str | None = field(None, help="output folder (default runs/eval/<task>/<split>-<model fingerprint>)", flags=("output_path",))
    batch_size: int = field(16, help="generation batch size", ge=1)
    max_new_tokens: int = field(256, help="answer length limit (paper: 256)", ge=1)
    cache: str | None = field(None, help="response cache file (default <out>/cache.sqlite)")
    prompts: str | None = field(None, help="YAML overriding the task domain's prompts (the question asked is its first explain prompt)")
