"""Resolve an encoder (saved directory, name, or in-memory model) into something that embeds texts.

A StaticEmbedding model runs through :class:`NumpyStaticEncoder` (no torch, at build and query
time); any other sentence-transformers model is loaded with torch only when it is needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.errors import DataError
from instr_select.hashing import dir_hash
from instr_select.index.static import NumpyStaticEncoder


@dataclass
class EncoderHandle:
    """An encoder ready to embed: ``encode`` returns float32 rows (not necessarily normalized)."""

    encode_fn: Callable[[Sequence[str]], np.ndarray]
    dim: int
    identity: str
    hash: str
    static: NumpyStaticEncoder | None = None
    model_dir: Path | None = None
    model: Any = None

    @property
    def query_path(self) -> str:
        return "numpy" if self.static is not None else "sentence-transformers"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.encode_fn(list(texts)), dtype=np.float32)

    def save_model(self, directory: Path) -> None:
        """Write the encoder in sentence-transformers' format (a copy of its directory)."""
        import shutil

        if self.model_dir is not None:
            shutil.copytree(self.model_dir, directory)
        elif self.model is not None:
            self.model.save(str(directory))


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def load_sentence_transformer(name_or_path: str | Path):
    """Load a sentence-transformers model offline (one clear error when it cannot be)."""
    from instr_select.encoder import load_encoder

    return load_encoder(name_or_path)


def _matrix_hash(static: NumpyStaticEncoder) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(static.matrix).tobytes())
    digest.update(static.tokenizer.to_str().encode())
    digest.update(b"normalize" if static.normalize else b"raw")
    return digest.hexdigest()


def resolve_encoder(encoder: Any) -> EncoderHandle:
    """A saved model directory, a model name, or an in-memory ``SentenceTransformer``."""
    if not isinstance(encoder, (str, Path)):
        static = NumpyStaticEncoder.from_model(encoder)
        if static is not None:
            return EncoderHandle(
                static.encode, static.dim, "in-memory StaticEmbedding", _matrix_hash(static), static, model=encoder
            )
        dim = _dimension(encoder)
        identity = f"in-memory {type(encoder).__name__}"
        return EncoderHandle(_st_encode(encoder), dim, identity, "in-memory", model=encoder)
    from instr_select.encoder.io import model_path

    path = model_path(encoder)  # a registry name (``minilm-static``) -> its verified cache folder
    if path.is_dir():
        identity = str(path.resolve()) if Path(encoder).exists() else f"{encoder} ({path.resolve()})"
        static = NumpyStaticEncoder.from_model_dir(path)
        digest = dir_hash(path)
        if static is not None:
            return EncoderHandle(static.encode, static.dim, identity, digest, static, model_dir=path)
        model = load_sentence_transformer(path)
        dim = _dimension(model)
        return EncoderHandle(_st_encode(model), dim, identity, digest, model_dir=path, model=model)
    if path.exists():
        raise DataError(path, "is a file, not an encoder directory", "pass a sentence-transformers model folder")
    model = load_sentence_transformer(str(encoder))
    static = NumpyStaticEncoder.from_model(model)
    dim = _dimension(model)
    encode = static.encode if static is not None else _st_encode(model)
    return EncoderHandle(encode, dim, str(encoder), "unhashed", static, model=model)


def _dimension(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def _st_encode(model) -> Callable[[Sequence[str]], np.ndarray]:
    def encode(texts: Sequence[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False)

    return encode
