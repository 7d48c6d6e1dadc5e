"""The FAISS part of an index: factory choice, building, adding, search parameters."""

from __future__ import annotations

import math
import re

import numpy as np

from instr_select.errors import ConfigError

EXACT_LIMIT = 20_000  # below this many instructions, exact (flat) search
HNSW_LIMIT = 1_000_000  # below this, HNSW; above, IVF
SEARCH_PARAMS = {"efSearch": 128, "nprobe": 16}


def choose_factory(n: int) -> str:
    """Exact search for small collections, HNSW for large ones, IVF for very large ones."""
    if n < EXACT_LIMIT:
        return "IDMap2,Flat"
    if n < HNSW_LIMIT:
        return "IDMap2,HNSW32"
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
    return f"IDMap2,IVF{nlist},Flat"


def normalize_factory(factory: str) -> str:
    """Make sure the factory maps ids (``IDMap2,`` prefix added when missing)."""
    factory = factory.strip()
    if not factory:
        raise ConfigError("--factory is empty (e.g. Flat, HNSW32, IVF256,Flat)")
    check_factory_syntax(factory)
    return factory if factory.upper().startswith("IDMAP") else f"IDMap2,{factory}"


_COMPONENT = re.compile(
    r"^(IDMap2?|Flat|L2norm|PCAR?\d+|OPQ\d+(_\d+)?|RR\d+|HNSW\d+(_\w+)?|IVF\d+(_HNSW\d+)?|"
    r"PQ\d+(x\d+)?(fs|np)?|SQ(4|6|8|fp16|bf16)|LSH\w*|RFlat|Refine\(.+\)|NSG\d+|IVF\d+_NSG\d+)$"
)


def check_factory_syntax(factory: str) -> str:
    """Refuse a factory string FAISS would reject or abort on (``HNSW0``), before any work starts."""
    parts = [p.strip() for p in factory.split(",")]
    if not factory.strip() or any(not p for p in parts):
        raise ConfigError(f"--factory {factory!r} is empty or has an empty part (e.g. Flat, HNSW32, IVF256,Flat)")
    for part in parts:
        if not _COMPONENT.match(part):
            raise ConfigError(f"--factory {factory!r}: unknown part {part!r} (e.g. Flat, HNSW32, IVF256,Flat, PQ16)")
        numbers = [int(n) for n in re.findall(r"\d+", part)]
        if part.startswith(("HNSW", "NSG")) and numbers and numbers[0] < 2:
            raise ConfigError(f"--factory {factory!r}: {part} needs at least 2 neighbours per node (e.g. HNSW32)")
        if any(n == 0 for n in numbers) and not part.startswith("SQ"):
            raise ConfigError(f"--factory {factory!r}: {part} needs a positive size")
    return factory


def check_factory(factory: str, dim: int, count: int) -> None:
    """Build the empty index once for the real dimension (PQ/PCA sizes must divide it) and check training size."""
    import faiss

    check_factory_syntax(factory)
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown"
        first = first.rpartition("failed: ")[2]  # FAISS prefixes the C++ location
        raise ConfigError(f"FAISS factory {factory!r} is not valid for {dim}-d vectors ({first})") from None
    if not index.is_trained:
        needed = max(_nlist(index), _pq_centroids(index))
        if count < needed:
            raise ConfigError(
                f"FAISS factory {factory!r} needs at least {needed} vectors to train, the collection has {count}"
                " (use Flat or a smaller IVF/PQ)"
            )


def _pq_centroids(index) -> int:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    pq = getattr(inner, "pq", None)
    return int(2**pq.nbits) if pq is not None else 0


def new_index(vectors: np.ndarray, factory: str):
    """Build a FAISS inner-product index over ``vectors`` (ids 0..n-1)."""
    import faiss

    dim = int(vectors.shape[1])
    check_factory(factory, dim, len(vectors))
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown"
        raise ConfigError(
            f"FAISS factory {factory!r} is not valid ({first}); try Flat, HNSW32 or IVF256,Flat"
        ) from None
    if not index.is_trained:
        nlist = _nlist(index)
        if nlist and len(vectors) < nlist:
            raise ConfigError(
                f"FAISS factory {factory!r} needs at least {nlist} vectors to train, the collection has {len(vectors)}"
                " (use Flat or a smaller IVF)"
            )
        try:
            index.train(vectors)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown"
            raise ConfigError(f"FAISS factory {factory!r} could not be trained ({first})") from None
    add(index, vectors, 0)
    return index


def add(index, vectors: np.ndarray, first_id: int) -> None:
    ids = np.arange(first_id, first_id + len(vectors), dtype=np.int64)
    if len(vectors):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)


def set_search_params(index) -> None:
    """Recall-friendly defaults for approximate indexes (no-op for flat ones)."""
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = SEARCH_PARAMS["efSearch"]
    if hasattr(inner, "nprobe"):
        inner.nprobe = SEARCH_PARAMS["nprobe"]


def _nlist(index) -> int:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return int(getattr(inner, "nlist", 0))
