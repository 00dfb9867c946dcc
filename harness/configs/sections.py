"""Config sections that several configs share, each declared once.

``TaskSpec``: which task and where its data is (``--task``, ``--root``, ``--option KEY=VALUE``,
``--toy_cache``): ``selfsynth run``, ``eval``, ``data``, ``export-lmms``, ``concepts``, ``match``
and ``judge`` all take these. ``Endpoint``: an OpenAI-compatible chat endpoint (the concept LLM of
``selfsynth concepts`` and the openai judge). A config reuses a section by inheriting it; a
subclass may redeclare a field to change its default (it keeps its place).

Core layer: plain dataclasses, importable from any layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from selfsynth.config import check_fields, field

# the embedded toy task (``selfsynth.tasks.toy.ToyTask.name``): every command's default task, so a
# first command works offline with no dataset
DEFAULT_TASK = "toy"


@dataclass
class TaskSpec:
    """Which task, and where its data is."""

    SECTION: ClassVar[str] = "task and dataset"

    task: str = field(DEFAULT_TASK, help="task name (see `selfsynth ls tasks`)")
    root: str | None = field(None, help="dataset folder; default: the task's (toy: the generated toy dataset)")
    task_options: list[str] = field(default_factory=list, repeat_flag="option", metavar="KEY=VALUE",
                                    help="task options as KEY=VALUE (e.g. pld: seed=1,train_size=500; see `selfsynth data`)")
    toy_cache: str | None = field(None, help="cache folder of the toy world (default ~/.cache/selfsynth/toy)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class Endpoint:
    """An OpenAI-compatible chat-completions endpoint (OpenAI, Azure, vLLM, SGLang, llama.cpp, Ollama)."""

    SECTION: ClassVar[str] = "OpenAI-compatible endpoint (OpenAI, Azure, vLLM, SGLang, llama.cpp, Ollama)"

    model: str = field("gpt-4o", help="model name as the endpoint knows it (paper: GPT-4o)")
    base_url: str | None = field(None, help="OpenAI-compatible base URL (e.g. http://localhost:8000/v1 for vLLM); unset: the openai client's default")
    api_key_env: str = field("OPENAI_API_KEY", help="NAME of the environment variable holding the API key; empty: the endpoint needs no key")
    max_concurrency: int = field(4, help="requests in flight at once", ge=1, flags=("concurrency",))
    max_retries: int = field(5, help="retries per request on 429, 408/409, 5xx, timeouts and connection errors", ge=0)
    timeout_s: float = field(60.0, help="seconds before one request times out", gt=0)
    backoff_initial_s: float = field(1.0, help="wait before the first retry; doubles on each further retry", ge=0)
    backoff_max_s: float = field(60.0, help="longest wait between retries", ge=0)
    temperature: float = field(0.0, help="sampling temperature", ge=0)
    max_tokens: int = field(256, help="max tokens of one reply", ge=1)
    price_input_per_mtok: float | None = field(None, help="USD per million prompt tokens; with the output price, the cost is reported", ge=0)
    price_output_per_mtok: float | None = field(None, help="USD per million completion tokens", ge=0)

    def __post_init__(self) -> None:
        check_fields(self)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for the tokens, when both prices are set."""
        if self.price_input_per_mtok is None or self.price_output_per_mtok is None:
            return None
        return (prompt_tokens * self.price_input_per_mtok + completion_tokens * self.price_output_per_mtok) / 1e6
