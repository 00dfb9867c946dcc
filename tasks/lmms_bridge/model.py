"""lmms-eval model ``selfsynth_llava``: a LLaVA checkpoint (+ optional LoRA adapter) loaded and
run by ``selfsynth.models`` / ``selfsynth.generate``, so lmms-eval sees exactly the answers
``selfsynth eval`` produces.

    python -m lmms_eval --model selfsynth_llava \\
        --model_args pretrained=DIR_OR_ID[,peft=ADAPTER_DIR][,dtype=bf16][,cache=FILE.sqlite] \\
        --tasks mmstar,selfsynth_cub200 --include_path EXPORTED_TASKS

Model args: ``pretrained`` (required), ``peft`` (LoRA adapter folder), ``dtype`` (auto, fp32,
bf16, fp16), ``device`` (auto, cpu, cuda, cuda:N), ``batch_size``, ``cache`` (a response-cache
SQLite file shared with our runs), ``attn_implementation``.

Images reach the model as lmms-eval hands them over (``doc_to_visual``): each is written once as
a lossless PNG in a temporary folder and passed to ``selfsynth.generate`` by path; a document with
several images is shown as one image, the images side by side (LLaVA-1.5 takes one image).

Registration: lmms-eval 0.7.x reads the ``lmms_eval.models`` entry-point group, calls each
payload with no arguments and expects a ``ModelManifest``; our entry point names
``lmms_manifest``, which points lmms-eval at ``SelfSynthLlava``.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from lmms_eval.api.model import lmms

MODEL_ID = "selfsynth_llava"
CLASS_PATH = "selfsynth.tasks.lmms_bridge.model.SelfSynthLlava"
IMAGE_TOKENS = ("<image>",)


def lmms_manifest():
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)


class SelfSynthLlava(lmms):
    """LLaVA (+ LoRA) through harness.models / harness.generate."""

    is_simple = True

    def __init__(
        self,
        pretrained: str,
        peft: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int | str = 1,
        max_batch_size: int | None = None,
        cache: str | None = None,
        attn_implementation: str = "auto",
        **unused: Any,
    ) -> None:
        super().__init__()
        from selfsynth.models import load_model

        if unused:
            raise TypeError(f"selfsynth_llava: unknown model_args {', '.join(sorted(unused))}")
        self.lm = load_model(pretrained, adapter=peft or None, dtype=dtype, device=device or "auto",
                             attn_implementation=attn_implementation)
        self.batch_size_per_gpu = int(batch_size) if str(batch_size).isdigit() else 1
        self._cache = None
        if cache:
            from selfsynth.cache import ResponseCache

            self._cache = ResponseCache(cache)
        self._image_dir = tempfile.TemporaryDirectory(prefix="selfsynth_lmms_")

    # -- images ---------------------------------------------------------------------------------
    def _visual_path(self, visuals: Sequence[Any], where: str) -> str:
        from PIL import Image

        images = [v.convert("RGB") for v in visuals if isinstance(v, Image.Image)]
        if len(images) != len(visuals) or not images:
            raise ValueError(f"selfsynth_llava: {where} needs one or more images (got {[type(v).__name__ for v in visuals]})")
        if len(images) == 1:
            image = images[0]
        else:
            height = max(i.height for i in images)
            image = Image.new("RGB", (sum(i.width for i in images), height))
            x = 0
            for part in images:
                image.paste(part, (x, 0))
                x += part.width
        digest = hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()[:24]
        path = Path(self._image_dir.name) / f"{digest}.png"
        if not path.exists():
            image.save(path, format="PNG")
        return str(path)

    def _doc_visuals(self, doc_to_visual: Any, doc_id: int, task: str, split: str) -> list[Any]:
        visuals = doc_to_visual(self.task_dict[task][split][doc_id])
        return list(visuals or [])

    @staticmethod
    def _clean_context(context: str) -> str:
        for token in IMAGE_TOKENS:
            context = context.replace(token, "")
        return context.strip()

    # -- lmms API -------------------------------------------------------------------------------
    def generate_until(self, requests) -> list[str]:
        from selfsynth.generate import GenArgs, generate

        groups: dict[str, list[int]] = {}
        prepared: list[tuple[str, str, dict[str, Any]]] = []
        for index, request in enumerate(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            gen_kwargs = dict(gen_kwargs or {})
            path = self._visual_path(self._doc_visuals(doc_to_visual, doc_id, task, split), f"{task}/{split}/{doc_id}")
            prepared.append((path, self._clean_context(context), gen_kwargs))
            key = json.dumps({k: v for k, v in gen_kwargs.items() if k != "until"}, sort_keys=True, default=str)
            groups.setdefault(key, []).append(index)
        answers: list[str] = [""] * len(prepared)
        for indices in groups.values():
            kwargs = prepared[indices[0]][2]
            sampled = bool(kwargs.get("do_sample")) and float(kwargs.get("temperature") or 0) > 0
            args = GenArgs(
                max_new_tokens=int(kwargs.get("max_new_tokens") or 256),
                temperature=float(kwargs.get("temperature") or 0) if sampled else 0.0,
                top_p=float(kwargs.get("top_p") or 1.0) if sampled else 1.0,
                num_samples=1,
                seed=0,
            )
            outs = generate(self.lm, [(prepared[i][0], prepared[i][1]) for i in indices], args,
                            cache=self._cache, batch_size=self.batch_size_per_gpu, desc="selfsynth_llava")
            for i, out in zip(indices, outs):
                answers[i] = _truncate(out[0], prepared[i][2].get("until"))
        for request, answer in zip(requests, answers):
            self.cache_hook.add_partial("generate_until", (request.args[0], request.args[1]), answer)
        return answers

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        """Sum of log-probabilities of the continuation after the rendered prompt (+ greedy flag)."""
        import torch
        from PIL import Image

        from selfsynth.models import render_prompt

        processor = self.lm.processor
        model = self.lm.model
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        results = []
        for request in requests:
            context, continuation, doc_to_visual, doc_id, task, split = request.args
            if not isinstance(continuation, str):
                continuation = continuation(self.task_dict[task][split][doc_id])
            path = self._visual_path(self._doc_visuals(doc_to_visual, doc_id, task, split), f"{task}/{split}/{doc_id}")
            prompt = render_prompt(processor, self._clean_context(context))
            with Image.open(path) as img:
                image = img.convert("RGB")
            full = processor(images=[image], text=[prompt + continuation], return_tensors="pt")
            prefix = processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"].shape[1]
            inputs = {k: (v.to(device, dtype) if k == "pixel_values" else v.to(device)) for k, v in full.items()}
            with torch.inference_mode():
                logits = model(**inputs).logits[0, :-1].float()
            targets = inputs["input_ids"][0, 1:]
            span = slice(prefix - 1, targets.shape[0])
            logprobs = torch.log_softmax(logits[span], dim=-1)
            chosen = logprobs.gather(-1, targets[span].unsqueeze(-1)).squeeze(-1)
            greedy = bool((logprobs.argmax(dim=-1) == targets[span]).all())
            results.append((float(chosen.sum()), greedy))
        return results

    def generate_until_multi_round(self, requests) -> list[str]:
        raise ValueError("selfsynth_llava answers single-turn tasks only (generate_until, loglikelihood)")


def _truncate(text: str, until: Any) -> str:
    if not until:
        return text
    stops = [until] if isinstance(until, str) else list(until)
    cut = len(text)
    for stop in stops:
        if stop:
            pos = text.find(stop)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]
