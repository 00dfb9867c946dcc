"""Settings of the self-synthesis pipeline (DESIGN §2). Defaults are the paper's."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from selfsynth.config import field


@dataclass
class SynthConfig:
    # step 0 — class concepts from an LLM (OpenAI-compatible endpoint)
    concept_model: str = field("gpt-4o", help="step 0: LLM asked for each class's visual concepts (paper: GPT-4o)")
    concept_base_url: str | None = field(None, help="step 0: OpenAI-compatible base URL (None: the openai client's default)")
    concept_api_key_env: str = field("OPENAI_API_KEY", help="step 0: environment variable holding the API key")
    concept_temperature: float = field(0.0, help="step 0: sampling temperature of the concept LLM")
    concept_max_tokens: int = field(512, help="step 0: max tokens of one concept answer")
    concept_max_retries: int = field(5, help="step 0: retries (with exponential backoff) on 429/5xx/timeouts")
    concept_timeout: float = field(60.0, help="step 0: seconds before one request times out")
    concept_concurrency: int = field(4, help="step 0: concurrent requests to the concept LLM")

    # step 1 — descriptions
    describe_prompts: int = field(3, help="step 1: description prompt variants used (first N of the domain's list)")
    describe_samples: int = field(10, help="step 1: samples per prompt variant (3 × 10 = 30 descriptions per image)")
    describe_temperature: float = field(1.0, help="step 1: sampling temperature")
    describe_top_p: float = field(1.0, help="step 1: nucleus sampling top-p")
    describe_max_new_tokens: int = field(256, help="step 1: max new tokens per description")

    # step 2 — concept selection
    encoder: str = field("all-MiniLM-L6-v2", help="step 2: text encoder (paper: intfloat/e5-large-v2; offline default all-MiniLM-L6-v2)")
    encoder_prefix: str = field("", help="steps 2 and ≥ 2: text put before every encoded text ('' as published; e5's model card suggests 'query: ')")
    encoder_batch_size: int = field(64, help="step 2: texts per encoder batch")
    tau: float = field(0.1, help="step 2: InfoNCE temperature τ")
    k_std: float = field(0.4, help="step 2: keep concepts with I > mean + k_std·std (std with n−1)")
    min_keep: int = field(3, help="step 2: keep at least this many concepts (top by score)")

    # step 3 — answer rewriting (iteration 1)
    rewrite_questions: int = field(8, help="step 3: questions per image")
    rewrite_p_simple: float = field(0.4, help="step 3: probability of a simple 'what is this' question")
    rewrite_p_explain: float = field(0.2, help="step 3: probability of an explain question")
    rewrite_p_cot: float = field(0.4, help="step 3: probability of a chain-of-thought question")
    rewrite_temperature: float = field(0.3, help="step 3: sampling temperature")
    rewrite_top_p: float = field(1.0, help="step 3: nucleus sampling top-p")
    rewrite_max_new_tokens: int = field(128, help="step 3: max new tokens per answer")
    rewrite_ratio: float = field(0.7, help="step 3: difflib ratio of the label against the whole answer at which a near miss gets the label sentence appended (unless the answer names another class)")

    # iterations ≥ 2 — rejection sampling
    reject_questions: int = field(8, help="iterations ≥ 2: questions per image")
    reject_p_explain: float = field(0.5, help="iterations ≥ 2: probability of an explain question (else chain-of-thought)")
    reject_samples: int = field(3, help="iterations ≥ 2: candidate answers per question")
    reject_temperature: float = field(0.7, help="iterations ≥ 2: sampling temperature")
    reject_top_p: float = field(0.6, help="iterations ≥ 2: nucleus sampling top-p")
    reject_max_new_tokens: int = field(196, help="iterations ≥ 2: max new tokens per candidate")
    reject_negatives: Literal["all", "drop_own_class", "drop_selected"] = field(
        "drop_own_class", help="iterations ≥ 2: InfoNCE negatives C — all (every concept of every class, as released), "
        "drop_own_class (the image's whole class left out) or drop_selected (only the image's selected concepts left out)"
    )

    label_match: Literal["ours", "paper"] = field(
        "ours", help="keep rules of steps 3 and ≥ 2, 'the answer contains the label': ours (digit-preserving whole-word match with aliases, selfsynth.tasks.labels.match) or paper (the published lowercase containment, selfsynth.tasks.labels.paper_match)"
    )
    batch_size: int = field(16, help="generation batch size of the synthesis steps")
    seed: int | None = field(None, help="seed of question draws and sampling in the synthesis steps (None: a run's --seed; 0 outside a run)")
    train_on_eval_question: bool = field(
        False, help="keep the evaluation question (explain[0]) in the training question pools, as the paper did (default: held out)"
    )

    @property
    def draw_seed(self) -> int:
        """``seed``, with 0 for a config built outside a run (a run fills in its --seed)."""
        return 0 if self.seed is None else self.seed

    def validate(self) -> None:
        """Raise UserError on settings that cannot work."""
        from selfsynth.errors import UserError

        probs = (self.rewrite_p_simple, self.rewrite_p_explain, self.rewrite_p_cot)
        if min(probs) < 0 or sum(probs) <= 0:
            raise UserError(f"synth: rewrite_p_simple/explain/cot must be ≥ 0 with a positive sum, got {probs}")
        if not 0.0 <= self.reject_p_explain <= 1.0:
            raise UserError(f"synth: reject_p_explain must lie in [0, 1], got {self.reject_p_explain}")
        for name in ("describe_prompts", "describe_samples", "rewrite_questions", "reject_questions", "reject_samples", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"synth: {name} must be ≥ 1, got {getattr(self, name)}")
        if self.tau <= 0:
            raise UserError(f"synth: tau must be > 0, got {self.tau}")
        if self.min_keep < 0:
            raise UserError(f"synth: min_keep must be ≥ 0, got {self.min_keep}")
