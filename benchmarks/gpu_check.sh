#!/usr/bin/env bash
# GPU check at LLaVA-1.5-7B scale (random weights): LoRA r=128 training tokens/s + MFU on the shared
# loop, and generated tokens/s of `hf` batched vs `vllm` at 32 and 256 concurrent requests.
# Each phase runs in its own process so one engine's GPU memory never blocks the next.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]      (default runs/gpu_check; needs ~30 GB of disk)
#
# Writes OUT_DIR/gpu_check.json and OUT_DIR/benchmarks_line.md (a row for docs/benchmarks.md).
# vLLM comes from `pip install -e '.[vllm]'`; without it the vllm rows record "not installed".
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu_check}
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1
mkdir -p "$OUT"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
[ -f "$OUT/model/config.json" ] || "$PY" -m benchmarks.gpu_check build "$OUT/model"
"$PY" -m benchmarks.gpu_check train "$OUT/model" "$OUT/train.json" --steps "${TRAIN_STEPS:-30}"
for c in 32 256; do
  for engine in hf vllm; do
    "$PY" -m benchmarks.gpu_check generate "$OUT/model" "$OUT/gen-$engine-$c.json" --engine "$engine" --concurrency "$c"
  done
done
"$PY" -m benchmarks.gpu_check report "$OUT"
