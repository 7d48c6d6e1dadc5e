"""BM25 over an index's instructions with bm25s (built at index time, saved in bm25s' own format)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from instr_select.errors import DataError

BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene", "stopwords": "en", "lower": True}


def _bm25s():
    """Import bm25s, which sets its own logger to DEBUG; follow the application's level instead."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.getLogger().getEffectiveLevel())
    return bm25s


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    bm25s = _bm25s()

    return bm25s.tokenize(
        list(texts),
        lower=BM25_PARAMS["lower"],
        stopwords=BM25_PARAMS["stopwords"],
        return_ids=False,
        show_progress=False,
    )


class BM25Scorer:
    """Scores every instruction of an index for a query text."""

    def __init__(self, model) -> None:
        self.model = model

    @classmethod
    def build(cls, texts: Sequence[str]) -> BM25Scorer:
        bm25s = _bm25s()
        model = bm25s.BM25(k1=BM25_PARAMS["k1"], b=BM25_PARAMS["b"], method=BM25_PARAMS["method"])
        tokens = _tokenize(texts)
        # bm25s numbers the vocabulary in set order (Python's hash seed): number it in sorted order
        # instead, so that two builds of the same texts write byte-identical files
        vocab = {token: i for i, token in enumerate(sorted({t for doc in tokens for t in doc}))}
        model.index(([[vocab[t] for t in doc] for doc in tokens], vocab), show_progress=False)
        return cls(model)

    def save(self, directory: str | Path) -> None:
        self.model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: str | Path) -> BM25Scorer:
        bm25s = _bm25s()
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(directory, "BM25 index is missing", "rebuild the index with `instr-select build-index`")
        try:
            model = bm25s.BM25.load(str(directory), show_progress=False, verbosity=0)
        except Exception as exc:  # bm25s raises several types for damaged files
            raise DataError(
                directory, f"BM25 index is unreadable ({exc.__class__.__name__})", "rebuild the index"
            ) from None
        return cls(model)

    @property
    def num_docs(self) -> int:
        return int(self.model.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every instruction (zeros when no query word is in the vocabulary)."""
        tokens = [t for t in _tokenize([query])[0] if t in self.model.vocab_dict]
        if not tokens:
            return np.zeros(self.num_docs, dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens), dtype=np.float32)
