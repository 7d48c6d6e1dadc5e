"""An instruction index in memory: vectors, FAISS, instruction and task tables, the query encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instr_select.errors import DataError, InstrSelectError
from instr_select.hashing import HashMemo, dir_hash, file_sha256, files_hash
from instr_select.index.manifest import REBUILD, Manifest
from instr_select.index.tables import InstructionTexts, TaskRecord, instruction_texts, task_table

FAISS_FILE = "faiss.index"
VECTORS_FILE = "vectors.npy"
INSTRUCTIONS_FILE = "instructions.jsonl"
TASKS_FILE = "tasks.jsonl"
ENCODER_DIR = "encoder"
STATIC_DIR = "static"
ONNX_DIR = "onnx"
BM25_DIR = "bm25"
SMALL_BATCH = 16  # queries searched on one thread
# an instruction's text against its own vector scores >= 0.9999997 (build-time and query-time encoders)
SAME_TEXT_SCORE = 0.99


def carded_texts(records: Sequence[TaskRecord], texts: Sequence[str], first_id: int = 0) -> list[str]:
    """Every instruction (ids from ``first_id``) followed by its task's card (as is when the records carry none)."""
    from instr_select.cards import carded

    if all(record.card is None for record in records):
        return list(texts)
    return [carded(texts[i - first_id], r.card) for r in records for i in range(r.start, r.start + r.count)]


def task_records(
    tasks, first_id: int = 0, first_index: int = 0, cards: Sequence[str] = ()
) -> tuple[list[TaskRecord], list[str]]:
    """Task records and the flat instruction list of a TaskCollection (ids contiguous per task).

    ``cards``: the card fields each record carries (instr_select.cards); none: records without a card.
    """
    from instr_select.cards import answer_words, card_lines, check_fields

    fields = check_fields(cards)
    records, texts = [], []
    next_id = first_id
    for task in tasks:
        records.append(
            TaskRecord(
                task.key,
                task.task_id,
                task.meta_dataset,
                list(task.categories),
                task.source,
                task.source_key,
                next_id,
                len(task.instructions),
                task.has_example_loader,
                answer_words(task),
                card_lines(task, fields) if fields else None,
            )
        )
        texts.extend(task.instructions)
        next_id += len(task.instructions)
    return records, texts


def query_folder(directory: Path, query_path: str) -> Path:
    """The folder the query encoder is read from: ``static``, ``onnx`` or ``encoder``."""
    return directory / {"numpy": STATIC_DIR, "onnx": ONNX_DIR}.get(query_path, ENCODER_DIR)


def query_files(directory: Path, query_path: str) -> list[Path]:
    """The files the query encoder reads (hashed into the manifest's ``files_hash``)."""
    return [p for p in query_folder(directory, query_path).rglob("*") if p.is_file() and p.name != "README.md"]


