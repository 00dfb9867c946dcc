"""Model loading, fingerprints and adapter merging, through the transformers Auto classes.

The same code path loads the toy LLaVA built by ``selfsynth.toy`` and ``llava-hf/llava-1.5-7b-hf``
(or any LLaVA-style checkpoint whose processor carries a chat template).

Fingerprint (``model_fingerprint``): sha256 over the relative name, size and content digest of
every file in the model folder (and the adapter folder). Files up to 8 MiB are hashed whole;
bigger ones (weight shards) contribute their name, size and the sha256 of their first and last
MiB, so fingerprinting a 14 GB checkpoint reads 2 MiB per shard. Any re-save that changes a
weight shard changes its head or tail bytes (safetensors puts its header with tensor offsets
first) or its size, and tokenizer/config/chat-template edits are hashed whole.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfsynth.errors import UserError

WHOLE_FILE_LIMIT = 8 << 20
EDGE_BYTES = 1 << 20
# Files that never change what a model computes (and may be rewritten by tools).
_IGNORED = {"README.md", ".gitattributes", "loss_log.jsonl", "train_result.json"}


@dataclass
class LoadedModel:
    model: Any  # a transformers (or peft) image-text-to-text model, in eval mode
    processor: Any  # its AutoProcessor (image processor + tokenizer + chat template)
    fingerprint: str  # model_fingerprint(path, adapter): the cache identity of this model
    path: str  # local folder the weights came from
    adapter: str | None = None  # LoRA adapter folder applied on top, if any
    base_fingerprint: str = ""  # model_fingerprint(path): the weights without the adapter
    adapter_fingerprint: str | None = None  # folder_fingerprint(adapter): the adapter alone
    engine: str = "hf"  # the generation engine (selfsynth.generate): transformers generate

    def close(self) -> None:
        """Nothing to stop: the weights go with the last reference (``VllmModel.close`` stops an engine)."""


def resolve_path(path_or_id: str | os.PathLike) -> Path:
    """A local folder, or a Hugging Face Hub id resolved as transformers does: from the local
    cache, downloaded into it when online, local-only under ``HF_HUB_OFFLINE=1``."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        return path.resolve()
    if path.exists():
        raise UserError(f"{path}: expected a model folder (config.json + weights), got a file")
    return hub_snapshot(str(path_or_id), "model")


# weight formats transformers does not read for our models; never downloaded
_UNUSED_HUB_FILES = ["*.onnx", "*.onnx_data", "onnx/*", "openvino/*", "*.msgpack", "*.h5", "*.ot", "*.tflite", "*.gguf", "*.mlmodel", "coreml/*"]


def hub_snapshot(repo_id: str, what: str = "model") -> Path:
    """Local folder of a hub repository: the cached snapshot, or (online) a download of the files
    transformers reads (safetensors preferred over duplicate ``.bin`` weights)."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError

    import httpx

    fetch = f"fetch it once with `hf download {repo_id}`"
    try:
        if constants.HF_HUB_OFFLINE:
            return Path(snapshot_download(repo_id, local_files_only=True))
        from huggingface_hub import list_repo_files

        ignore = list(_UNUSED_HUB_FILES)
        if any(name.endswith(".safetensors") for name in list_repo_files(repo_id)):
            ignore.append("*.bin")
        return Path(snapshot_download(repo_id, ignore_patterns=ignore))
    except HFValidationError:
        raise UserError(f"{what} {repo_id!r}: no such folder, and not a Hugging Face Hub id (namespace/name)") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else "the Hub could not be reached"
        raise UserError(f"{what} {repo_id!r} is neither a local folder nor in the local Hugging Face cache ({why}); {fetch}") from None
    except RepositoryNotFoundError:
        raise UserError(f"{what} {repo_id!r}: no such local folder, and no such repository on the Hugging Face Hub (if it is gated: `hf auth login`)") from None
    except (OSError, httpx.HTTPError) as exc:  # network failures
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{what} {repo_id!r}: download from the Hugging Face Hub failed ({first_line}); {fetch} where there is a network") from None


def resolve_model(path_or_id: str | os.PathLike, adapter: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """(base model folder, adapter folder or None). A LoRA adapter folder given as the model
    brings its base from ``adapter_config.json``'s ``base_model_name_or_path``, so an adapter
    works wherever a model is expected."""
    folder = Path(path_or_id).expanduser()
    if adapter is not None:
        adapter_path = Path(adapter).expanduser()
        if not (adapter_path / "adapter_config.json").is_file():
            raise UserError(f"{adapter_path}: expected a LoRA adapter folder with adapter_config.json")
        return resolve_path(path_or_id), adapter_path.resolve()
    if not (folder / "adapter_config.json").is_file() or (folder / "config.json").is_file():
        return resolve_path(path_or_id), None
    try:
        base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (ValueError, AttributeError):
        raise UserError(f"{folder / 'adapter_config.json'}: not a JSON object") from None
    if not base:
        raise UserError(f"{folder} is a LoRA adapter without base_model_name_or_path; pass --model BASE --adapter {folder}")
    try:
        return resolve_path(base), folder.resolve()
    except UserError as exc:
        raise UserError(f"{folder} is a LoRA adapter on {base!r}, which cannot be found ({exc}); pass --model BASE --adapter {folder}") from None


def _dir_digest(folder: Path, digest: "hashlib._Hash") -> None:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in _IGNORED and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder}: empty model folder")
    for path in files:
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= WHOLE_FILE_LIMIT:
                digest.update(hashlib.sha256(handle.read()).digest())
            else:
                head = handle.read(EDGE_BYTES)
                handle.seek(size - EDGE_BYTES)
                tail = handle.read(EDGE_BYTES)
                digest.update(hashlib.sha256(head + tail).digest())


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """Stable id of one folder's files (e.g. an adapter alone), as ``model_fingerprint`` hashes them."""
    digest = hashlib.sha256(b"selfsynth-folder-v1\0")
    _dir_digest(Path(folder), digest)
    return digest.hexdigest()[:32]


