"""Retrieval evaluation: leave-out splits, TREC files and metrics with ir-measures."""

from __future__ import annotations

from instr_select.evaluation.holdout import Query, category_queries, hold_out_templates
from instr_select.evaluation.retrieval_eval import SYSTEMS, EvalConfig, evaluate_retrieval, results_table
from instr_select.evaluation.trec import measure, read_back, write_qrels, write_run

__all__ = [
    "SYSTEMS",
    "EvalConfig",
    "Query",
    "category_queries",
    "evaluate_retrieval",
    "hold_out_templates",
    "measure",
    "read_back",
    "results_table",
    "write_qrels",
    "write_run",
]
