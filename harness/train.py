"""The ONE training loop every method uses: supervised fine-tuning of a LLaVA-style model on
(image, question, answer) rows with the transformers ``Trainer``.

What it does (README "Fidelity", rows "train"):
- LoRA on the language model's linear layers only (``lora_targets``), the multimodal projector
  trained fully, the vision tower frozen; ``train_lm_head`` also trains the output layer (needed
  when the answers contain words the tokenizer never saw, as the toy class names).
  ``full_finetune`` trains every weight instead (used to pre-train the toy model).
- Loss on the answer tokens and the EOS only: prompt, image tokens and padding are -100.
  Training batches are right-padded; generation (selfsynth.generate) pads on the left.
- Optional 1:1 mixing with general instruction rows (``general_data``) and image augmentation
  (``augment``: ``paper`` is the released set, ``selfsynth.augment``).
- ``global_batch_size`` (paper: 32), when set, must equal per-device batch × accumulation ×
  devices; training refuses to start otherwise (``check_global_batch``).
- Writes the adapter (or the full model) with the processor atomically into ``out_dir``, plus
  ``loss_log.jsonl`` (one row per optimizer step) and ``train_result.json``.

Precision: ``bf16="auto"`` uses bf16 autocast on GPUs that support it, and also on CPU, where it
measured 1.35-1.55x faster than fp32 for the toy model (weights stay fp32 either way, so merged
checkpoints are fp32 on CPU). ``"true"``/``"false"`` force it.

Scale-out: run the calling command under ``accelerate launch`` and the Trainer runs data-parallel
(DDP; gloo on CPU, NCCL on GPUs), each rank taking a shard of every batch; only rank 0 writes
``out_dir``. For models that do not fit one GPU, pass a DeepSpeed JSON config (``deepspeed``,
e.g. ZeRO-2/3) or FSDP options (``fsdp="full_shard auto_wrap"``); both are handed to
``TrainingArguments`` unchanged, so the usual accelerate/DeepSpeed/FSDP documentation applies.
``gradient_checkpointing`` trades compute for memory (7B LoRA on one 80 GB GPU fits without it).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from selfsynth.config import check_fields, field
from selfsynth.errors import UserError
from selfsynth.io import read_jsonl, write_json, write_jsonl
from selfsynth.tracking import REPORT_TO_HELP, ReportTo, default_report_to

LM_LINEAR_LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    lora_r: int = field(128, help="LoRA rank", ge=1)
    lora_alpha: int = field(256, help="LoRA scaling numerator (alpha / r scales the update)", gt=0)
    lora_dropout: float = field(0.05, help="dropout on the LoRA input", ge=0, lt=1)
    lora_targets: list[str] = field(default_factory=lambda: list(LM_LINEAR_LAYERS), help="names of the language model's linear layers that get LoRA (the vision tower never does)")
    train_lm_head: bool = field(False, help="also train the output layer fully (needed for words the tokenizer never saw)")
    full_finetune: bool = field(False, help="train every weight instead of LoRA (toy pre-training)")
    learning_rate: float = field(1e-5, help="peak learning rate", gt=0)
    epochs: float = field(2.0, help="passes over the (mixed) training rows", gt=0)
    warmup_ratio: float = field(0.05, help="share of steps with linear warmup", ge=0, le=1)
    lr_scheduler: str = field("linear", help="transformers scheduler name: linear, cosine, constant_with_warmup, ...")
    per_device_batch_size: int = field(4, help="rows per device per micro-batch", ge=1)
    grad_accum: int = field(1, help="micro-batches per optimizer step", ge=1)
    global_batch_size: int | None = field(
        None, help="rows per optimizer step over all devices (per_device_batch_size × grad_accum × devices); when set, training refuses to start if the product differs (paper: 32)", ge=1,
    )
    gradient_checkpointing: bool = field(False, help="recompute activations to save memory")
    general_data: str | None = field(None, help="JSONL of general {image, question, answer} rows mixed 1:1 with the task rows")
    augment: Literal["none", "light", "paper"] = field(
        "none", help="image augmentation: none, light (random resized crop, mild colour jitter) or paper (per image 1-4 random ops of the published set: flips, rotation ±30°, colour jitter 0.4, affine, blur, perspective)"
    )
    pack_questions: bool = field(False, help="one multi-turn sequence per image holding all its QA rows, so the image is encoded once (off in the paper configs; per_device_batch_size then counts images)")
    bf16: Literal["auto", "true", "false"] = field("auto", help="bf16 autocast: auto (GPU with bf16, and CPU where it is faster), true, false")
    seed: int = field(0, help="seed for initialisation of LoRA weights, shuffling and augmentation")
    max_steps: int | None = field(None, help="stop after this many optimizer steps (overrides epochs)", ge=1)
    weight_decay: float = field(0.0, help="AdamW weight decay", ge=0)
    max_grad_norm: float = field(1.0, help="gradient clipping norm", gt=0)
    deepspeed: str | None = field(None, help="DeepSpeed JSON config path, handed to TrainingArguments")
    fsdp: str | None = field(None, help="FSDP options string, handed to TrainingArguments")
    report_to: ReportTo | None = field(None, help=REPORT_TO_HELP)

    def __post_init__(self) -> None:
        if self.report_to is None:  # resolved now, so the written config says what was used
            self.report_to = default_report_to()
        check_fields(self)
        if not self.full_finetune and not self.lora_targets:
            raise ValueError("lora_targets is empty: name at least one linear layer for LoRA (or set full_finetune)")


@dataclass
class TrainResult:
    out_dir: str  # the adapter folder (LoRA) or full model folder
    kind: str  # "adapter" or "full"
    steps: int
    num_rows: int  # rows trained on per epoch, after mixing
    first_loss: float
    final_loss: float
    losses: list[float]  # per optimizer step
    seconds: float


def _image_path(row: dict, base: Path | None, source: str) -> str:
    image = row.get("image")
    if not isinstance(image, str) or not image:
        raise UserError(f"{source}: row {row.get('id')!r} has no 'image' path")
    path = Path(image)
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def _check_rows(rows: Sequence[dict], source: str, base: Path | None = None) -> list[dict]:
    out = []
    for row in rows:
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str):
                raise UserError(f"{source}: row {row.get('id')!r} needs a string {key!r}")
        out.append({"id": row.get("id"), "image": _image_path(row, base, source), "question": row["question"], "answer": row["answer"]})
    return out


def mix_general(examples: list[dict], general_path: str | os.PathLike, seed: int) -> list[dict]:
    """Task rows plus as many general rows (drawn without replacement while they last)."""
    path = Path(general_path)
    if not path.is_file():
        raise UserError(f"general_data {path}: file not found (expected JSONL of image/question/answer rows)")
    general = _check_rows(read_jsonl(path), str(path), base=path.parent)
    if not general:
        raise UserError(f"general_data {path}: no rows")
    rng = random.Random(f"general-mix:{seed}")
    picked: list[dict] = []
    while len(picked) < len(examples):
        pool = list(general)
        rng.shuffle(pool)
        picked.extend(pool[: len(examples) - len(picked)])
    return examples + picked


def pack_by_image(rows: Sequence[dict]) -> list[list[dict]]:
    """Rows grouped by image, in order of each image's first row: one training sequence per image."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["image"], []).append(row)
    return list(groups.values())


