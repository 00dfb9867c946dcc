"""GPU check at LLaVA-1.5-7B scale, on a randomly initialised model of that shape (no download).

    bash benchmarks/gpu_check.sh [OUT_DIR]        # all phases, each in its own process
    python -m benchmarks.gpu_check build OUT_DIR/model
    python -m benchmarks.gpu_check train OUT_DIR/model OUT_DIR/train.json [--steps 30]
    python -m benchmarks.gpu_check generate OUT_DIR/model OUT_DIR/gen-hf-32.json --engine hf --concurrency 32
    python -m benchmarks.gpu_check report OUT_DIR      # OUT_DIR/gpu_check.json + the markdown line

- ``build``: LLaVA-1.5-7B's configuration (CLIP ViT-L/14 at 336 px, 576 image tokens, Llama 7B:
  4096 wide, 32 layers, vocabulary 32064), random weights in bf16, saved in the hub layout with a
  word-level tokenizer of 32064 entries (every id decodes) and a llava-1.5 chat template.
- ``train``: the shared loop (``selfsynth.train``) with the paper's LoRA (r=128, alpha=256, on
  the language model's linear layers, projector trained fully) in bf16 on synthetic rows; reports
  training tokens/s and model-FLOPs utilisation = 6 * N * tokens/s / peak, where N counts the
  language model and projector parameters and tokens are the language model's sequence tokens
  (image tokens included). The frozen base skips weight gradients, so the FLOPs actually run are
  nearer 4 * N * tokens; ``mfu_4n`` reports that view too.
- ``generate``: ``selfsynth.generate`` with ``--generate.engine hf`` (one batch of ``concurrency``
  requests) or ``vllm`` (``concurrency`` requests in flight), greedy, 128 new tokens; reports
  generated tokens/s (answers re-tokenised).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

VOCAB = 32064
IMAGE_SIZE, PATCH = 336, 14
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
# peak dense bf16 tensor FLOP/s by device name (vendor data sheets, SXM parts)
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "L4": 121e12}
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{%- if not loop.first %} {% endif -%}{{ 'USER: ' }}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- else -%}{{ ' ASSISTANT: ' }}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}{{ eos_token }}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ ' ASSISTANT:' }}{%- endif -%}"
)


def _words(rng, n: int) -> str:
    return " ".join(f"w{rng.randrange(VOCAB - len(SPECIALS))}" for _ in range(n))


def build(out: Path, tiny: bool = False) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    from selfsynth.models import save_model

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    vocab.update({f"w{i}": len(SPECIALS) + i for i in range(VOCAB - len(SPECIALS))})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", extra_special_tokens={"image_token": "<image>"}, model_max_length=4096)
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE, num_additional_image_tokens=1)
    # --tiny: the same code path at toy width and depth, for a smoke test of this script on a CPU
    width, depth, heads = (64, 2, 4) if tiny else (1024, 24, 16)
    vision = CLIPVisionConfig(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=depth, num_attention_heads=heads,
                              image_size=IMAGE_SIZE, patch_size=PATCH, projection_dim=768, hidden_act="quick_gelu")
    width, mlp, depth, heads = (128, 256, 2, 4) if tiny else (4096, 11008, 32, 32)
    text = LlamaConfig(vocab_size=VOCAB, hidden_size=width, intermediate_size=mlp, num_hidden_layers=depth,
                       num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=4096, rms_norm_eps=1e-5,
                       bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=4, image_seq_length=(IMAGE_SIZE // PATCH) ** 2,
                         vision_feature_select_strategy="default", vision_feature_layer=-2, tie_word_embeddings=False)
    config.pad_token_id = 3
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # built in bf16: never a 28 GB fp32 copy
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlavaForConditionalGeneration(config)
    torch.set_default_dtype(torch.float32)
    save_model(model, processor, out)


def _images(folder: Path, n: int) -> list[str]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i:04d}.png"
        if not path.is_file():
            Image.fromarray(rng.integers(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _peak(name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def train_phase(model: Path, out: Path, steps: int, batch: int, peak_tflops: float | None) -> None:
    import random

    import torch
    from transformers import AutoProcessor

    from selfsynth.train import AnswerOnlyCollator, TrainConfig, train

    rng = random.Random(0)
    images = _images(model.parent / "images", 64)
    rows = [{"id": str(i), "image": images[i % len(images)], "question": _words(rng, 20), "answer": _words(rng, 100)}
            for i in range(steps * batch)]
    collate = AnswerOnlyCollator(AutoProcessor.from_pretrained(model))
    tokens = sum(int(collate([row])["attention_mask"].sum()) for row in rows)
    cfg = TrainConfig(lora_r=128, lora_alpha=256, per_device_batch_size=batch, epochs=1.0, bf16="true", learning_rate=1e-5)
    result = train(model, rows, model.parent / "adapter", cfg)
    counts = _param_counts(model)
    tps = tokens / result.seconds
    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = _peak(name, peak_tflops)
    out.write_text(json.dumps({
        "phase": "train", "device": name, "steps": result.steps, "rows": len(rows), "batch": batch, "tokens": tokens,
        "seconds": round(result.seconds, 2), "tokens_per_s": round(tps, 1), **counts,
        "peak_flops": peak, "mfu": round(6 * counts["n_lm"] * tps / peak, 4) if peak else None,
        "mfu_4n": round(4 * counts["n_lm"] * tps / peak, 4) if peak else None,
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if torch.cuda.is_available() else None,
    }, indent=2))


def _param_counts(model: Path) -> dict[str, int]:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    with torch.device("meta"):
        net = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(model))
    total = sum(p.numel() for p in net.parameters())
    vision = sum(p.numel() for n, p in net.named_parameters() if "vision_tower" in n)
    return {"n_total": total, "n_lm": total - vision}


def generate_phase(model: Path, out: Path, engine: str, concurrency: int, max_new_tokens: int) -> None:
    import random

    from selfsynth.generate import GenArgs, GenerateConfig, generate, load_generator

    rng = random.Random(1)
    images = _images(model.parent / "images", 64)
    requests = [(images[i % len(images)], _words(rng, 30)) for i in range(concurrency)]
    record: dict = {"phase": "generate", "engine": engine, "concurrency": concurrency, "max_new_tokens": max_new_tokens}
    try:
        start = time.perf_counter()
        lm = load_generator(model, GenerateConfig(engine=engine, vllm_max_num_seqs=max(256, concurrency)))
        record["load_seconds"] = round(time.perf_counter() - start, 1)
        args = GenArgs(max_new_tokens=max_new_tokens)
        generate(lm, requests[:8], args, batch_size=8)  # warm-up
        start = time.perf_counter()
        answers = generate(lm, requests, args, batch_size=concurrency)
        seconds = time.perf_counter() - start
        tokenizer = lm.processor.tokenizer
        tokens = sum(len(tokenizer(a[0], add_special_tokens=False)["input_ids"]) for a in answers)
        record.update(seconds=round(seconds, 2), tokens=tokens, tokens_per_s=round(tokens / seconds, 1),
                      device_memory_used_gib=_device_memory_used_gib())
        lm.close()
    except Exception as exc:  # recorded (e.g. out of memory at 256 in one hf batch, vllm not installed)
        record["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out.write_text(json.dumps(record, indent=2))


def _device_memory_used_gib() -> float | None:
    """GPU memory in use on the device now (vLLM's engine runs in its own process, so this process's
    allocator statistics would miss it): weights + KV cache + activations of either engine."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**30, 1)


