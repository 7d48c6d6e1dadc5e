"""Task retrieval: dense, BM25 and hybrid ranking of an index's tasks for an instruction."""

from __future__ import annotations

from instr_select.paths import default_index_dir
from instr_select.retrieval.aggregate import AGGREGATES
from instr_select.retrieval.api import open_index, query
from instr_select.retrieval.retriever import MAX_INSTRUCTION_CHARS, METHODS, Retriever

__all__ = ["AGGREGATES", "MAX_INSTRUCTION_CHARS", "METHODS", "Retriever", "default_index_dir", "open_index", "query"]
