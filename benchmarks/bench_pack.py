"""Image-packed vs one-row-per-sequence training on the toy model, in one run.

    python -m benchmarks.bench_pack [--images 16] [--questions 8] [--cache-dir DIR]

Both sides train the same LoRA from the same seed on the same QA rows (``--questions`` per image,
as step 3 writes them) for one epoch, with the same number of QA rows per optimizer step. Prints
one JSON object: QA rows per second each way and ``speedup`` (packed / unpacked), the tokens each
way, and what the same rows would cost with LLaVA-1.5's 576 image tokens per image (computed from
the measured text lengths, not timed).
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
from pathlib import Path

LLAVA15_IMAGE_TOKENS = 576


def _rows(dataset_root: str, images: int, questions: int) -> list[dict]:
    from selfsynth.io import read_jsonl
    from selfsynth.tasks.prompts import load_prompts

    prompts = load_prompts("toy")
    pool = list(prompts.simple) + list(prompts.explain) + list(prompts.cot)
    rng = random.Random(0)
    rows = []
    for row in read_jsonl(f"{dataset_root}/train.jsonl")[:images]:
        seen = row["visible_concepts"]
        for q, question in enumerate(rng.sample(pool, questions)):
            answer = f"This is a {row['label']}. It has {', '.join(seen[: 1 + q % 3])}."
            rows.append({"id": f"{row['id']}-{q}", "image": f"{dataset_root}/{row['image']}", "question": question, "answer": answer})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--questions", type=int, default=8, help="QA rows per image (paper: 8)")
    parser.add_argument("--rows-per-step", type=int, default=16, help="QA rows per optimizer step, both ways")
    parser.add_argument("--cache-dir", default=None, help="toy world cache folder (default: <checkout>/.cache/toy when running from a source checkout, else ~/.cache/selfsynth/toy)")
    args = parser.parse_args(argv)
    if args.rows_per_step % args.questions:
        raise SystemExit("--rows-per-step must be a multiple of --questions (whole images per packed step)")

    import torch
    from transformers import AutoProcessor

    from selfsynth.toy import ensure_toy_world
    from selfsynth.train import AnswerOnlyCollator, TrainConfig, pack_by_image, train

    world = ensure_toy_world(args.cache_dir)
    rows = _rows(world.dataset_root, args.images, args.questions)
    collate = AnswerOnlyCollator(AutoProcessor.from_pretrained(world.model_path))
    image_tokens = int((collate([rows[0]])["input_ids"][0] == collate.image_token_id).sum())
    lora = dict(lora_r=16, lora_alpha=32, learning_rate=1e-3, epochs=1.0, seed=0)
    seconds, tokens, llava_tokens, losses = {}, {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_pack_") as tmp:
        train(world.model_path, rows[: args.rows_per_step], Path(tmp) / "warmup",
              TrainConfig(per_device_batch_size=args.rows_per_step, max_steps=1, **lora))
        for name, packed in (("unpacked", False), ("packed", True)):
            items = pack_by_image(rows) if packed else rows
            per_step = args.rows_per_step // args.questions if packed else args.rows_per_step
            cfg = TrainConfig(pack_questions=packed, per_device_batch_size=per_step, **lora)
            result = train(world.model_path, rows, Path(tmp) / name, cfg)
            seconds[name] = result.seconds
            losses[name] = result.final_loss
            lengths = [int(collate([item])["attention_mask"].sum()) for item in items]
            tokens[name] = sum(lengths)
            llava_tokens[name] = sum(n - image_tokens + LLAVA15_IMAGE_TOKENS for n in lengths)
    result = {
        "benchmark": "train_packed_vs_unpacked",
        "images": args.images,
        "qa_rows": len(rows),
        "rows_per_step": args.rows_per_step,
        "toy_image_tokens": image_tokens,
        "seconds_unpacked": round(seconds["unpacked"], 3),
        "seconds_packed": round(seconds["packed"], 3),
        "rows_per_s_unpacked": round(len(rows) / seconds["unpacked"], 2),
        "rows_per_s_packed": round(len(rows) / seconds["packed"], 2),
        "speedup": round(seconds["unpacked"] / seconds["packed"], 2),
        "tokens_unpacked": tokens["unpacked"],
        "tokens_packed": tokens["packed"],
        "token_ratio": round(tokens["unpacked"] / tokens["packed"], 2),
        "llava15_token_ratio_computed": round(llava_tokens["unpacked"] / llava_tokens["packed"], 2),
        "final_loss_unpacked": round(losses["unpacked"], 4),
        "final_loss_packed": round(losses["packed"], 4),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
