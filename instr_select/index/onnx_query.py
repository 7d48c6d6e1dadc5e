"""A transformer sentence-transformers encoder as an ONNX export: queries run on ONNX Runtime, not torch.

At build time the Transformer module is exported with ``torch.onnx.export`` (token embeddings out,
dynamic batch and sequence axes); at query time ``tokenizers`` pads and truncates like
sentence-transformers, ONNX Runtime runs the graph, and numpy does the mean pooling and the
optional L2 normalisation. Hand-written because it earns its place: a cold ``instr-select query``
on such an index loads in a fraction of the time torch takes, and every export is checked against
``SentenceTransformer.encode`` before it is kept.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instr_select.errors import DataError

log = logging.getLogger(__name__)
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "model.onnx.data"  # weights beside the graph: ONNX Runtime maps them, twice as fast to open
TOKENIZER_FILE = "tokenizer.json"
OPTIONS_FILE = "onnx_options.json"
TOLERANCE = 1e-4  # largest difference to SentenceTransformer.encode an export may show
OPSET = 17
REBUILD = "rebuild the index with `instr-select build-index`"


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session + numpy pooling: the forward pass of Transformer, Pooling[, Normalize]."""

    def __init__(self, tokenizer, session, options: dict) -> None:
        self.tokenizer, self.session, self.options = tokenizer, session, options
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(options["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=int(options["pad_id"]), pad_token=str(options["pad_token"]))
        self.inputs = list(options["inputs"])
        self.normalize = bool(options["normalize"])

    @property
    def dim(self) -> int:
        return int(self.options["dim"])

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed texts like ``SentenceTransformer.encode`` (float32, one row per text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + batch_size]))
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            (tokens,) = self.session.run(None, {name: feeds[name] for name in self.inputs})
            mask = feeds["attention_mask"][:, :, None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[start : start + len(encodings)] = pooled
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out

    @classmethod
    def load(cls, directory: str | Path, threads: int = 1) -> OnnxEncoder:
        """``threads``: ONNX Runtime's intra-op threads; one opens fastest and suits a few short queries."""
        import onnxruntime
        from tokenizers import Tokenizer

        directory = Path(directory)
        for name in (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE, OPTIONS_FILE):
            if not (directory / name).is_file():
                raise DataError(directory / name, "is missing", REBUILD)
        try:
            options = json.loads((directory / OPTIONS_FILE).read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
            settings = onnxruntime.SessionOptions()
            settings.log_severity_level = 3
            settings.intra_op_num_threads = threads
            settings.add_session_config_entry("session.disable_prepacking", "1")  # opens faster, less memory
            session = onnxruntime.InferenceSession(
                str(directory / MODEL_FILE), settings, providers=["CPUExecutionProvider"]
            )
            return cls(tokenizer, session, options)
        except DataError:
            raise
        except Exception as exc:  # json/tokenizers/onnxruntime raise several types for damaged files
            raise DataError(
                directory, f"ONNX query encoder is unreadable ({exc.__class__.__name__})", REBUILD
            ) from None


def onnx_layout(model) -> dict | None:
    """Options for an in-memory SentenceTransformer of Transformer, mean Pooling[, Normalize]; else None."""
    modules = list(model)
    kinds = [type(module).__name__ for module in modules]
    if len(kinds) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or kinds[2:] not in ([], ["Normalize"]):
        return None
    if getattr(model, "default_prompt_name", None):
        return None
    pooling = modules[1]
    if pooling.pooling_mode not in ("mean", ("mean",)):
        return None
    transformer = modules[0]
    tokenizer = transformer.tokenizer
    fast = getattr(tokenizer, "backend_tokenizer", None)
    if fast is None or tokenizer.pad_token is None or transformer.max_seq_length is None:
        return None
    inputs = ["input_ids", "attention_mask"]
    if "token_type_ids" in getattr(tokenizer, "model_input_names", []):
        inputs.append("token_type_ids")
    return {
        "max_seq_length": int(transformer.max_seq_length),
        "pad_id": int(tokenizer.pad_token_id),
        "pad_token": str(tokenizer.pad_token),
        "inputs": inputs,
        "pooling": "mean",
        "normalize": kinds[2:] == ["Normalize"],
        "dim": int(pooling.pooling_output_dimension),
        "opset": OPSET,
    }


def export_onnx(model, directory: Path, sample_texts: Sequence[str]) -> bool:
    """Write the ONNX query encoder of ``model`` into ``directory``; False (nothing left) if it cannot be.

    The export is kept only when it reproduces ``model.encode`` on ``sample_texts`` to :data:`TOLERANCE`.
    """
    options = onnx_layout(model)
    if options is None:
        log.warning("encoder is not Transformer + mean Pooling [+ Normalize]: queries will load torch")
        return False
    try:
        _export(model, directory, options)
        encoder = OnnxEncoder.load(directory)
        texts = list(sample_texts) + ["", "word " * (options["max_seq_length"] + 8)]
        expected = model.encode(texts, convert_to_numpy=True, show_progress_bar=False)
        gap = float(np.abs(encoder.encode(texts) - expected).max())
        if gap > TOLERANCE:
            raise ValueError(f"ONNX vectors differ from sentence-transformers by {gap:.2e}")
    except Exception as exc:  # the exporter and ONNX Runtime raise many types; every failure falls back
        shutil.rmtree(directory, ignore_errors=True)
        log.warning("ONNX export of the encoder failed (%s): queries on this index will load torch", exc)
        return False
    return True


def _export(model, directory: Path, options: dict) -> None:
    import torch
    from tokenizers import Tokenizer

    transformer = model[0]
    network = transformer.auto_model

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors):
            return self.network(**dict(zip(options["inputs"], tensors, strict=True))).last_hidden_state

    directory.mkdir(parents=True, exist_ok=True)
    fast = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
    fast.no_padding()
    fast.no_truncation()
    fast.save(str(directory / TOKENIZER_FILE))
    example = tuple(
        (torch.zeros if name == "token_type_ids" else torch.ones)((2, 8), dtype=torch.long)
        for name in options["inputs"]
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in options["inputs"]}
    axes["token_embeddings"] = {0: "batch", 1: "sequence"}
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shapes the dynamic axes cover
            torch.onnx.export(
                TokenEmbeddings(),
                example,
                str(directory / MODEL_FILE),
                input_names=options["inputs"],
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        network.train(was_training)
    import onnx

    graph = onnx.load(str(directory / MODEL_FILE))
    onnx.save_model(graph, str(directory / MODEL_FILE), save_as_external_data=True, location=WEIGHTS_FILE)
    (directory / OPTIONS_FILE).write_text(json.dumps(options, indent=1), encoding="utf-8")
