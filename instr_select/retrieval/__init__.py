"""Task retrieval: dense, BM25 and hybrid ranking of an index's tasks for an instruction."""

from __future__ import annotations

from instr_select.retrieval.aggregate import AGGREGATES
from instr_select.retrieval.api import DEFAULT_INDEX, open_index, query
from instr_select.retrieval.retriever import MAX_INSTRUCTION_CHARS, METHODS, Retriever

__all__ = ["AGGREGATES", "DEFAULT_INDEX", "MAX_INSTRUCTION_CHARS", "METHODS", "Retriever", "open_index", "query"]