# CUB-200-2011 at the paper's settings (configs/paper/cub200.yaml): the work of one iteration
CUB = {"train_images": 5994, "test_images": 5794, "describe": 3 * 10, "describe_tokens": 256, "rewrite": 8, "rewrite_tokens": 128,
       "reject": 8 * 3, "reject_tokens": 196, "eval_tokens": 256, "qa_per_image": 8, "general_mix": 2, "epochs": 2}


def extrapolate_cub(train: dict, gen: dict) -> dict | None:
    """Hours per iteration on CUB at the paper's settings from the measured rates: generated tokens
    at every answer's max_new_tokens (an upper bound: answers stop at EOS earlier) over the faster
    engine's tokens/s at 256 concurrent requests, and training tokens (8 QA rows per image kept, 1:1
    general mix, 2 epochs, each row as long as the check's rows) over training tokens/s."""
    rates = [rec["tokens_per_s"] for key, rec in gen.items() if key.endswith("-256") and "tokens_per_s" in rec]
    if not rates or "tokens_per_s" not in train:
        return None
    gen_tps, c = max(rates), CUB
    row_tokens = train["tokens"] / train["rows"]
    eval_tokens = c["test_images"] * c["eval_tokens"]
    first = c["train_images"] * (c["describe"] * c["describe_tokens"] + c["rewrite"] * c["rewrite_tokens"]) + eval_tokens
    later = c["train_images"] * c["reject"] * c["reject_tokens"] + eval_tokens
    train_tokens = c["train_images"] * c["qa_per_image"] * c["general_mix"] * c["epochs"] * row_tokens
    train_h = train_tokens / train["tokens_per_s"] / 3600
    return {
        "generation_tokens_per_s_used": gen_tps, "train_tokens_per_row": round(row_tokens, 1),
        "iteration_1": {"generate_h": round(first / gen_tps / 3600, 2), "train_h": round(train_h, 2),
                        "total_h": round(first / gen_tps / 3600 + train_h, 2)},
        "iteration_2_plus": {"generate_h": round(later / gen_tps / 3600, 2), "train_h": round(train_h, 2),
                             "total_h": round(later / gen_tps / 3600 + train_h, 2)},
    }


