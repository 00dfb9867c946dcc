"""Step 1: the base model describes every training image N times (README "Fidelity", step 1)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from selfsynth.cache import ResponseCache
from selfsynth.errors import UserError
from selfsynth.synth.config import SynthConfig
from selfsynth.synth.stage import Stage, samples_digest
from selfsynth.tasks.base import Prompts, Sample


def describe_images(
    lm: Any,
    samples: Sequence[Sample],
    prompts: Prompts,
    cfg: SynthConfig,
    cache: ResponseCache | None,
    out_dir: str | Path,
) -> dict[str, list[str]]:
    """{image id: descriptions} — ``describe_prompts`` prompts × ``describe_samples`` samples each.

    Writes ``describe.jsonl`` (one row per description: id, image, label, prompt_index, prompt,
    sample_index, text) and ``describe.stats.json``.
    """
    from selfsynth.generate import GenArgs, generate

    if len(prompts.describe) < cfg.describe_prompts:
        raise UserError(
            f"domain {prompts.domain!r} has {len(prompts.describe)} describe prompts, synth.describe_prompts asks for {cfg.describe_prompts}"
        )
    used = list(prompts.describe[: cfg.describe_prompts])
    args = GenArgs(
        max_new_tokens=cfg.describe_max_new_tokens, temperature=cfg.describe_temperature,
        top_p=cfg.describe_top_p, num_samples=cfg.describe_samples, seed=cfg.draw_seed,
    )
    stage = Stage(out_dir, "describe", {
        "model": lm.fingerprint, "samples": samples_digest(samples), "prompts": used, "gen": asdict(args),
        "engine": lm.engine,
    })
    if not stage.done():
        requests = [(s.image_path, p) for s in samples for p in used]
        outputs = generate(lm, requests, args, cache=cache, batch_size=cfg.batch_size, desc="describe images")
        rows = []
        for r, texts in enumerate(outputs):
            sample = samples[r // len(used)]
            for k, text in enumerate(texts):
                rows.append({
                    "id": sample.id, "image": sample.image_path, "label": sample.label,
                    "prompt_index": r % len(used), "prompt": used[r % len(used)], "sample_index": k, "text": text,
                })
        lengths = [len(row["text"]) for row in rows]
        stage.finish(rows, {
            "images": len(samples),
            "descriptions": len(rows),
            "descriptions_per_image": len(used) * cfg.describe_samples,
            "empty": sum(1 for n in lengths if n == 0),
            "distinct_share": (len({(r["id"], r["text"]) for r in rows}) / len(rows)) if rows else 0.0,
            "mean_chars": (sum(lengths) / len(lengths)) if lengths else 0.0,
        })
    descriptions: dict[str, list[str]] = {s.id: [] for s in samples}
    for row in stage.load():
        descriptions[row["id"]].append(row["text"])
    return descriptions
