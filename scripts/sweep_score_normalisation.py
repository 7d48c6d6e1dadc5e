"""Comparable scores across meta-datasets, measured on the transfer matrix as a user meets them.

A user queries the whole default index, so a source's score is normalised against every task of
that index, not against the matrix's 26 sources alone. This script ranks the matrix's sources
*inside* the default collection (the recipe's meta-datasets; every other task filtered out after
scoring, the guard off) with the default's settings (``top2``, answer fit 0.5), for each encoder
of ``--encoders`` (e.g. the ``minilm`` recipe aligned with seeds 0, 1, 2), under:

- ``none``: the scores as they are (ranks the sources exactly as the transfer sweep does);
- ``centre``, ``z``: the Retriever's ``normalise`` (``instr_select.retrieval.normalise``);
- ``hub kK wW``: a CSLS-style hubness correction (Conneau et al. 2018): a task's score minus W x its
  hubness, the mean over its instructions of their mean similarity to the K nearest instructions of
  *other* tasks of the index (``all``: to every other instruction). Measured here only; not in the
  library.

The rule, fixed before any of these was scored on test: a variant replaces ``none`` only if its
dev NDCG (nll view), averaged over the encoders, beats ``none`` by more than 0.005 **and** the
held-out splits' dev parts do not fall in sum (``scripts/compare_retrieval_settings.py --part dev``,
run separately). Test numbers are printed, never used to choose.

    python scripts/sweep_score_normalisation.py runs/transfer-default --split scripts/transfer_split.json \
        --encoders indexes/default runs/seed1 runs/seed2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from instr_select.retrieval.aggregate import task_scores  # noqa: E402
from instr_select.retrieval.retriever import Retriever  # noqa: E402

TIE = 0.005
HUB_NEIGHBOURS = (10, 50, None)  # None: every other instruction
HUB_WEIGHTS = (0.25, 0.5, 1.0)


def hubness(vectors: np.ndarray, instr_task: np.ndarray, starts: np.ndarray, counts: np.ndarray, k: int | None):
    """Each task's mean, over its instructions, of their mean similarity to the ``k`` nearest
    instructions of other tasks (all of them when ``k`` is None)."""
    per_instruction = np.empty(len(vectors))
    for first in range(0, len(vectors), 512):
        block = vectors[first : first + 512] @ vectors.T
        rows = np.arange(block.shape[0])
        own = instr_task[first : first + block.shape[0]]
        block[instr_task[None, :] == own[:, None]] = np.nan  # the task's own instructions
        if k is None:
            per_instruction[first + rows] = np.nanmean(block, axis=1)
        else:
            block = np.where(np.isnan(block), -np.inf, block)
            per_instruction[first + rows] = -np.sort(-block, axis=1)[:, :k].mean(axis=1)
    return np.add.reduceat(per_instruction, starts) / counts


class HubCorrected(Retriever):
    """The Retriever with a task's hubness (times ``weight``) taken off its score."""

    def __init__(self, index, hub: np.ndarray, weight: float, **kwargs) -> None:
        super().__init__(index, **kwargs)
        self.hub, self.weight = hub, weight

    def _dense(self, query, allowed, k, aggregate):
        return self._all_tasks(np.asarray(self.index.vectors) @ query, allowed, k, aggregate)

    def _task_scores(self, scores, aggregate):
        return task_scores(scores, self._starts, self._counts, aggregate) - self.weight * self.hub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matrix_dir", type=Path)
    parser.add_argument("--split", required=True, type=Path)
    parser.add_argument("--encoders", nargs="+", required=True, type=Path, help="encoder or index folders")
    parser.add_argument(
        "--recipe", default=None, help="whose meta-datasets form the collection (default: the packaged one)"
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument(
        "--variants", nargs="+", default=None, help="score only these (e.g. none: another recipe's encoders)"
    )
    args = parser.parse_args()

    from instr_select.atomic import write_json
    from instr_select.compare.stats import bootstrap_interval
    from instr_select.index import InstructionIndex
    from instr_select.index.default import read_recipe
    from instr_select.loaders import load_sources
    from instr_select.retrieval.defaults import ANSWER_FIT, DEFAULT_AGGREGATE
    from instr_select.transfer.matrix import TransferMatrix
    from instr_select.transfer.metrics import metric
    from instr_select.transfer.scoring import score_selectors, view_columns
    from instr_select.transfer.selectors import aligned_encoder_path
    from instr_select.transfer.split import read_split
    from instr_select.tuning.evaluate import load_tasks

    matrix = TransferMatrix.load(args.matrix_dir)
    sides = read_split(args.split, matrix.targets)
    recipe, _ = read_recipe(args.recipe)
    collection = load_sources(recipe["sources"], data_dir=args.data_dir)
    targets = load_tasks(matrix.targets, args.data_dir)
    queries = [target.instructions[0] for target in targets]
    truth = matrix.transfer("nll")
    columns = {side: view_columns(matrix, "nll", members) for side, members in sides.items()}
    variants = ["none", "centre", "z"] + [f"hub k{k or 'all'} w{w:g}" for k in HUB_NEIGHBOURS for w in HUB_WEIGHTS]
    if args.variants:
        unknown = sorted(set(args.variants) - set(variants))
        if unknown or "none" not in args.variants:
            raise SystemExit(f"--variants: give none and any of {', '.join(variants[1:])} (unknown: {unknown})")
        variants = [v for v in variants if v in args.variants]

    def matrix_scores(index, retriever) -> np.ndarray:
        sources = set(matrix.sources)
        others = [t.key for t in index.tasks if t.key not in sources]
        rankings = retriever.search_many(queries, k=len(sources), exclude_keys=others, guard=False)
        row = {key: i for i, key in enumerate(matrix.sources)}
        out = np.full(truth.shape, np.nan)
        for column, ranking in enumerate(rankings):
            for chosen in ranking:
                out[row[chosen.key], column] = len(sources) - chosen.rank
        return out

    scores: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for encoder in args.encoders:
        path = aligned_encoder_path(str(encoder))
        index = InstructionIndex.from_tasks(collection, path)
        missing = sorted(set(matrix.sources) - {t.key for t in index.tasks})
        if missing:
            raise SystemExit(f"sources not in the collection: {', '.join(missing)}")
        settings = {"aggregate": DEFAULT_AGGREGATE, "answer_fit": ANSWER_FIT}
        for name in ("none", "centre", "z"):
            if name not in scores:
                continue
            scores[name].append(matrix_scores(index, Retriever(index, normalise=name, **settings)))
        vectors = np.asarray(index.vectors, dtype=np.float32)
        starts = np.array([t.start for t in index.tasks])
        counts = np.array([t.count for t in index.tasks])
        for k in HUB_NEIGHBOURS:
            names = {w: f"hub k{k or 'all'} w{w:g}" for w in HUB_WEIGHTS if f"hub k{k or 'all'} w{w:g}" in scores}
            hub = hubness(vectors, index.instr_task, starts, counts, k) if names else None
            for w, name in names.items():
                scores[name].append(matrix_scores(index, HubCorrected(index, hub, w, **settings)))
        print(f"scored {encoder}", file=sys.stderr)

    def mean(values: np.ndarray, side: str, m: str) -> float:
        return statistics.fmean(metric(m, values[:, j], truth[:, j], args.k) for j in columns[side])

    summary = {
        name: {
            "dev ndcg": [mean(v, "dev", "ndcg") for v in runs],
            "test ndcg": [mean(v, "test", "ndcg") for v in runs],
            "test regret": [mean(v, "test", "regret") for v in runs],
        }
        for name, runs in scores.items()
    }
    avg = {name: {key: statistics.fmean(vals) for key, vals in s.items()} for name, s in summary.items()}
    best = max(variants, key=lambda n: avg[n]["dev ndcg"])
    chosen = best if avg[best]["dev ndcg"] > avg["none"]["dev ndcg"] + TIE else "none"
    print(f"| variant | dev NDCG per encoder | dev NDCG mean | test NDCG mean | test Regret@{args.k} mean |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in variants:
        per = " / ".join(f"{v:.3f}" for v in summary[name]["dev ndcg"])
        print(f"| {name} | {per} | {avg[name]['dev ndcg']:.3f} | {avg[name]['test ndcg']:.3f} "
              f"| {avg[name]['test regret']:.3f} |")  # fmt: skip
    print(f"\nbest on dev: {best}; passes the transfer part of the rule: {chosen != 'none'}")
    # the paired test of the best variant against none, encoder by encoder
    paired = {}
    for i, encoder in enumerate(args.encoders if best != "none" else []):
        report = score_selectors(
            matrix, {"none": scores["none"][i], best: scores[best][i]}, k=args.k, targets=sides["test"]
        )
        rows = report["views"]["nll"]["selectors"]
        diff = [
            b - a for a, b in zip(rows["none"]["per_target"]["ndcg"], rows[best]["per_target"]["ndcg"], strict=True)
        ]
        low, high = bootstrap_interval(diff)
        paired[str(encoder)] = {"mean": statistics.fmean(diff), "ci95": [low, high]}
        print(f"test NDCG {best} minus none, {encoder}: {statistics.fmean(diff):+.3f} [{low:+.3f}, {high:+.3f}]")
    out = args.out or args.matrix_dir / "sweep-normalisation"
    write_json(out / "results.json", {"variants": summary, "means": avg, "best_on_dev": best, "chosen": chosen,
                                      "paired_test": paired, "encoders": [str(e) for e in args.encoders],
                                      "split": sides, "k": args.k})  # fmt: skip


if __name__ == "__main__":
    main()
