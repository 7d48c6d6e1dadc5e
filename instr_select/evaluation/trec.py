"""TREC run and qrels files, and metrics computed with ir-measures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def doc_id(key: str) -> str:
    """A task key as a TREC document id (no whitespace)."""
    return "_".join(key.split())


def write_qrels(path: Path, qrels: Qrels) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for qid, docs in qrels.items():
            for doc, rel in docs.items():
                handle.write(f"{qid} 0 {doc} {rel}\n")


def write_run(path: Path, run: Run, system: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for qid, docs in run.items():
            ranked = sorted(docs.items(), key=lambda item: -item[1])
            for rank, (doc, score) in enumerate(ranked, start=1):
                handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {system}\n")


def per_query(qrels: Qrels, run: Run, names: Sequence[str]) -> dict[str, list[float]]:
    """Each ir-measures metric for every query of ``qrels``, in its order (0 for a query with no retrieved task)."""
    import ir_measures

    measures = [ir_measures.parse_measure(name) for name in names]
    found: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    for metric in ir_measures.iter_calc(measures, qrels, run):
        found[str(metric.measure)][metric.query_id] = metric.value
    return {name: [values.get(q, 0.0) for q in qrels] for name, values in found.items()}


def measure(qrels: Qrels, run: Run, names: Sequence[str]) -> dict[str, float]:
    """Aggregate ir-measures metrics (e.g. ``Success@1``, ``RR@10``, ``R@5``, ``nDCG@10``) over all queries.

    A query with no retrieved task counts as 0 (it is given an empty ranking, not dropped).
    """
    return {name: sum(values) / max(1, len(values)) for name, values in per_query(qrels, run, names).items()}


def read_back(qrels_path: Path, run_path: Path, names: Sequence[str]) -> dict[str, float]:
    """Re-compute metrics from the written files, as any IR tool would."""
    import ir_measures

    qrels = {}
    for q in ir_measures.read_trec_qrels(str(qrels_path)):
        qrels.setdefault(q.query_id, {})[q.doc_id] = q.relevance
    run = {}
    for r in ir_measures.read_trec_run(str(run_path)):
        run.setdefault(r.query_id, {})[r.doc_id] = r.score
    return measure(qrels, run, names)
