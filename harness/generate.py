"""Batched, cached, seeded generation for (image, question) requests.

- Left-padded batches through ``model.generate``; greedy when ``temperature == 0``.
- Sampling draws every token of a row from that row's own ``torch.Generator``, seeded from the
  request (image content + prompt), the sample index and ``GenArgs.seed``. So a sampled answer
  does not depend on which other requests share its batch, on the batch size, on cache hits or on
  the number of processes. (It is drawn inside a logits processor that turns the row's scores into
  a one-hot choice, so HF ``generate`` keeps handling the KV cache, EOS and padding.)
- Every request goes through the ``ResponseCache``: key = model fingerprint + (image sha256,
  prompt) + generation args + seed (no seed for greedy decoding, whose output does not use it).
- Under ``accelerate launch`` with N processes each rank generates a strided shard of the
  uncached requests; results are gathered and returned to every rank in input order.

Engines (``GenerateConfig.engine``, ``--generate.engine``): ``hf`` is transformers ``generate``
(the reference); ``vllm`` hands the same rows — same rendered prompts, same per-row seeds, same
sampling settings — to an offline ``vllm.LLM`` (continuous batching, paged KV cache). The engine
is part of the cache key: vLLM's sampler draws other tokens from the same seed, so its sampled
answers are equally reproducible but not the same strings as ``hf``'s (greedy answers agree; see
``benchmarks/bench_vllm.py``).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from selfsynth import config as cfg
from selfsynth.cache import ResponseCache, file_sha256, make_key
from selfsynth.errors import UserError
from selfsynth.models import LoadedModel, render_prompt

GENERATE_VERSION = 1  # bump when a change here changes outputs, so old cache entries miss


@dataclass
class GenArgs:
    max_new_tokens: int = field(default=256, metadata={"help": "maximum tokens generated per answer"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy decoding; > 0 samples with this temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass (1.0 = off); sampling only"})
    num_samples: int = field(default=1, metadata={"help": "answers drawn per request (sampling only; greedy gives 1 answer repeated)"})
    seed: int = field(default=0, metadata={"help": "base seed; each request and sample derives its own seed from it"})

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens {self.max_new_tokens}: expected >= 1")
        if self.temperature < 0:
            raise UserError(f"temperature {self.temperature}: expected >= 0")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p {self.top_p}: expected in (0, 1]")
        if self.num_samples < 1:
            raise UserError(f"num_samples {self.num_samples}: expected >= 1")

    @property
    def sampled(self) -> bool:
        return self.temperature > 0


VLLM_INSTALL_HINT = "pip install 'selfsynth-harness[vllm]' (a GPU machine; on CPU see `make bench-vllm`)"


@dataclass
class GenerateConfig:
    engine: Literal["hf", "vllm"] = cfg.field("hf", help="generation engine of every stage (describe, rewrite, rejection sampling, evaluation): hf (transformers generate) or vllm")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = cfg.field("auto", help="weights dtype; auto: hf takes bf16/fp16 on GPU and fp32 on CPU, vllm its own rule")
    vllm_tensor_parallel_size: int = cfg.field(1, help="vllm: GPUs one model is split over", ge=1)
    vllm_gpu_memory_utilization: float = cfg.field(0.85, help="vllm: share of GPU memory for weights + KV cache", gt=0, le=1)
    vllm_max_num_seqs: int = cfg.field(256, help="vllm: most sequences decoded at once", ge=1)
    vllm_max_model_len: int | None = cfg.field(None, help="vllm: context length (None: the model's)", ge=1)
    vllm_rows_per_call: int = cfg.field(4096, help="vllm: rows handed to the engine per call; the response cache is written after each call", ge=1)

    def __post_init__(self) -> None:
        cfg.check_fields(self)


@dataclass
class VllmModel:
    """A model served by an in-process ``vllm.LLM``; duck-compatible with ``LoadedModel`` for
    ``generate`` (processor for the chat template, fingerprint for the cache)."""

    llm: Any
    processor: Any
    fingerprint: str
    path: str
    rows_per_call: int
    engine: str = "vllm"
    scratch: str | None = None  # a hub-layout copy of the weights made for vLLM, removed on close

    def close(self) -> None:
        """Stop the engine and free its memory (before training in the same process)."""
        import gc
        import shutil

        import torch

        engine = getattr(self.llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def import_vllm() -> Any:
    # vLLM logs to stdout unless told otherwise, which would mix its lines into `--json` output;
    # read when vllm is first imported, and inherited by its worker processes (a user's own setting wins)
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    try:
        import vllm
    except ImportError:
        raise UserError(f"--generate.engine vllm: vllm is not installed; {VLLM_INSTALL_HINT}") from None
    return vllm


def load_vllm(path_or_id: str | os.PathLike, config: GenerateConfig) -> VllmModel:
    """An offline ``vllm.LLM`` on the model folder. A checkpoint in the transformers-5 key layout
    (as ``save_pretrained`` writes it) is first copied in the hub layout vLLM reads (tensors
    renamed, nothing recomputed) into a temporary folder, removed by ``close``."""
    import tempfile

    from transformers import AutoProcessor

    from selfsynth.models import is_hub_layout, model_fingerprint, resolve_path, write_hub_layout

    vllm = import_vllm()
    path = resolve_path(path_or_id)
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: expected a model folder with config.json")
    served, scratch = path, None
    if not is_hub_layout(path):
        scratch = tempfile.mkdtemp(prefix="selfsynth_vllm_")
        served = Path(scratch) / path.name
        write_hub_layout(path, served)
    kwargs: dict[str, Any] = {
        "model": str(served),
        "tensor_parallel_size": config.vllm_tensor_parallel_size,
        "gpu_memory_utilization": config.vllm_gpu_memory_utilization,
        "max_num_seqs": config.vllm_max_num_seqs,
        "limit_mm_per_prompt": {"image": 1},
        "seed": 0,
    }
    if config.dtype != "auto":
        kwargs["dtype"] = config.dtype
    import torch

    if not torch.cuda.is_available():
        # vLLM's CPU worker cannot rewind the generator of a seeded request whose prompt was split
        # over two scheduler steps ("CPU Generator does not use offset": the engine dies in the
        # first sampled stage big enough to split a prompt); prompts are prefilled whole instead
        kwargs["enable_chunked_prefill"] = False
    if config.vllm_max_model_len is not None:
        kwargs["max_model_len"] = config.vllm_max_model_len
    try:
        llm = vllm.LLM(**kwargs)
    except BaseException:
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return VllmModel(
        llm=llm, processor=AutoProcessor.from_pretrained(path), fingerprint=model_fingerprint(path),
        path=str(path), rows_per_call=config.vllm_rows_per_call, scratch=scratch,
    )


def load_generator(path_or_id: str | os.PathLike, config: GenerateConfig | None = None) -> LoadedModel | VllmModel:
    """The model behind ``generate`` for ``config.engine``."""
    config = config or GenerateConfig()
    if config.engine == "vllm":
        return load_vllm(path_or_id, config)
    from selfsynth.models import load_model

    return load_model(path_or_id, dtype=config.dtype)


def _row_seed(image_hash: str, prompt: str, seed: int, sample: int) -> int:
    payload = f"{image_hash}\0{prompt}\0{seed}\0{sample}".encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") & ((1 << 63) - 1)


class _RowSampler:
    """A logits processor that samples each row with its own generator and returns a one-hot
    score row, so the greedy pick of ``generate`` is exactly the sampled token."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # keep the smallest prefix whose mass reaches top_p (the first token always stays)
            drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= self.top_p
            sorted_probs[drop] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        choice = torch.stack([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(-1, choice.to(scores.device), 0.0)
        return out


def _load_image(path: str) -> Any:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read image ({exc})") from None


def _generate_rows(lm: LoadedModel, rows: list[tuple[str, str, int | None]], args: GenArgs) -> list[str]:
    """rows: (image path, rendered prompt, seed or None) → one decoded answer each (one batch)."""
    import torch
    from transformers import LogitsProcessorList

    processor = lm.processor
    tokenizer = processor.tokenizer
    images = [_load_image(path) for path, _, _ in rows]
    batch = processor(images=images, text=[p for _, p, _ in rows], padding=True, padding_side="left", return_tensors="pt")
    device = next(lm.model.parameters()).device
    dtype = next(lm.model.parameters()).dtype
    batch = {k: (v.to(device, dtype) if k == "pixel_values" else v.to(device)) for k, v in batch.items()}
    kwargs: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        # neutralise sampling defaults a checkpoint's generation_config may carry
        "temperature": None,
        "top_p": None,
        "top_k": None,
    }
    if args.sampled:
        kwargs["logits_processor"] = LogitsProcessorList([_RowSampler([s for _, _, s in rows], args.temperature, args.top_p)])
    with torch.inference_mode():
        out = lm.model.generate(**batch, **kwargs)
    new_tokens = out[:, batch["input_ids"].shape[1] :]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def _vllm_rows(lm: VllmModel, rows: list[tuple[str, str, int | None]], args: GenArgs) -> list[str]:
    """The same rows through ``vllm.LLM.generate``: one request per row with the row's seed."""
    vllm = import_vllm()

    prompts = [{"prompt": prompt, "multi_modal_data": {"image": _load_image(path)}} for path, prompt, _ in rows]
    if args.sampled:
        params = [
            vllm.SamplingParams(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_new_tokens, seed=seed)
            for _, _, seed in rows
        ]
    else:
        params = [vllm.SamplingParams(temperature=0.0, max_tokens=args.max_new_tokens)] * len(rows)
    outputs = lm.llm.generate(prompts, sampling_params=params, use_tqdm=False)
    return [out.outputs[0].text.strip() for out in outputs]


def generate(
    lm: LoadedModel | VllmModel,
    requests: Sequence[tuple[str, str]],
    args: GenArgs | None = None,
    cache: ResponseCache | None = None,
    batch_size: int = 16,
    desc: str | None = None,
) -> list[list[str]]:
    """Answers for ``requests`` = [(image_path, user prompt text)]: ``num_samples`` strings each.

    ``lm`` comes from ``load_generator`` (or ``selfsynth.models.load_model`` for ``hf``);
    ``batch_size`` is the ``hf`` batch, while ``vllm`` schedules its own batches."""
    from tqdm.auto import tqdm

    args = args or GenArgs()
    args.validate()
    if batch_size < 1:
        raise UserError(f"batch_size {batch_size}: expected >= 1")
    n_samples = args.num_samples if args.sampled else 1
    if args.sampled:
        gen_args = {k: v for k, v in asdict(args).items() if k != "seed"} | {"version": GENERATE_VERSION}
    else:  # greedy output depends only on the length limit
        gen_args = {"max_new_tokens": args.max_new_tokens, "temperature": 0.0, "version": GENERATE_VERSION}
    engine = getattr(lm, "engine", "hf")
    gen_args["engine"] = engine
    hashes: dict[str, str] = {}
    keys: list[str] = []
    for image, prompt in requests:
        if image not in hashes:
            if not Path(image).is_file():
                raise UserError(f"{image}: image file not found")
            hashes[image] = file_sha256(image)
        keys.append(make_key(lm.fingerprint, {"image": hashes[image], "prompt": prompt}, gen_args, args.seed if args.sampled else None))
    results: list[list[str] | None] = [None] * len(requests)
    if cache is not None:
        found = cache.get_many(keys)
        for i, key in enumerate(keys):
            if key in found:
                results[i] = list(found[key])
    todo = [i for i, r in enumerate(results) if r is None]

    from selfsynth.models import distributed_state

    state = distributed_state()
    with contextlib.ExitStack() as shared:
        if cache is not None and todo and state.num_processes == 1:
            # a parallel lane about to generate the same answers (the base model's, at iteration 0)
            # waits here, then reads them from the cache (one process only: the ranks of one
            # accelerate launch share the work through gather_object instead)
            shared.enter_context(cache.computing(keys[i] for i in todo))
            found = cache.recheck([keys[i] for i in todo])
            for i in todo:
                if keys[i] in found:
                    results[i] = list(found[keys[i]])
            todo = [i for i in todo if results[i] is None]
        if engine == "vllm" and state.num_processes > 1:
            raise UserError("--generate.engine vllm runs in one process (vLLM parallelises itself: --generate.vllm_tensor_parallel_size); do not start it under accelerate launch")
        mine = todo[state.process_index :: state.num_processes] if state.num_processes > 1 else todo
        # rows: one per (request, sample); sorted by prompt length so batches pad little
        rows: list[tuple[int, int]] = [(i, s) for i in mine for s in range(n_samples)]
        rendered = {i: render_prompt(lm.processor, requests[i][1]) for i in mine}
        rows.sort(key=lambda r: (len(rendered[r[0]]), r[0], r[1]))
        answers: dict[int, list[str | None]] = {i: [None] * n_samples for i in mine}
        step = lm.rows_per_call if engine == "vllm" else batch_size
        batches = [rows[k : k + step] for k in range(0, len(rows), step)]
        # transient, and on terminals only (disable=None): the calling step prints its own one-line
        # summary when it finishes, and a log file or a captured stream gets no carriage returns
        off = not batches or not state.is_main_process or _tqdm_disabled()  # nothing to generate: no bar
        bar = tqdm(batches, desc=desc or "generate", leave=False, disable=True if off else None)
        for chunk in bar:
            prepared = []
            for i, s in chunk:
                image, prompt = requests[i]
                seed = _row_seed(hashes[image], prompt, args.seed, s) if args.sampled else None
                prepared.append((image, rendered[i], seed))
            texts = _vllm_rows(lm, prepared, args) if engine == "vllm" else _generate_rows(lm, prepared, args)
            finished: dict[str, list[str]] = {}
            for (i, s), text in zip(chunk, texts):
                answers[i][s] = text
                if all(a is not None for a in answers[i]):
                    finished[keys[i]] = list(answers[i])  # type: ignore[arg-type]
            if cache is not None and finished:
                cache.put_many(finished)
        local = [(i, list(answers[i])) for i in mine]
        if state.num_processes > 1:
            from accelerate.utils import gather_object

            local = gather_object(local)
        for i, outs in local:
            results[i] = outs
        if not args.sampled:
            results = [r * args.num_samples if r is not None else r for r in results]
    return [list(r) for r in results]  # type: ignore[arg-type]


def _tqdm_disabled() -> bool:
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
