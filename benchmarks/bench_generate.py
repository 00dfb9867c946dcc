"""Batched vs one-at-a-time generation on the toy model, in one run.

    python -m benchmarks.bench_generate [--requests 48] [--batch-size 16] [--cache-dir DIR]

Prints one JSON object: seconds for batch size 1 and for ``--batch-size``, tokens generated, and
``speedup`` (batch-1 seconds / batched seconds). Greedy decoding, no response cache, so both
sides do the same work; both outputs are checked to be identical before timing is reported.
"""
from __future__ import annotations

import argparse
import json
import platform
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="test images described per setting")
    parser.add_argument("--batch-size", type=int, default=16, help="the batched setting")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--cache-dir", default=None, help="toy world cache folder (default: <checkout>/.cache/toy when running from a source checkout, else ~/.cache/selfsynth/toy)")
    parser.add_argument("--world", default=None, help="an already built toy world folder (holding model/ and dataset/) instead of the cache")
    args = parser.parse_args(argv)

    import torch

    from selfsynth.generate import GenArgs, generate
    from selfsynth.io import read_jsonl
    from selfsynth.models import load_model
    from selfsynth.toy import ensure_toy_world

    if args.world:
        model_path, dataset_root = f"{args.world}/model", f"{args.world}/dataset"
    else:
        world = ensure_toy_world(args.cache_dir)
        model_path, dataset_root = world.model_path, world.dataset_root
    lm = load_model(model_path)
    rows = read_jsonl(f"{dataset_root}/test.jsonl")
    rows = (rows * (args.requests // len(rows) + 1))[: args.requests]
    requests = [(f"{dataset_root}/{r['image']}", "Describe the bird in the image.") for r in rows]
    gen = GenArgs(max_new_tokens=args.max_new_tokens)
    generate(lm, requests[:4], gen, batch_size=4)  # warm-up (allocator, lazy init)
    timings, outputs = {}, {}
    for bs in (1, args.batch_size):
        start = time.perf_counter()
        outputs[bs] = generate(lm, requests, gen, batch_size=bs)
        timings[bs] = time.perf_counter() - start
    tokens = sum(len(lm.processor.tokenizer(o[0])["input_ids"]) for o in outputs[1])
    result = {
        "benchmark": "generate_batched_vs_single",
        "requests": args.requests,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "seconds_batch_1": round(timings[1], 3),
        f"seconds_batch_{args.batch_size}": round(timings[args.batch_size], 3),
        "speedup": round(timings[1] / timings[args.batch_size], 2),
        "answer_tokens": tokens,
        "same_answers": outputs[1] == outputs[args.batch_size],
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