def check_global_batch(cfg: TrainConfig, world_size: int) -> None:
    """UserError when ``cfg.global_batch_size`` is set and differs from per-device batch ×
    accumulation × ``world_size`` (before any model loads)."""
    if cfg.global_batch_size is None:
        return
    got = cfg.per_device_batch_size * cfg.grad_accum * world_size
    if got != cfg.global_batch_size:
        raise UserError(
            f"train.global_batch_size {cfg.global_batch_size}: per_device_batch_size {cfg.per_device_batch_size} × "
            f"grad_accum {cfg.grad_accum} × {world_size} device(s) = {got}; change --train.per_device_batch_size "
            "or --train.grad_accum so the product matches"
        )


class AnswerOnlyCollator:
    """Training items → a right-padded batch whose labels keep only the answer tokens and EOS.

    An item is one row ``{"image","question","answer"}`` or a list of rows of ONE image (image
    packing, ``TrainConfig.pack_questions``). A row's answer is appended to the model's own chat
    prompt (``render_prompt``) as ``prompt + " " + answer + eos``. A packed item continues that text
    turn by turn as LLaVA-1.5's multi-turn training data does (``...a1</s>USER: q2 ASSISTANT: a2</s>``),
    with the chat template's own text for each later user turn, so the image is encoded once and
    every answer (+ EOS) carries loss. Token boundaries come from tokenizing the text up to each
    boundary, after checking that it is an exact token prefix of the full text."""

    def __init__(self, processor: Any, augment: str = "none"):
        from selfsynth.models import render_prompt

        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.render_prompt = render_prompt
        self.augment = augment
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(getattr(processor, "image_token", "<image>"))
        from selfsynth.augment import augmentation

        self._transform = augmentation(augment, processor.image_processor.crop_size["height"])

    def _image(self, path: str) -> Any:
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read training image ({exc})") from None
        return self._transform(img) if self._transform is not None else img

    def _next_user_turn(self, history: list[dict], question: str) -> str:
        """The chat template's text for a later (image-free) user turn, up to where its answer starts."""
        before = self.processor.apply_chat_template(history, tokenize=False)
        after = self.processor.apply_chat_template(
            history + [{"role": "user", "content": [{"type": "text", "text": question}]}], add_generation_prompt=True, tokenize=False,
        )
        if not after.startswith(before):
            raise UserError("pack_questions: the chat template does not render a conversation as a prefix of its continuation")
        return after[len(before):]

    def _text(self, rows: Sequence[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The sequence text and the character spans of each answer + EOS in it."""
        eos = self.tokenizer.eos_token
        text, spans, history = "", [], []
        for k, row in enumerate(rows):
            question, answer = row["question"], row["answer"].strip()
            if k == 0:
                text = self.render_prompt(self.processor, question)
                history.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
            else:
                text += self._next_user_turn(history, question)
                history.append({"role": "user", "content": [{"type": "text", "text": question}]})
            history.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
            begin = len(text)
            text += f" {answer}{eos}"
            spans.append((begin, len(text)))
        return text, spans

    def __call__(self, items: Sequence[dict | Sequence[dict]]) -> dict[str, Any]:
        import torch

        groups = [[item] if isinstance(item, dict) else list(item) for item in items]
        texts, spans = zip(*(self._text(rows) for rows in groups))
        images = [self._image(rows[0]["image"]) for rows in groups]
        batch = self.processor(images=images, text=list(texts), padding=True, padding_side="right", return_tensors="pt")
        labels = torch.full_like(batch["input_ids"], -100)
        for i, (rows, text) in enumerate(zip(groups, texts)):
            full_ids = self.tokenizer(text)["input_ids"]
            # the processor expanded the one <image> into the image's patch tokens
            shift = int((batch["input_ids"][i] == self.image_token_id).sum()) - full_ids.count(self.image_token_id)
            for begin, end in spans[i]:
                start_ids = self.tokenizer(text[:begin])["input_ids"]
                end_ids = self.tokenizer(text[:end])["input_ids"]
                if full_ids[: len(start_ids)] != start_ids or full_ids[: len(end_ids)] != end_ids:
                    raise UserError(f"row {rows[0].get('id')!r}: the prompt does not tokenize as a prefix of prompt + answer")
                labels[i, len(start_ids) + shift : len(end_ids) + shift] = batch["input_ids"][i, len(start_ids) + shift : len(end_ids) + shift]
        batch["labels"] = labels
        return batch


def _use_bf16(setting: str) -> bool:
    import torch

    if setting != "auto":  # TrainConfig checked it is one of auto, true, false
        return setting == "true"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return True


def _lora_target_regex(targets: Sequence[str]) -> str:
    names = "|".join(sorted(set(targets)))
    # language model layers only: LLaVA's CLIP tower has q_proj/k_proj/... of its own
    return rf"^(?!.*vision_tower).*language_model.*\.({names})$"


def _prepare_model(model_path: Path, cfg: TrainConfig, on_gpu: bool) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText

    # LoRA on GPU keeps frozen weights in bf16 to halve memory; full fine-tuning keeps fp32 masters
    dtype = torch.bfloat16 if (on_gpu and not cfg.full_finetune and _use_bf16(cfg.bf16)) else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if not on_gpu:
        kwargs["attn_implementation"] = "eager"  # measured ~25% faster than sdpa on CPU
    model = AutoModelForImageTextToText.from_pretrained(model_path, **kwargs)
    if cfg.full_finetune:
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    modules_to_save = ["multi_modal_projector"] + (["lm_head"] if cfg.train_lm_head else [])
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=_lora_target_regex(cfg.lora_targets),
        modules_to_save=modules_to_save,
        bias="none",
    )
    if cfg.gradient_checkpointing:
        model.enable_input_require_grads()
    return get_peft_model(model, lora)


def train(model_path: str | os.PathLike, examples: Sequence[dict], out_dir: str | os.PathLike, cfg: TrainConfig | None = None,
          desc: str = "train", log_dir: str | os.PathLike | None = None, tracker_run: Any = None) -> TrainResult:
    """Fine-tune ``model_path`` on ``examples`` ({"id","image","question","answer"}); see the module doc.
    ``desc`` titles the progress bar; the Trainer's per-step log dictionaries go to the
    ``selfsynth.train`` logger (a run's log file), not the terminal. ``log_dir`` is where
    ``cfg.report_to="tensorboard"`` writes its event files (none are written without it);
    ``tracker_run`` a wandb run the curves go to (``RunTracker.training``'s; without it the
    Trainer's own callback starts one)."""
    import logging

    import torch
    from transformers import AutoProcessor, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from selfsynth.models import atomic_dir, distributed_state, resolve_path
    from selfsynth.tracking import trainer_callbacks, trainer_report_to

    cfg = cfg or TrainConfig()
    check_global_batch(cfg, distributed_state().num_processes)
    base = resolve_path(model_path)
    rows = _check_rows(list(examples), "training examples")
    if not rows:
        raise UserError("training examples: empty list")
    if cfg.general_data:
        rows = mix_general(rows, cfg.general_data, cfg.seed)
    out = Path(out_dir)
    on_gpu = torch.cuda.is_available()
    processor = AutoProcessor.from_pretrained(base)
    torch.manual_seed(cfg.seed)  # LoRA init
    model = _prepare_model(base, cfg, on_gpu)

    step_log: list[dict] = []

    class _LossLog(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                step_log.append({"step": state.global_step, "loss": float(logs["loss"]), "learning_rate": float(logs.get("learning_rate", 0.0))})
            if logs and state.is_world_process_zero:
                logging.getLogger("selfsynth.train").info("%s step %d: %s", desc, state.global_step, logs)

    class _TitledProgress(ProgressCallback):
        """The Trainer's bar with a title and rows/s; its log dictionaries are not printed."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            super().on_train_begin(args, state, control, **kwargs)
            if self.training_bar is not None:
                self.training_bar.set_description(desc)
                self.training_bar.unit = "step"

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            super().on_step_end(args, state, control, **kwargs)
            if self.training_bar is not None:
                rate = self.training_bar.format_dict.get("rate")
                if rate:
                    rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
                    self.training_bar.set_postfix_str(f"{rate * rows_per_step:.1f} items/s", refresh=False)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            pass  # _LossLog writes them to the log

    scratch = out.parent / f".{out.name}.trainer-{os.getpid()}"
    # transformers renamed gradient_checkpointing to activation_checkpointing (5.2x); vLLM's pins
    # hold some environments at an older 5.x, so take the name this version accepts
    import inspect

    ckpt = "activation_checkpointing" if "activation_checkpointing" in inspect.signature(TrainingArguments).parameters else "gradient_checkpointing"
    args = TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps else -1,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type=cfg.lr_scheduler,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        bf16=_use_bf16(cfg.bf16),
        use_cpu=not on_gpu,
        **{ckpt: cfg.gradient_checkpointing, f"{ckpt}_kwargs": {"use_reentrant": False} if cfg.gradient_checkpointing else None},
        logging_steps=1,
        save_strategy="no",
        # the tracker (cfg.report_to) gets the per-step logs; TensorBoard writes into log_dir
        report_to=trainer_report_to(cfg.report_to, log_dir, tracker_run),
        run_name=desc,
        seed=cfg.seed,
        data_seed=cfg.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        deepspeed=cfg.deepspeed,
        fsdp=cfg.fsdp or "",
        disable_tqdm=_tqdm_disabled(),
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_Rows(pack_by_image(rows) if cfg.pack_questions else rows),
        data_collator=AnswerOnlyCollator(processor, augment=cfg.augment),
        callbacks=[_LossLog(), *trainer_callbacks(cfg.report_to, log_dir, tracker_run)],
    )
    # our loss log replaces the Trainer's print-every-log-line fallback for disabled progress bars
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(_TitledProgress())
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [row["loss"] for row in step_log]
    result = TrainResult(
        out_dir=str(out),
        kind="full" if cfg.full_finetune else "adapter",
        steps=int(trainer.state.global_step),
        num_rows=len(rows),
        first_loss=losses[0] if losses else math.nan,
        final_loss=losses[-1] if losses else math.nan,
        losses=losses,
        seconds=seconds,
    )
    if trainer.is_world_process_zero():
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        with atomic_dir(out) as tmp:
            unwrapped.save_pretrained(tmp)
            processor.save_pretrained(tmp)
            write_jsonl(tmp / "loss_log.jsonl", step_log)
            write_json(tmp / "train_result.json", {**asdict(result), "config": asdict(cfg), "base_model": str(base)})
    trainer.accelerator.wait_for_everyone()
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    return result


def _tqdm_disabled() -> bool:
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


class _Rows:
    """A list as a map-style dataset (the collator does all the processing)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]
