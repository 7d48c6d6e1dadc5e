"""The FAISS part of an index: factory choice, building, adding, search parameters."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

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


# ---- does a FAISS file hold what the manifest's factory says? ----------------------------------------

_ID_MAPS = {"IDMap2": b"IxM2", "IDMap": b"IxMp"}  # fourcc of each id-map wrapper in a FAISS file
_FLAT_CODES = (b"IxFI", b"IxF2", b"IxFl")  # IndexFlatIP, IndexFlatL2, IndexFlat
_HEADER = struct.Struct("<iqqq?i")  # after the fourcc: d, ntotal, two dummies, is_trained, metric_type


def flat_file_mismatch(path: Path, factory: str, dim: int, count: int) -> str | None:
    """Why the FAISS file at ``path`` is not the flat index ``factory`` names; None if it is.

    Reads the file's first bytes only (no FAISS import): a flat index is searched with numpy, so a
    cold query never loads the file, yet it must still be the index the manifest describes.
    """
    wrapper, _, rest = factory.partition(",")
    if wrapper not in _ID_MAPS:
        wrapper, rest = "", factory
    with path.open("rb") as handle:
        head = handle.read(4 + _HEADER.size + 8)
    if len(head) < 4 + _HEADER.size + 4:
        return "is too short to be a FAISS index"
    code = head[:4]
    if wrapper:
        if code != _ID_MAPS[wrapper]:
            return f"is {_code_name(code)}, but manifest.json says factory {factory!r} ({wrapper} over {rest})"
        d, ntotal, _, _, _, metric = _HEADER.unpack_from(head, 4)
        inner_at = 4 + _HEADER.size + (4 if metric > 1 else 0)  # FAISS writes metric_arg after other metrics
        code = head[inner_at : inner_at + 4]
    else:
        d, ntotal = _HEADER.unpack_from(head, 4)[:2]
    if code not in _FLAT_CODES:
        return f"holds {_code_name(code)}, but manifest.json says factory {factory!r} (exact, flat)"
    if (d, ntotal) != (dim, count):
        return f"holds {ntotal} vectors of {d} dimensions, manifest.json says {count} of {dim}"
    return None


_CODE_NAMES = {
    **dict.fromkeys((b"IxM2", b"IxMp"), "an id-map index"),
    **dict.fromkeys(_FLAT_CODES, "a flat index"),
    **dict.fromkeys((b"IHNf", b"IHNp", b"IHNs", b"IHN2"), "an HNSW index"),
    **dict.fromkeys((b"IwFl", b"IwPQ", b"IwSQ", b"IwSq", b"IwRQ"), "an IVF index"),
    b"IxPT": "a pre-transformed index",
    b"IxPq": "a PQ index",
    b"IxSQ": "a scalar-quantizer index",
}


def _code_name(code: bytes) -> str:
    return _CODE_NAMES.get(code, f"an index of FAISS type {code.decode('ascii', 'replace')!r}")


def factory_mismatch(index, factory: str) -> str | None:
    """Why the loaded FAISS ``index`` is not what ``factory`` builds (index types, IVF lists, HNSW links)."""
    import faiss

    try:
        expected = faiss.index_factory(index.d, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError:
        return f"is {_describe(index)}, and manifest.json's factory {factory!r} cannot build a {index.d}-d index"
    if _layers(expected) != _layers(index):
        return f"is {_describe(index)}, but manifest.json says factory {factory!r} ({_describe(expected)})"
    return None


def _layers(index) -> list[tuple[str, int]]:
    """(type, size) from the outside in: id maps and pre-transforms unwrapped, Flat IP/L2 as one type."""
    import faiss

    layers, keep = [], []  # keep: FAISS frees an inner index with the Python object holding its parent
    while index is not None:
        index = faiss.downcast_index(index)
        keep.append(index)
        name = type(index).__name__.removeprefix("Index")
        name = {"FlatIP": "Flat", "FlatL2": "Flat", "RefineFlat": "Refine"}.get(name, name)
        layers.append((name, _size(index)))
        wraps = name.startswith(("IDMap", "PreTransform"))
        index = index.index if wraps else None
    return layers


def _size(index) -> int:
    """The number a factory string gives the index type: IVF lists, HNSW links, PQ sub-quantizers."""
    if hasattr(index, "nlist"):
        return int(index.nlist)
    if hasattr(index, "hnsw"):
        return int(index.hnsw.nb_neighbors(1))
    pq = getattr(index, "pq", None)
    return int(pq.M) if pq is not None else 0


def _describe(index) -> str:
    return " over ".join(f"{name}{size or ''}" for name, size in _layers(index))
