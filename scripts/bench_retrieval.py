"""Retrieval target benchmark: P3 leave-out Acc@1 (Success@1) of BM25, untrained, aligned and hybrid.

Target (issue 3): the aligned encoder beats BM25 by >= 10 points of Acc@1 and the untrained encoder
by more. Run: ``.venv/bin/python scripts/bench_retrieval.py [--out DIR] [--recipe mnrl|insta] [--epochs N]``.
Prints one table from one run (file-level relevance, the target's definition, and dataset-level
relevance, where every subset of the template's dataset counts); the numbers are measured, not asserted.
"""

from __future__ import annotations

import argparse
import time

from instr_select.encoder.train import AlignConfig
from instr_select.evaluation.retrieval_eval import EvalConfig, evaluate_retrieval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="eval/bench_retrieval")
    parser.add_argument("--recipe", default="mnrl", choices=["mnrl", "insta"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    started = time.time()
    config = EvalConfig(
        niv2_source=None, seed=args.seed, align=AlignConfig(recipe=args.recipe, epochs=args.epochs, seed=args.seed)
    )
    report = evaluate_retrieval(config, args.out, data_dir=args.data_dir, progress=lambda line: None)
    p3 = report["results"]["p3"]
    bm25 = p3["bm25"]["Success@1"]
    untrained = p3["untrained"]["Success@1"]
    print(f"P3 leave-out, {report['queries']['p3']} held-out templates, recipe {args.recipe}, seed {args.seed}")
    ceiling = report["ceilings"]["p3"]
    answerable = ceiling["success@1_answerable"]
    by_dataset = report["results"]["p3-dataset"]
    dataset_bm25 = by_dataset["bm25"]["Success@1"]
    print(
        f"{'system':<10} {'Acc@1':>7} {'MRR@10':>7} {'R@5':>7} {'vs bm25':>8} {'Acc@1 answerable':>17}"
        f" {'dataset Acc@1':>14} {'vs bm25':>8}"
    )
    for system, scores in p3.items():
        delta = 100 * (scores["Success@1"] - bm25)
        dataset = by_dataset[system]["Success@1"]
        print(
            f"{system:<10} {scores['Success@1']:>7.4f} {scores['RR@10']:>7.4f} {scores['R@5']:>7.4f} {delta:>+7.1f}pt"
            f" {answerable.get(system, float('nan')):>17.4f} {dataset:>14.4f} {100 * (dataset - dataset_bm25):>+7.1f}pt"
        )
    print(
        f"ceiling: {ceiling['duplicated_elsewhere']} of {ceiling['queries']} held-out templates are verbatim templates "
        f"of another task (e.g. cbt/CN vs cbt/NE), so no text retriever exceeds Acc@1 {ceiling['success@1_ceiling']:.4f}; "
        f"'answerable' = Acc@1 over the other {ceiling['queries'] - ceiling['duplicated_elsewhere']}"
    )
    aligned = p3["aligned"]["Success@1"]
    gain_bm25, gain_untrained = 100 * (aligned - bm25), 100 * (aligned - untrained)
    met = gain_bm25 >= 10 and gain_untrained > gain_bm25
    print(
        f"target: aligned - bm25 >= 10 pt and aligned - untrained > aligned - bm25: "
        f"{gain_bm25:+.1f} pt, {gain_untrained:+.1f} pt -> {'MET' if met else 'MISSED'}"
    )
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
