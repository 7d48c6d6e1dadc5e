"""Build an index directory, or append meta-datasets to one, atomically."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.atomic import atomic_directory, check_replaceable
from instr_select.errors import ConfigError, DataError
from instr_select.hashing import dir_hash, files_hash
from instr_select.index import faiss_store
from instr_select.index.encoders import EncoderHandle, normalize_rows, resolve_encoder
from instr_select.index.manifest import FORMAT_VERSION, MANIFEST_FILE, Manifest, command_line, now
from instr_select.index.store import (
    BM25_DIR,
    ENCODER_DIR,
    FAISS_FILE,
    INSTRUCTIONS_FILE,
    ONNX_DIR,
    STATIC_DIR,
    TASKS_FILE,
    VECTORS_FILE,
    InstructionIndex,
    TaskRecord,
    carded_texts,
    content_hashes,
    query_files,
    task_records,
)
from instr_select.locking import output_lock
from instr_select.offline import ensure_offline
from instr_select.textview import view_all

log = logging.getLogger(__name__)
EMBED_BATCH = 1024  # also the progress bar's step
ONNX_CHECK_TEXTS = 32  # instructions an ONNX export must reproduce before it is kept


def _embed(handle: EncoderHandle, texts: list[str]) -> np.ndarray:
    from instr_select.progress import bar

    parts = []
    with bar(total=len(texts), desc="embedding instructions", unit="instr") as shown:
        for i in range(0, len(texts), EMBED_BATCH):
            parts.append(handle.encode(texts[i : i + EMBED_BATCH]))
            shown.update(len(texts[i : i + EMBED_BATCH]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, handle.dim), dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise DataError(None, "the encoder gave NaN or infinite vectors", "check the encoder's weights")
    return normalize_rows(vectors)


def _counts(tasks: list[TaskRecord]) -> dict[str, Any]:
    return {
        "instructions": sum(t.count for t in tasks),
        "tasks": len(tasks),
        "meta_datasets": dict(Counter(t.meta_dataset for t in tasks)),
    }


def embed_collection(
    tasks,
    encoder: Any,
    factory: str | None = None,
    handle: EncoderHandle | None = None,
    text_view: str | None = None,
    cards: Sequence[str] = (),
):
    """Embed a TaskCollection into an in-memory :class:`InstructionIndex`.

    ``text_view`` (see :mod:`instr_select.textview`): None takes the encoder's training view.
    ``cards``: task card fields (:mod:`instr_select.cards`) embedded after each instruction; queries
    stay as written.
    """
    records, texts = task_records(tasks, cards=cards)
    if not texts:
        raise ConfigError("no instructions to index (the sources hold no tasks)")
    if text_view is None:
        from instr_select.encoder.io import encoder_text_view

        text_view = encoder_text_view(encoder)
    searched = view_all(carded_texts(records, texts), text_view)
    handle = handle or resolve_encoder(encoder)
    chosen = faiss_store.normalize_factory(factory) if factory else faiss_store.choose_factory(len(texts))
    faiss_store.check_factory(chosen, handle.dim, len(texts))  # before the embedding work
    vectors = _embed(handle, searched)
    index = faiss_store.new_index(vectors, chosen)
    faiss_store.set_search_params(index)
    manifest = Manifest(
        dim=handle.dim,
        factory=chosen,
        encoder={
            "identity": handle.identity,
            "hash": handle.hash,
            "kind": "static" if handle.static is not None else "sentence-transformers",
            "normalize": bool(handle.static.normalize) if handle.static is not None else None,
            "query_path": handle.query_path,
            "files_hash": "",
        },
        counts=_counts(records),
        search_params=dict(faiss_store.SEARCH_PARAMS),
        text_view=text_view,
        cards=list(dict.fromkeys(cards)),
    )
    query_encoder = handle.static if handle.static is not None else handle
    built = InstructionIndex(manifest, records, texts, vectors, index, query_encoder)
    built.handle = handle  # kept for writing the encoder into the directory
    return built


def _write_tables(directory: Path, index: InstructionIndex, mode: str = "w") -> None:
    with (directory / TASKS_FILE).open(mode, encoding="utf-8") as handle:
        for task in index.tasks:
            handle.write(json.dumps(task.to_dict(), ensure_ascii=False) + "\n")
    with (directory / INSTRUCTIONS_FILE).open(mode, encoding="utf-8") as handle:
        for task in index.tasks:
            for offset in range(task.count):
                row = {"id": task.start + offset, "task": task.key, "meta_dataset": task.meta_dataset}
                row["text"] = index.texts[task.start + offset]
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_search_files(directory: Path, index: InstructionIndex) -> None:
    import faiss

    from instr_select.retrieval.bm25 import BM25Scorer

    np.save(directory / VECTORS_FILE, np.ascontiguousarray(index.vectors, dtype=np.float32))
    faiss.write_index(index.faiss_index, str(directory / FAISS_FILE))
    BM25Scorer.build(index.search_texts).save(directory / BM25_DIR)


def build_index(
    tasks,
    encoder: str | Path | Any,
    out: str | Path,
    factory: str | None = None,
    command: str | None = None,
    extra: dict[str, Any] | None = None,
    text_view: str | None = None,
    cards: Sequence[str] = (),
) -> Path:
    """Embed every instruction of ``tasks`` and write an index directory at ``out`` (atomically).

    ``text_view``: what the encoder and BM25 see of each instruction; None takes the encoder's own.
    ``cards``: task card fields embedded after each instruction (:mod:`instr_select.cards`).
    """
    ensure_offline()
    out = Path(out)
    check_replaceable(out, (MANIFEST_FILE,))  # an existing folder that is not an index is refused
    with output_lock(out):
        return _build_locked(tasks, encoder, out, factory, command, extra, text_view, cards)


def _build_locked(tasks, encoder, out: Path, factory, command, extra, text_view, cards) -> Path:
    started = time.perf_counter()
    index = embed_collection(tasks, encoder, factory=factory, text_view=text_view, cards=cards)
    handle: EncoderHandle = index.handle
    with atomic_directory(out, markers=(MANIFEST_FILE,)) as tmp:
        _write_search_files(tmp, index)
        _write_tables(tmp, index)
        handle.save_model(tmp / ENCODER_DIR)
        if handle.static is not None:
            handle.static.save(tmp / STATIC_DIR)
        manifest = index.manifest
        if handle.static is None and handle.model is not None:
            from instr_select.index.onnx_query import export_onnx

            if export_onnx(handle.model, tmp / ONNX_DIR, index.search_texts[:ONNX_CHECK_TEXTS]):
                manifest.encoder["query_path"] = "onnx"
        if handle.hash in ("in-memory", "unhashed"):
            manifest.encoder["hash"] = dir_hash(tmp / ENCODER_DIR)
        manifest.encoder["files_hash"] = files_hash(query_files(tmp, manifest.encoder["query_path"]), tmp)
        manifest.command = command or command_line()
        manifest.bm25 = _bm25_params()
        manifest.extra = dict(extra or {})
        manifest.extra["build_seconds"] = round(time.perf_counter() - started, 3)
        manifest.history = [{"action": "build", "created": manifest.created, "counts": dict(manifest.counts)}]
        manifest.hashes = content_hashes(tmp)
        manifest.write(tmp)
    log.info("indexed %d instructions of %d tasks into %s", len(index), len(index.tasks), out)
    return out


def add_to_index(index_dir: str | Path, tasks, command: str | None = None) -> Path:
    """Append tasks (a new meta-dataset) to an index; existing vectors are kept as they are."""
    index_dir = Path(index_dir)
    with output_lock(index_dir):
        return _add_locked(index_dir, tasks, command)


def _add_locked(index_dir: Path, tasks, command: str | None) -> Path:
    index = InstructionIndex.load(index_dir)
    if index.exact:
        index.faiss_index  # noqa: B018 - a damaged FAISS file stops here, before anything is written
    clashes = [t.key for t in tasks if t.key in index._by_key]
    if clashes:
        raise DataError(index_dir, f"task {clashes[0]!r} is already in the index", "add only new meta-datasets")
    first = len(index)
    records, texts = task_records(tasks, first_id=first, cards=index.manifest.cards)  # the index's own cards
    if not texts:
        raise ConfigError("no instructions to add (the sources hold no tasks)")
    searched = view_all(carded_texts(records, texts, first), index.manifest.text_view)
    new_vectors = _embed(_AsHandle(index.encoder, index.dim), searched)
    with atomic_directory(index_dir, markers=(MANIFEST_FILE,)) as tmp:
        for name in (ENCODER_DIR, STATIC_DIR, ONNX_DIR):
            if (index_dir / name).is_dir():
                shutil.copytree(index_dir / name, tmp / name)
        faiss_store.add(index.faiss_index, new_vectors, first)
        merged = InstructionIndex(
            index.manifest,
            index.tasks + records,
            [*index.texts, *texts],
            np.concatenate([np.asarray(index.vectors), new_vectors]),
            index.faiss_index,
            index.encoder,
        )
        _write_search_files(tmp, merged)
        _write_tables(tmp, merged)
        manifest = index.manifest
        manifest.format_version = FORMAT_VERSION  # an appended version-1 index now holds version-2 rows
        manifest.counts = _counts(merged.tasks)
        manifest.history.append(
            {"action": "add", "created": now(), "command": command or command_line(), "counts": _counts(records)}
        )
        manifest.hashes = content_hashes(tmp)
        manifest.write(tmp)
    return index_dir


def _bm25_params() -> dict[str, Any]:
    from instr_select.retrieval.bm25 import BM25_PARAMS

    return dict(BM25_PARAMS)


class _AsHandle:
    """Adapts a loaded query encoder to the EncoderHandle interface ``_embed`` uses."""

    def __init__(self, encoder, dim: int) -> None:
        self.encoder, self.dim = encoder, dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.encoder.encode(texts), dtype=np.float32)
