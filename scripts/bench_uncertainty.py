"""Benchmark: tasks scored per minute by prompt uncertainty, and its cost against instruction retrieval.

On one pool (default: 20 BIG-bench tasks with examples), in one run:

- prompt-uncertainty selection: score every pool task with the model (n instances, k
  perturbations; greedy outputs plus one batched cross-entropy pass per instance) and rank;
- instruction retrieval: an in-memory index of the pool's instructions
  (``InstructionIndex.from_tasks`` with ``build_static_encoder``) and a ``Retriever`` query.

Prints a table of medians over ``--repeats`` (scoring: one timed run, it is the slow side) and
the cost ratio. Example::

    .venv/bin/python scripts/bench_uncertainty.py --pool bigbench --pool-size 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time


def timed(func, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", default="bigbench")
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n-instances", type=int, default=10)
    parser.add_argument("--perturbations", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="Repeats of the (cheap) retrieval timings.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="Also write the numbers here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from instr_select.uncertainty.backend import load_scorer
    from instr_select.uncertainty.pool import load_pool, provenance
    from instr_select.uncertainty.scoring import ScoreConfig, score_tasks
    from instr_select.uncertainty.selectors import rank_scores

    pool = load_pool([args.pool], pool_size=args.pool_size, seed=args.seed, skip_empty=True)
    target = pool[0].instructions[0]
    start = time.perf_counter()
    scorer = load_scorer(args.model, pool, args.seed, args.max_new_tokens)
    load_s = time.perf_counter() - start
    config = ScoreConfig(args.n_instances, args.perturbations, 0.2, args.seed)
    start = time.perf_counter()
    scores = score_tasks(scorer, pool, config, cache_dir=None, progress=False)
    rank_scores(scores, "uncertainty")
    score_s = time.perf_counter() - start
    per_task = [s.seconds for s in scores]

    retrieval_note = "instr_select.retrieval.Retriever on InstructionIndex.from_tasks + build_static_encoder"
    from instr_select.encoder import build_static_encoder
    from instr_select.index import InstructionIndex
    from instr_select.retrieval import Retriever

    texts = [i for t in pool for i in t.instructions]
    encoder_s, encoder = timed(lambda: build_static_encoder(texts, seed=args.seed), 1)
    index_s, index = timed(lambda: InstructionIndex.from_tasks(pool, encoder), args.repeats)
    retriever = Retriever(index)
    query_s, _ = timed(lambda: retriever.search(target + " (new task)", k=5, guard=False), args.repeats)

    rows = [
        ("PU: load/build model", load_s, None),
        ("PU: score pool + rank", score_s, len(pool)),
        ("retrieval: build encoder", encoder_s, None),
        ("retrieval: embed pool (index)", index_s, len(pool)),
        ("retrieval: one query", query_s, None),
    ]
    print(f"pool {args.pool} x {len(pool)} tasks, n={args.n_instances}, k={args.perturbations}, model {args.model}")
    print(f"{'stage':<32} {'seconds':>10} {'per task (s)':>13}")
    for name, seconds, count in rows:
        per = f"{seconds / count:.4f}" if count else "-"
        print(f"{name:<32} {seconds:>10.4f} {per:>13}")
    tasks_per_minute = 60.0 * len(pool) / score_s
    retrieval_s = index_s + query_s
    print(f"tasks scored per minute: {tasks_per_minute:.1f} (per-task median {statistics.median(per_task):.2f}s)")
    print(f"cost ratio PU selection / retrieval (index + query): {score_s / retrieval_s:,.0f}x")
    print(f"cost ratio PU selection / retrieval query alone:     {score_s / query_s:,.0f}x")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; retrieval: {retrieval_note}")
    if args.json:
        payload = {
            "pool": args.pool,
            "tasks": len(pool),
            "stages": {name: seconds for name, seconds, _ in rows},
            "tasks_per_minute": tasks_per_minute,
            "ratio_index_and_query": score_s / retrieval_s,
            "ratio_query": score_s / query_s,
            "params": vars(args),
            **provenance(),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)


if __name__ == "__main__":
    main()