def report(folder: Path) -> None:
    parts = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.stem != "gpu_check"}
    train = parts.get("train", {})
    gen = {k: v for k, v in parts.items() if k.startswith("gen-")}

    def tps(key: str) -> str:
        rec = gen.get(key, {})
        return f"{rec['tokens_per_s']:.0f}" if "tokens_per_s" in rec else f"n/a ({rec.get('error', 'not run')[:60]})"

    ratios = {}
    for c in (32, 256):
        hf, vl = gen.get(f"gen-hf-{c}", {}), gen.get(f"gen-vllm-{c}", {})
        if "tokens_per_s" in hf and "tokens_per_s" in vl:
            ratios[c] = round(vl["tokens_per_s"] / hf["tokens_per_s"], 1)
    cub = extrapolate_cub(train, gen)
    summary = {"train": train, "generate": gen, "vllm_over_hf": ratios, "cub_hours_per_iteration": cub}
    (folder / "gpu_check.json").write_text(json.dumps(summary, indent=2))
    mfu = f"{100 * train['mfu']:.1f}%" if train.get("mfu") is not None else "n/a"
    cub_text = f"{cub['iteration_1']['total_h']} / {cub['iteration_2_plus']['total_h']}" if cub else "n/a"
    line = (
        f"| {time.strftime('%Y-%m-%d')} | {train.get('device', '?')} | LLaVA-1.5-7B shape, random init, bf16 | "
        f"LoRA r=128 train: {train.get('tokens_per_s', 'n/a')} tok/s, MFU(6N) {mfu} | "
        f"generate tok/s hf/vllm @32: {tps('gen-hf-32')}/{tps('gen-vllm-32')}, @256: {tps('gen-hf-256')}/{tps('gen-vllm-256')} | "
        f"vllm/hf: {ratios or 'n/a'} | peak train memory {train.get('max_memory_gib', 'n/a')} GiB | "
        f"CUB h/iteration (1st / later): {cub_text} |"
    )
    (folder / "benchmarks_line.md").write_text(line + "\n")
    print(json.dumps(summary, indent=2))
    print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="phase", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    b.add_argument("--tiny", action="store_true", help="toy width and depth: a CPU smoke test of this script, not a measurement")
    t = sub.add_parser("train")
    t.add_argument("model", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--steps", type=int, default=30)
    t.add_argument("--batch", type=int, default=8, help="rows per step (the paper's global batch is 32: 8 x 4 accumulation)")
    t.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s of the GPU when its name is not in the table")
    g = sub.add_parser("generate")
    g.add_argument("model", type=Path)
    g.add_argument("out", type=Path)
    g.add_argument("--engine", choices=["hf", "vllm"], required=True)
    g.add_argument("--concurrency", type=int, required=True)
    g.add_argument("--max-new-tokens", type=int, default=128)
    r = sub.add_parser("report")
    r.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.phase == "build":
        build(args.out, args.tiny)
    elif args.phase == "train":
        train_phase(args.model, args.out, args.steps, args.batch, args.peak_tflops)
    elif args.phase == "generate":
        generate_phase(args.model, args.out, args.engine, args.concurrency, args.max_new_tokens)
    else:
        report(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
