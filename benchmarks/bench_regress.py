"""Benchmark of the regression gate's memory (`selfsynth regress`) at PLD scale and beyond.

Writes two evaluation folders of ``--n`` samples each (default 50,000; PLD's test split has
47,523 images) with answers of realistic length (~1,000 characters, a 256-token answer), then
runs the gate in a fresh process and reports its peak resident memory above what the process held
after importing numpy and scipy. The target: at most 300 MB extra. Prints one JSON object and
exits 1 when the target is missed.

    python benchmarks/bench_regress.py [--n 50000 --answer-chars 1000]
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 300

CHILD = r"""
import json, resource, sys, time
import numpy, scipy.stats  # the baseline includes the libraries the gate always imports
from selfsynth.reports.regress import compare, load_evaluation

def rss_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

before = rss_mb()
start = time.perf_counter()
report = compare(load_evaluation(sys.argv[1]), load_evaluation(sys.argv[2]), max_drop="0.01")
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({"rss_before_mb": before, "peak_mb": peak, "seconds": seconds, "verdict": report["verdict"],
                  "n": report["n"], "lost": report["lost"], "gained": report["gained"]}))
"""


def write_evaluation(folder: Path, n: int, answer_chars: int, accuracy: float, seed: int) -> None:
    rng = random.Random(seed)
    words = "the bird has a red crown white wing bars and a short conical beak with dark eye ring".split()
    folder.mkdir(parents=True)
    with open(folder / "records.jsonl", "w", encoding="utf-8") as handle:
        for i in range(n):
            answer = " ".join(rng.choice(words) for _ in range(answer_chars // 5))[:answer_chars]
            hit = rng.random() < accuracy
            record = {"id": f"img{i:06d}", "label": f"class {i % 37}", "question": "What is the specific name of this leaf?",
                      "answer": answer, "match": hit, "paper_match": hit}
            handle.write(json.dumps(record) + "\n")
    metrics = {"task": "pld", "split": "test", "limit": None, "seed": 0, "question": "q", "prompts_hash": "p",
               "generation": {"max_new_tokens": 256, "temperature": 0.0}, "model_fingerprint": folder.name}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="samples per evaluation")
    parser.add_argument("--answer-chars", type=int, default=1000, help="length of each recorded answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_regress_") as tmp:
        base, cand = Path(tmp) / "base", Path(tmp) / "cand"
        write_evaluation(base, args.n, args.answer_chars, 0.80, seed=0)
        write_evaluation(cand, args.n, args.answer_chars, 0.80, seed=1)
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*")) / 2**20
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(base), str(cand)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        child = json.loads(proc.stdout)
    extra = child["peak_mb"] - child["rss_before_mb"]
    result = {
        "benchmark": "regress_memory",
        "n_per_evaluation": args.n,
        "answer_chars": args.answer_chars,
        "records_on_disk_mb": round(size_mb, 1),
        "extra_peak_rss_mb": round(extra, 1),
        "target_mb": TARGET_MB,
        "compare_seconds": round(child["seconds"], 2),
        "process_seconds": round(time.perf_counter() - started, 2),
        "verdict": child["verdict"],
    }
    print(json.dumps(result))
    return 0 if extra <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
