"""Settings of the self-synthesis pipeline (README "Fidelity"). Defaults are the paper's."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from selfsynth.config import check_fields, field
from selfsynth.configs.sections import Endpoint


@dataclass
class SynthConfig:
    # step 0 — class concepts from an LLM (OpenAI-compatible endpoint)
    concept_model: str = field("gpt-4o", help="step 0: LLM asked for each class's visual concepts (paper: GPT-4o)")
    concept_base_url: str | None = field(None, help="step 0: OpenAI-compatible base URL (None: the openai client's default)")
    concept_api_key_env: str = field("OPENAI_API_KEY", help="step 0: environment variable holding the API key")
    concept_temperature: float = field(0.0, help="step 0: sampling temperature of the concept LLM", ge=0)
    concept_max_tokens: int = field(512, help="step 0: max tokens of one concept answer", ge=1)
    concept_max_retries: int = field(5, help="step 0: retries (with exponential backoff) on 429/5xx/timeouts", ge=0)
    concept_timeout: float = field(60.0, help="step 0: seconds before one request times out", gt=0)
    concept_concurrency: int = field(4, help="step 0: concurrent requests to the concept LLM", ge=1)

    # step 1 — descriptions
    describe_prompts: int = field(3, help="step 1: description prompt variants used (first N of the domain's list)", ge=1)
    describe_samples: int = field(10, help="step 1: samples per prompt variant (3 × 10 = 30 descriptions per image)", ge=1)
    describe_temperature: float = field(1.0, help="step 1: sampling temperature", ge=0)
    describe_top_p: float = field(1.0, help="step 1: nucleus sampling top-p", gt=0, le=1)
    describe_max_new_tokens: int = field(256, help="step 1: max new tokens per description", ge=1)

    # step 2 — concept selection
    encoder: str = field("all-MiniLM-L6-v2", help="step 2: text encoder (paper: intfloat/e5-large-v2; offline default all-MiniLM-L6-v2)")
    encoder_prefix: str = field("", help="steps 2 and ≥ 2: text put before every encoded text ('' as published; e5's model card suggests 'query: ')")
    encoder_batch_size: int = field(64, help="step 2: texts per encoder batch", ge=1)
    tau: float = field(0.1, help="step 2: InfoNCE temperature τ", gt=0)
    k_std: float = field(0.4, help="step 2: keep concepts with I > mean + k_std·std (std with n−1)")
    min_keep: int = field(3, help="step 2: keep at least this many concepts (top by score)", ge=0)

    # step 3 — answer rewriting (iteration 1)
    rewrite_questions: int = field(8, help="step 3: questions per image", ge=1)
    rewrite_p_simple: float = field(0.4, help="step 3: probability of a simple 'what is this' question", ge=0)
    rewrite_p_explain: float = field(0.2, help="step 3: probability of an explain question (paper text 0.2; the released code draws 0.6 x 0.4 x 0.8 = 0.192)", ge=0)
    rewrite_p_cot: float = field(0.4, help="step 3: probability of a chain-of-thought question (paper text 0.4; released 0.408)", ge=0)
    rewrite_temperature: float = field(0.3, help="step 3: sampling temperature", ge=0)
    rewrite_top_p: float = field(1.0, help="step 3: nucleus sampling top-p", gt=0, le=1)
    rewrite_max_new_tokens: int = field(128, help="step 3: max new tokens per answer", ge=1)
    rewrite_ratio: float = field(0.7, help="step 3: difflib ratio of the label against the whole answer at which a near miss gets the label sentence appended (unless the answer names another class)", ge=0, le=1)

    # iterations ≥ 2 — rejection sampling
    reject_questions: int = field(8, help="iterations ≥ 2: questions per image", ge=1)
    reject_p_explain: float = field(0.5, help="iterations ≥ 2: probability of an explain question (else chain-of-thought)", ge=0, le=1)
    reject_samples: int = field(3, help="iterations ≥ 2: candidate answers per question", ge=1)
    reject_temperature: float = field(0.7, help="iterations ≥ 2: sampling temperature", ge=0)
    reject_top_p: float = field(0.6, help="iterations ≥ 2: nucleus sampling top-p", gt=0, le=1)
    reject_max_new_tokens: int = field(196, help="iterations ≥ 2: max new tokens per candidate", ge=1)
    reject_negatives: Literal["all", "drop_own_class", "drop_selected"] = field(
        "drop_own_class", help="iterations ≥ 2: InfoNCE negatives C — all (every concept of every class, as released), "
        "drop_own_class (the image's whole class left out) or drop_selected (only the image's selected concepts left out)"
    )

    # the Table 12 ablation (method no_filter)
    no_filter_concepts: Literal["random", "selected"] = field(
        "random", help="no_filter, iteration 1: hidden-context concepts per image — random (a seeded random subset of its class "
        "concepts, as many as step 2 keeps for it: the ablation drops the information-bottleneck filter too) or selected "
        "(step 2's selection, as ours; only the later rejection filter is dropped)"
    )

    label_match: Literal["ours", "paper"] = field(
        "ours", help="keep rules of steps 3 and ≥ 2, 'the answer contains the label': ours (digit-preserving whole-word match with aliases, selfsynth.tasks.labels.match) or paper (as released: step 3 label.lower() in answer.lower(), selfsynth.tasks.labels.paper_keep_match; rounds ≥ 2 the digit-deleting containment, selfsynth.tasks.labels.paper_match)"
    )
    batch_size: int = field(16, help="generation batch size of the synthesis steps", ge=1)
    seed: int | None = field(None, help="seed of question draws and sampling in the synthesis steps (None: a run's --seed; 0 outside a run)")
    train_on_eval_question: bool = field(
        False, help="the released question draws: the evaluation question (explain[0]) kept in the training pools and every question drawn independently, with replacement (default: held out, no question twice per image and iteration)"
    )

    def concept_endpoint(self) -> Endpoint:
        """The step-0 settings as the shared endpoint section (the flat ``concept_*`` names stay:
        run configs, experiment files and stored runs use them)."""
        return Endpoint(model=self.concept_model, base_url=self.concept_base_url, api_key_env=self.concept_api_key_env,
                        max_concurrency=self.concept_concurrency, max_retries=self.concept_max_retries,
                        timeout_s=self.concept_timeout, temperature=self.concept_temperature, max_tokens=self.concept_max_tokens)

    @property
    def draw_seed(self) -> int:
        """``seed``, with 0 for a config built outside a run (a run fills in its --seed)."""
        return 0 if self.seed is None else self.seed

    def __post_init__(self) -> None:
        check_fields(self)
        probs = (self.rewrite_p_simple, self.rewrite_p_explain, self.rewrite_p_cot)
        if sum(probs) <= 0:
            raise ValueError(f"rewrite_p_simple/explain/cot {probs}: expected a positive sum")
