"""Two retrieval settings, of one candidate index or of two, on the held-out splits: means and the paired difference.

Prints, for every held-out split of ``instr_select.evaluation.candidates`` (test part, or ``--part dev``
where settings are chosen), the headline
measure under setting A and setting B and the mean per-query difference B - A with a 95% bootstrap
interval (``instr_select.compare.stats.bootstrap_interval``, seeded, as in every selector comparison),
so "not worse, within its interval" can be read off.
A setting is a method name of the candidate table (``instr_select.evaluation.candidates.parse_method``:
``dense``, ``"dense top2 fit 0.5"``, ``"dense top2 fit 0.5 norm z"``).

    python scripts/compare_retrieval_settings.py runs/bench_retrieval/indexes/minilm_aligned_recipe dense "dense top2 fit 0.5"

``--index-b`` scores setting B on another index (e.g. another recipe's: ``dense top2 fit 0.5`` twice).
The indexes must be built on the splits' index collection, as ``scripts/bench_retrieval.py`` builds them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def scores_of(retriever, bench, queries, measure_name: str, k: int = 10) -> list[float]:
    """The measure of every query in ``queries`` (0 for a query with nothing retrieved)."""
    from instr_select.evaluation.retrieval_eval import run_benchmark
    from instr_select.evaluation.trec import doc_id, per_query

    run = run_benchmark(retriever, bench, k)
    qrels = {q.query_id: {doc_id(key): v for key, v in q.relevant.items()} for q in queries}
    return per_query(qrels, {q.query_id: run.get(q.query_id, {}) for q in queries}, [measure_name])[measure_name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=("dev", "test"), default="test")
    parser.add_argument("--index-b", type=Path, default=None, help="score B on this index (default: INDEX)")
    args = parser.parse_args()

    import numpy as np

    from instr_select.compare.stats import bootstrap_interval
    from instr_select.evaluation.candidates import HEADLINE, parse_method, prepare_splits
    from instr_select.index import InstructionIndex
    from instr_select.retrieval import Retriever

    def retriever(index: InstructionIndex, name: str) -> Retriever:
        setting = parse_method(name)
        return Retriever(index, setting.method, setting.aggregate, setting.answer_fit, setting.normalise)

    splits = prepare_splits(seed=args.seed)
    index = InstructionIndex.load(args.index)
    other = InstructionIndex.load(args.index_b) if args.index_b else index
    if [t.key for t in other.tasks] != [t.key for t in index.tasks]:
        raise SystemExit(f"{args.index_b} and {args.index} index different tasks: compare indexes of one collection")
    first, second = retriever(index, args.a), retriever(other, args.b)
    b_name = f"{args.b} ({args.index_b.name})" if args.index_b else args.b
    print(f"| split ({args.part}) | measure | {args.a} | {b_name} | B - A [95% CI] |")
    print("| --- | --- | ---: | ---: | --- |")
    for bench in splits.benchmarks:
        queries = splits.part(bench, args.part)
        name = HEADLINE[bench.name]
        a, b = (np.array(scores_of(r, bench, queries, name)) for r in (first, second))
        diff = b - a
        low, high = bootstrap_interval(diff.tolist(), seed=args.seed)
        print(f"| {bench.name} ({len(queries)}) | {name} | {a.mean():.4f} | {b.mean():.4f} "
              f"| {diff.mean():+.4f} [{low:+.4f}, {high:+.4f}] |")  # fmt: skip


if __name__ == "__main__":
    main()