def model_fingerprint(path: str | os.PathLike, adapter: str | os.PathLike | None = None) -> str:
    """Stable id of (model files, adapter files); independent of where the folders live. An
    adapter folder given as ``path`` fingerprints as (its base, itself)."""
    base_path, adapter_path = resolve_model(path, adapter)
    digest = hashlib.sha256(b"selfsynth-model-v1\0")
    _dir_digest(base_path, digest)
    if adapter_path is not None:
        digest.update(b"\0adapter\0")
        _dir_digest(adapter_path, digest)
    return digest.hexdigest()[:32]


def pick_device(device: str = "auto") -> "Any":
    import torch

    if device != "auto":
        return torch.device(device)
    return distributed_state().device


def distributed_state() -> Any:
    """accelerate's process state: under ``accelerate launch`` each rank gets its own GPU, or a
    gloo process group on the CPU when there is no GPU (accelerate needs ``cpu=True`` for that)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def pick_dtype(dtype: str, device: Any) -> Any:
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32  # CPU generation stays exact in fp32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise UserError(f"dtype {dtype!r}: expected one of auto, {', '.join(sorted(table))}")
    return table[dtype]


@contextlib.contextmanager
def quiet_model_loading():
    """transformers' per-load "Loading weights" / "Writing model shards" bars off while it lasts,
    for output of one line per finished step (each load or save would add a line of its own).
    Download bars stay: a hub model fetched meanwhile still shows its progress."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    bars_were_on, downloads_were_on = hf_logging.is_progress_bar_enabled(), not are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # also turns huggingface_hub's off: turned back on below
    if downloads_were_on:
        enable_progress_bars()
    try:
        yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()  # turns huggingface_hub's on as well
        if not downloads_were_on and not are_progress_bars_disabled():
            disable_progress_bars()


def load_model(
    path_or_id: str | os.PathLike,
    adapter: str | os.PathLike | None = None,
    dtype: str = "auto",
    device: str = "auto",
    merge: bool = False,
    attn_implementation: str | None = "auto",
) -> LoadedModel:
    """Load processor + model (+ optional LoRA adapter, optionally merged) for generation.

    ``attn_implementation="auto"`` picks eager attention on CPU (measured ~25% faster than sdpa
    for the toy model) and the transformers default on GPUs."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path, adapter = resolve_model(path_or_id, adapter)
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: expected a model folder with config.json (or a LoRA adapter folder with adapter_config.json)")
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(dtype, torch_device)
    attn = attn_implementation
    if attn == "auto":
        attn = "eager" if torch_device.type == "cpu" else None
    processor = AutoProcessor.from_pretrained(path)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if attn:
        kwargs["attn_implementation"] = attn
    model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if merge:
            model = model.merge_and_unload()
    model.to(torch_device)
    model.eval()
    return LoadedModel(
        model=model, processor=processor, fingerprint=model_fingerprint(path, adapter), path=str(path),
        adapter=str(adapter) if adapter is not None else None, base_fingerprint=model_fingerprint(path),
        adapter_fingerprint=folder_fingerprint(adapter) if adapter is not None else None,
    )


def merge_adapter(base: str | os.PathLike, adapter_dir: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """Fold a LoRA adapter (and its fully trained modules) into the base weights; save with the
    processor into ``out_dir`` atomically (temp folder + rename). Returns ``out_dir``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    base_path = resolve_path(base)
    out = Path(out_dir)
    use_gpu = torch.cuda.is_available()
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use_gpu else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(base_path, dtype=dtype)
    if use_gpu:
        model.to("cuda")
    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    processor = AutoProcessor.from_pretrained(base_path)
    save_model(model, processor, out)
    return str(out)