class InstructionIndex:
    """Everything a query needs. Build with :func:`build_index`, open with :meth:`load`."""

    def __init__(
        self,
        manifest: Manifest,
        tasks: list[TaskRecord],
        texts: Sequence[str],
        vectors: np.ndarray,
        faiss_index,
        encoder,
        directory: Path | None = None,
        bm25=None,
    ) -> None:
        self.manifest = manifest
        self.tasks = tasks
        self.texts = texts
        self.vectors = vectors
        self._faiss_index = faiss_index  # None: loaded from the directory when first needed
        self.encoder = encoder  # has .encode(texts) -> float32 rows
        self.directory = directory
        self._bm25 = bm25
        self._by_text: dict[str, int] | None = None
        self._search_texts: list[str] | None = None
        self._by_key = {t.key: i for i, t in enumerate(tasks)}
        self.instr_task = np.repeat(np.arange(len(tasks), dtype=np.int32), [t.count for t in tasks])
        self.task_meta = np.array([t.meta_dataset for t in tasks], dtype=object)

    @property
    def exact(self) -> bool:
        """A flat index: exact inner products, which numpy computes without loading FAISS."""
        return self.manifest.factory.replace("IDMap2,", "").replace("IDMap,", "") == "Flat"

    @property
    def faiss_index(self):
        if self._faiss_index is None:
            self._faiss_index = _load_faiss(self.directory / FAISS_FILE, self.manifest.factory, self.dim, len(self))
        return self._faiss_index

    # --- sizes and lookups -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.texts)

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def records_answer_lengths(self) -> bool:
        """Whether any task records its answer length (what answer fit needs; indexes of format 1 do not)."""
        return any(task.answer_words is not None for task in self.tasks)

    @property
    def meta_datasets(self) -> list[str]:
        return sorted(set(self.task_meta.tolist()))

    def find_task(self, ref: str) -> TaskRecord | None:
        """``meta_dataset:task_id``, or a bare task id when it is unambiguous."""
        if ref in self._by_key:
            return self.tasks[self._by_key[ref]]
        matches = [t for t in self.tasks if t.task_id == ref]
        return matches[0] if len(matches) == 1 else None

    def find_instruction(self, text: str, vector: np.ndarray | None = None) -> int | None:
        """Id of the first instruction equal to ``text`` (whitespace-trimmed), if any.

        ``vector``: the query encoder's vector of ``self.view(text)``. An instruction's own text scores
        about 1.0 against its vector, so only instructions scoring above ``SAME_TEXT_SCORE`` are
        compared as text: the other texts are not decoded. A zero vector (no known token) says
        nothing, and every text is compared.
        """
        text = text.strip()
        lazy = self._by_text is None and isinstance(self.texts, InstructionTexts)
        # with cards an instruction's vector is its carded text's, which the query's does not match
        usable = vector is not None and not self.manifest.cards and float(vector @ vector) > 0.5  # unit, not zero
        if lazy and usable:
            candidates = np.flatnonzero(np.asarray(self.vectors) @ vector >= SAME_TEXT_SCORE)
            return next((int(i) for i in candidates.tolist() if self.texts[i] == text), None)
        if self._by_text is None:
            self._by_text = {}
            for i, instruction in enumerate(self.texts):
                self._by_text.setdefault(instruction, i)
        return self._by_text.get(text)

    def view(self, text: str) -> str:
        """What the encoder and BM25 see of ``text`` (the manifest's text view)."""
        from instr_select.textview import text_view

        return text_view(self.manifest.text_view)(text)

    def search_text(self, i: int) -> str:
        """Instruction ``i`` as the encoder and BM25 saw it at build time (with its task's card, if any)."""
        from instr_select.cards import carded

        return self.view(carded(self.texts[i], self.tasks[int(self.instr_task[i])].card))

    @property
    def search_texts(self) -> list[str]:
        """The instructions as the encoder and BM25 see them."""
        if self._search_texts is None:
            from instr_select.textview import view_all

            self._search_texts = view_all(carded_texts(self.tasks, self.texts), self.manifest.text_view)
        return self._search_texts

    # --- scoring -------------------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self.encoder.encode(list(texts)), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DataError(
                self.directory, f"encoder gives {vectors.shape[-1]}-d vectors, the index holds {self.dim}-d", REBUILD
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def dense_hits(self, queries: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``m`` instructions per query: (scores, ids), best first; ids -1 pad."""
        m = max(1, min(m, len(self)))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.exact:
            return _exact_top(self.vectors, queries, m)
        import faiss

        if len(queries) > SMALL_BATCH:
            return self.faiss_index.search(queries, m)
        # OpenMP start-up dominates a single query (about 4x slower on 2 busy cores): run it on one thread
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.faiss_index.search(queries, m)
        finally:
            faiss.omp_set_num_threads(threads)

    def instruction_scores(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact inner products of one query with the given instructions."""
        return self.vectors[ids] @ query

    @property
    def bm25(self):
        from instr_select.retrieval.bm25 import BM25Scorer

        if self._bm25 is None:
            if self.directory is not None:
                self._bm25 = BM25Scorer.load(self.directory / BM25_DIR)
            else:
                self._bm25 = BM25Scorer.build(self.search_texts)
            if self._bm25.num_docs != len(self):
                raise DataError(self.directory, "BM25 index and instructions disagree in size", REBUILD)
        return self._bm25

    # --- constructors --------------------------------------------------------------------------
    @classmethod
    def from_tasks(
        cls, tasks, encoder, factory: str | None = None, text_view: str | None = None, cards: Sequence[str] = ()
    ) -> InstructionIndex:
        """An in-memory index (nothing written), e.g. for evaluation and comparisons."""
        from instr_select.index.build import embed_collection

        return embed_collection(tasks, encoder, factory=factory, text_view=text_view, cards=cards)

    @classmethod
    def load(cls, index_dir: str | Path, encoder: str | Path | None = None, verify: bool = True) -> InstructionIndex:
        """Open an index directory; refuses a wrong format version, dimension or encoder.

        ``encoder``: when given, it must be the encoder the index was built with (same content hash).
        """
        directory = Path(index_dir)
        _check_reachable(directory)
        _recover(directory)
        manifest = Manifest.read(directory)
        check_inside(directory)
        memo = HashMemo(directory) if verify else None
        if memo is not None:
            check_content_hashes(directory, manifest, memo)
        if encoder is not None:
            _check_encoder(directory, manifest, encoder)
        # tables whose exact content an earlier load checked (hash recalled by signature) are not
        # checked again, and instruction texts are then decoded only when asked for
        checked = memo is not None and {TASKS_FILE, INSTRUCTIONS_FILE} <= memo.recalled
        tasks = task_table(directory / TASKS_FILE, check=not checked)
        texts = (InstructionTexts.read if checked else instruction_texts)(directory / INSTRUCTIONS_FILE)
        vectors = _load_vectors(directory / VECTORS_FILE)
        carded = [t.card is not None for t in tasks]
        if (all(carded) if manifest.cards else any(carded)) is not bool(manifest.cards):
            said = f"embeds cards ({', '.join(manifest.cards)})" if manifest.cards else "embeds no cards"
            raise DataError(
                directory / TASKS_FILE, f"disagrees with manifest.json, which says the index {said}", REBUILD
            )
        count = sum(t.count for t in tasks)
        if count != len(texts) or len(vectors) != len(texts) or manifest.counts.get("instructions") != len(texts):
            raise DataError(directory, "instructions, tasks, vectors and manifest counts disagree", REBUILD)
        if verify and not np.isfinite(vectors).all():
            raise DataError(directory / VECTORS_FILE, "holds NaN or infinite values", REBUILD)
        if vectors.shape[1] != manifest.dim:
            raise DataError(
                directory / VECTORS_FILE, f"holds {vectors.shape[1]}-d vectors, manifest says {manifest.dim}", REBUILD
            )
        if not (directory / FAISS_FILE).is_file():
            raise DataError(directory / FAISS_FILE, "is missing", REBUILD)
        if memo is not None:
            _check_query_files(directory, manifest, memo)
        query_encoder = _load_query_encoder(directory, manifest)
        index = cls(manifest, tasks, texts, vectors, None, query_encoder, directory)
        if not index.exact:
            index.faiss_index  # noqa: B018 - approximate indexes are checked and loaded now
        if verify:
            if index.exact:
                _check_flat_file(directory / FAISS_FILE, manifest, count)  # searched with numpy: header only
            # files unchanged since a load that passed this check (their hashes recalled): it would pass again
            if memo is None or not {"query-encoder", VECTORS_FILE, INSTRUCTIONS_FILE} <= memo.recalled:
                check_encoder_reproduces(index)
        if memo is not None:
            memo.save()  # only hashes of an index that passed every check are remembered
        return index


HASHED_FILES = (VECTORS_FILE, FAISS_FILE, TASKS_FILE, INSTRUCTIONS_FILE)


def content_hashes(directory: Path, memo: HashMemo | None = None) -> dict[str, str]:
    """SHA-256 of the files a query reads (vectors, FAISS, tables) and of the BM25 folder.

    ``memo``: hashes of unchanged files are taken from it (see :class:`~instr_select.hashing.HashMemo`).
    """

    def hashed(name: str, files: list[Path], compute) -> str:
        return memo.hash(name, files, compute) if memo is not None else compute()

    out = {name: hashed(name, [directory / name], lambda n=name: file_sha256(directory / n)) for name in HASHED_FILES}
    if (directory / BM25_DIR).is_dir():
        files = [p for p in (directory / BM25_DIR).rglob("*") if p.is_file()]
        out[BM25_DIR] = hashed(BM25_DIR, files, lambda: files_hash(files, directory))
    return out


def check_content_hashes(directory: Path, manifest: Manifest, memo: HashMemo | None = None) -> None:
    """Files swapped in from another build or damaged on disk are refused by name."""
    if not manifest.hashes:
        return  # built before hashes were recorded
    for name in manifest.hashes:
        if not (directory / name).exists():
            raise DataError(directory / name, "is missing", REBUILD)
    found = content_hashes(directory, memo)
    for name, expected in manifest.hashes.items():
        if found.get(name) != expected:
            raise DataError(
                directory / name,
                "does not match the content hash in manifest.json (changed, swapped or damaged)",
                REBUILD,
            )


def check_inside(directory: Path) -> None:
    """Every file of the index lies inside it: a symbolic link leading out is refused."""
    root = directory.resolve()
    for path in directory.rglob("*"):
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise DataError(path, "is a broken or looping symbolic link", REBUILD) from None
            if root not in target.parents and target != root:
                raise DataError(path, "is a symbolic link leading out of the index", "copy the file into the index")


def _check_reachable(directory: Path) -> None:
    try:
        directory.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DataError(directory, f"cannot be opened ({exc.strerror or exc})", "pass an index directory") from None


def _recover(directory: Path) -> None:
    """An index moved aside by a build killed between its two renames is put back."""
    if not directory.exists() and directory.parent.is_dir():
        from instr_select.atomic import recover
        from instr_select.locking import output_lock

        try:
            with output_lock(directory):
                recover(directory)
        except (OSError, InstrSelectError):
            pass  # another run holds the lock: it will finish or recover itself


def _check_query_files(directory: Path, manifest: Manifest, memo: HashMemo) -> None:
    """The query encoder's files are those the manifest's ``encoder.files_hash`` names."""
    query_path = manifest.encoder["query_path"]
    files = query_files(directory, query_path)
    found = memo.hash("query-encoder", files, lambda: files_hash(files, directory))
    if found != manifest.encoder["files_hash"]:
        raise DataError(
            query_folder(directory, query_path),
            "encoder files do not match the manifest's encoder hash (changed or damaged)",
            REBUILD,
        )


def _check_flat_file(path: Path, manifest: Manifest, count: int) -> None:
    from instr_select.index.faiss_store import flat_file_mismatch

    problem = flat_file_mismatch(path, manifest.factory, manifest.dim, count)
    if problem:
        raise DataError(path, problem, REBUILD)


CHECKED_INSTRUCTIONS = 3  # instructions (first, middle, last) the query encoder must reproduce at load


def check_encoder_reproduces(index: InstructionIndex) -> None:
    """The query encoder gives back the stored vectors of a few instructions.

    Every file can match its hash while the index is assembled from two builds (an encoder folder
    copied from another build of the same dimension, with its manifest entry): its answers would
    be noise. An instruction's own vector scores at least ``SAME_TEXT_SCORE`` against its text
    when encoder and vectors belong together; instructions without a known token (zero vectors)
    say nothing and are skipped.
    """
    n = len(index)
    ids = sorted({0, n // 2, n - 1})[:CHECKED_INSTRUCTIONS]
    stored = np.asarray(index.vectors[ids], dtype=np.float32)
    kept = [i for i, row in zip(ids, stored, strict=True) if float(row @ row) > 0.5]
    if not kept:
        return
    queries = index.encode_queries([index.search_text(i) for i in kept])
    scores = np.einsum("ij,ij->i", queries, np.asarray(index.vectors[kept], dtype=np.float32))
    if (scores < SAME_TEXT_SCORE).any():
        folder = query_folder(index.directory, index.manifest.encoder["query_path"])
        raise DataError(
            folder,
            f"this encoder does not reproduce the index's vectors (instruction {kept[int(np.argmin(scores))]} "
            f"scores {float(scores.min()):.3f} against its own vector): it comes from another build",
            REBUILD,
        )


def _check_encoder(directory: Path, manifest: Manifest, encoder: str | Path) -> None:
    path = Path(encoder)
    if not path.is_dir():
        raise DataError(path, "encoder directory does not exist", "pass the encoder the index was built with")
    found = dir_hash(path)
    if found != manifest.encoder["hash"]:
        raise DataError(
            directory,
            f"index was built with encoder {manifest.encoder.get('identity')} (hash {manifest.encoder['hash'][:12]}),"
            f" not {path} (hash {found[:12]})",
            "query with the index's own encoder or rebuild the index with this one",
        )


def _load_vectors(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "is missing", REBUILD)
    try:
        vectors = np.load(path, mmap_mode="r")
    except Exception as exc:
        raise DataError(path, f"is unreadable ({exc.__class__.__name__})", REBUILD) from None
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise DataError(path, "is not a 2-d float32 matrix", REBUILD)
    return vectors


def _exact_top(vectors: np.ndarray, queries: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``m`` inner products per query (what a flat FAISS index returns), best first."""
    scores = queries @ np.asarray(vectors).T
    if m < scores.shape[1]:
        ids = np.argpartition(-scores, m - 1, axis=1)[:, :m]
    else:
        ids = np.tile(np.arange(scores.shape[1]), (len(queries), 1))
    top = np.take_along_axis(scores, ids, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(ids, order, axis=1).astype(np.int64)


def _load_faiss(path: Path, factory: str, dim: int, count: int):
    import faiss

    from instr_select.index.faiss_store import factory_mismatch, set_search_params

    if not path.is_file():
        raise DataError(path, "is missing", REBUILD)
    try:
        index = faiss.read_index(str(path))
    except Exception:  # faiss raises RuntimeError, and others for truncated files
        raise DataError(path, "is not a readable FAISS index", REBUILD) from None
    if index.d != dim:
        raise DataError(path, f"FAISS index is {index.d}-d, manifest says {dim}-d", REBUILD)
    if index.ntotal != count:
        raise DataError(path, f"FAISS index holds {index.ntotal} vectors, expected {count}", REBUILD)
    problem = factory_mismatch(index, factory)
    if problem:
        raise DataError(path, problem, REBUILD)
    set_search_params(index)
    return index


def _load_query_encoder(directory: Path, manifest: Manifest):
    if manifest.encoder["query_path"] == "numpy":
        from instr_select.index.static import NumpyStaticEncoder

        encoder = NumpyStaticEncoder.load(directory / STATIC_DIR, normalize=bool(manifest.encoder.get("normalize")))
        got = encoder.dim
    elif manifest.encoder["query_path"] == "onnx":
        from instr_select.index.onnx_query import OnnxEncoder

        encoder = OnnxEncoder.load(directory / ONNX_DIR)
        got = encoder.dim
    else:
        from instr_select.index.encoders import load_sentence_transformer, resolve_encoder

        encoder = resolve_encoder(load_sentence_transformer(directory / ENCODER_DIR))
        got = encoder.dim
    if got != manifest.dim:
        raise DataError(directory, f"encoder gives {got}-d vectors, the index holds {manifest.dim}-d", REBUILD)
    return encoder
