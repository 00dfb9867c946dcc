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
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

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


def generate(
    lm: LoadedModel,
    requests: Sequence[tuple[str, str]],
    args: GenArgs | None = None,
    cache: ResponseCache | None = None,
    batch_size: int = 16,
    desc: str | None = None,
) -> list[list[str]]:
    """Answers for ``requests`` = [(image_path, user prompt text)]: ``num_samples`` strings each."""
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
    mine = todo[state.process_index :: state.num_processes] if state.num_processes > 1 else todo
    # rows: one per (request, sample); sorted by prompt length so batches pad little
    rows: list[tuple[int, int]] = [(i, s) for i in mine for s in range(n_samples)]
    rendered = {i: render_prompt(lm.processor, requests[i][1]) for i in mine}
    rows.sort(key=lambda r: (len(rendered[r[0]]), r[0], r[1]))
    answers: dict[int, list[str | None]] = {i: [None] * n_samples for i in mine}
    batches = [rows[k : k + batch_size] for k in range(0, len(rows), batch_size)]
    bar = tqdm(batches, desc=desc or "generate", disable=not state.is_main_process or _tqdm_disabled())
    for chunk in bar:
        prepared = []
        for i, s in chunk:
            image, prompt = requests[i]
            seed = _row_seed(hashes[image], prompt, args.seed, s) if args.sampled else None
            prepared.append((image, rendered[i], seed))
        texts = _generate_rows(lm, prepared, args)
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
