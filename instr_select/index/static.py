"""StaticEmbedding without torch: ``tokenizers`` + numpy, reproducing sentence-transformers exactly.

sentence-transformers' ``StaticEmbedding`` tokenizes with ``add_special_tokens=False`` and no
padding, then takes the mean of the token rows (``nn.EmbeddingBag`` in ``mean`` mode; an empty
token list gives a zero vector). A following ``Normalize`` module L2-normalizes. The query path
uses this class so that a cold ``instr-select query`` never imports torch.
Hand-written because it earns its place: a cold query loads in a fraction of a second without
torch, and ``tests`` check it against sentence-transformers' own output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instr_select.errors import DataError

MATRIX_FILE = "static_embedding.npy"
TOKENIZER_FILE = "tokenizer.json"


def _module_kinds(model_dir: Path) -> list[str] | None:
    """Class names of the modules in a saved sentence-transformers directory, or None if not one."""
    modules = model_dir / "modules.json"
    if not modules.is_file():
        return None
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        return [str(entry["type"]).rsplit(".", 1)[-1] for entry in entries]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DataError(modules, "is not a sentence-transformers modules list", "re-save the encoder") from None


def _has_default_prompt(model_dir: Path) -> bool:
    config = model_dir / "config_sentence_transformers.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    name = data.get("default_prompt_name")
    return bool(name and (data.get("prompts") or {}).get(name))


def static_layout(model_dir: str | Path) -> bool | None:
    """For a saved StaticEmbedding model: whether it ends with Normalize. None if it is not a static model."""
    model_dir = Path(model_dir)
    kinds = _module_kinds(model_dir)
    if not kinds or kinds[0] != "StaticEmbedding" or _has_default_prompt(model_dir):
        return None
    if kinds[1:] == []:
        return False
    if kinds[1:] == ["Normalize"]:
        return True
    return None


class NumpyStaticEncoder:
    """An embedding matrix and a ``tokenizers`` tokenizer: the StaticEmbedding forward pass in numpy."""

    def __init__(self, tokenizer, matrix: np.ndarray, normalize: bool = False) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.normalize = normalize

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts like ``SentenceTransformer.encode`` would (float32, one row per text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for row, encoding in enumerate(encodings):
            ids = encoding.ids
            if ids:
                out[row] = self.matrix[ids].mean(axis=0, dtype=np.float32)
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out

    # --- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / MATRIX_FILE, self.matrix)
        self.tokenizer.save(str(directory / TOKENIZER_FILE))

    @classmethod
    def load(cls, directory: str | Path, normalize: bool = False, mmap: bool = True) -> NumpyStaticEncoder:
        from tokenizers import Tokenizer

        directory = Path(directory)
        matrix_path, tokenizer_path = directory / MATRIX_FILE, directory / TOKENIZER_FILE
        for path in (matrix_path, tokenizer_path):
            if not path.is_file():
                raise DataError(path, "is missing", "rebuild the index with `instr-select build-index`")
        try:
            matrix = np.load(matrix_path, mmap_mode="r" if mmap else None)
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # numpy/tokenizers raise several types for a damaged file
            raise DataError(directory, f"static encoder is unreadable ({exc})", "rebuild the index") from None
        if matrix.ndim != 2 or matrix.dtype != np.float32:
            raise DataError(matrix_path, "is not a 2-d float32 matrix", "rebuild the index")
        if tokenizer.get_vocab_size() > matrix.shape[0]:
            raise DataError(
                matrix_path,
                f"has {matrix.shape[0]} rows for a vocabulary of {tokenizer.get_vocab_size()} tokens",
                "rebuild the index",
            )
        return cls(tokenizer, matrix, normalize=normalize)

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> NumpyStaticEncoder | None:
        """Read a saved sentence-transformers StaticEmbedding model without torch; None if not static."""
        model_dir = Path(model_dir)
        normalize = static_layout(model_dir)
        if normalize is None:
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        weights_path = model_dir / "model.safetensors"
        if not weights_path.is_file():
            return None  # e.g. a pytorch_model.bin: let sentence-transformers read it
        weights = load_file(str(weights_path))
        if "embedding.weight" not in weights:
            return None
        tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        return cls(tokenizer, weights["embedding.weight"].astype(np.float32), normalize=normalize)

    @classmethod
    def from_model(cls, model) -> NumpyStaticEncoder | None:
        """From an in-memory SentenceTransformer whose modules are StaticEmbedding [+ Normalize]; else None."""
        modules = list(model)
        kinds = [type(module).__name__ for module in modules]
        if not kinds or kinds[0] != "StaticEmbedding" or kinds[1:] not in ([], ["Normalize"]):
            return None
        if getattr(model, "default_prompt_name", None):
            return None
        static = modules[0]
        matrix = static.embedding.weight.detach().cpu().float().numpy().copy()
        mode = getattr(static.embedding, "mode", "mean")
        if mode != "mean":
            return None
        import copy

        return cls(copy.deepcopy(static.tokenizer), matrix, normalize=kinds[1:] == ["Normalize"])