# The LLaVA-1.5 hub layout (llava-hf/llava-1.5-7b-hf), which vLLM, lmms-eval's llava_hf and
# transformers 4 read: the CLIP tower's tensors under ``vision_tower.vision_model.``. Transformers 5
# writes them one level up (``vision_tower.embeddings...``) and reads both; its llava conversion
# mapping already writes ``language_model.model.*`` / ``language_model.lm_head.*`` /
# ``multi_modal_projector.*`` as the hub has them.
_TOWER = "vision_tower."
_HUB_TOWER = "vision_tower.vision_model."


def hub_key(key: str) -> str:
    """A saved tensor name in the hub layout."""
    if key.startswith(_TOWER) and not key.startswith(_HUB_TOWER):
        return _HUB_TOWER + key[len(_TOWER):]
    return key


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder}: no *.safetensors weights (expected a model saved with save_pretrained)")
    return files


def is_hub_layout(folder: str | os.PathLike) -> bool:
    """True when every tensor name in the folder's safetensors files is already in the hub layout
    (reads the file headers only)."""
    from safetensors import safe_open

    for path in _weight_files(Path(folder)):
        with safe_open(str(path), "pt") as handle:
            if any(hub_key(key) != key for key in handle.keys()):
                return False
    return True


def _rename_weights(folder: Path) -> None:
    """Rewrite the folder's safetensors shards (and the shard index) with hub-layout names, one shard
    in memory at a time."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    for path in _weight_files(folder):
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {"format": "pt"}
            tensors = {hub_key(key): handle.get_tensor(key) for key in handle.keys()}
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text())
        data["weight_map"] = {hub_key(k): v for k, v in data.get("weight_map", {}).items()}
        index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_hub_layout(src: str | os.PathLike, out: str | os.PathLike) -> None:
    """Copy the model folder ``src`` to ``out`` (atomically) with its tensors in the hub layout."""
    src_path = Path(src)
    with atomic_dir(out) as tmp:
        shutil.copytree(src_path, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
        _rename_weights(tmp)


def save_model(model: Any, processor: Any, out_dir: str | os.PathLike) -> None:
    """``save_pretrained`` of model + processor into ``out_dir`` (atomically), with the tensors in
    the LLaVA-1.5 hub layout, so vLLM, lmms-eval and older transformers load the folder too."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        _rename_weights(tmp)


class atomic_dir:
    """``with atomic_dir(out) as tmp:`` write into ``tmp``; on success it replaces ``out`` whole."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)

    def __enter__(self) -> Path:
        from selfsynth.io import held_temp

        self.out.parent.mkdir(parents=True, exist_ok=True)
        # the temp folder's lock is held until __exit__: remove_stale_temps (any host) keeps it meanwhile
        self._held = held_temp(self.out, "tmp")
        self.tmp = self._held.__enter__()
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from selfsynth.io import held_temp

        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            if self.out.exists():
                # move the old copy aside first so `out` is never a half-written mix
                with held_temp(self.out, "old") as old:
                    self.out.rename(old)
                    self.tmp.rename(self.out)
                    shutil.rmtree(old, ignore_errors=True)
            else:
                self.tmp.rename(self.out)
        finally:
            self._held.__exit__(None, None, None)


def render_prompt(processor: Any, question: str) -> str:
    """The model's chat prompt for one image + one question, ending where the answer begins
    (llava-1.5: ``"USER: <image>\\n{question} ASSISTANT:"``)."""
    if not getattr(processor, "chat_template", None):
        raise UserError("the model's processor has no chat_template; save one with the processor (llava-1.5 style)")
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
