"""Alignment step time of the default recipe with and without length chunks, in one run.

Runs ``--steps`` optimisation steps of the default recipe's loss (MultipleNegativesRankingLoss on
its real (anchor, positive) batches, batch size and input length of ``instr_select/recipes/minilm.json``)
for each ``--chunks`` value, interleaved round by round so the machine's drift hits every setting
alike, and prints the median step time, its ratio to one chunk, and the padding each setting runs.

    python scripts/bench_alignment.py [--steps 6] [--rounds 2] [--chunks 1 2 4 8]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setting and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    import torch

    from instr_select.encoder import load_encoder
    from instr_select.encoder.losses import LengthChunkedMNRL
    from instr_select.encoder.pairs import mnrl_pairs, positive_groups
    from instr_select.index.default import alignment_config, read_recipe
    from instr_select.loaders import load_sources
    from instr_select.models import resolve_model
    from instr_select.textview import view_tasks

    recipe, _ = read_recipe(None)
    config, _ = alignment_config(recipe)
    tasks = view_tasks(load_sources(recipe["sources"], data_dir=args.data_dir), config.text_view)
    pairs = mnrl_pairs(positive_groups(tasks, config.group_by), config.pairs_per_instruction, config.seed)
    model = load_encoder(resolve_model(recipe["encoder"]["base"]))
    model.max_seq_length = config.max_seq_length or model.max_seq_length
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    rng = random.Random(0)
    batches = [rng.sample(range(len(pairs["anchor"])), config.batch_size) for _ in range(args.steps)]
    times: dict[int, list[float]] = {c: [] for c in args.chunks}
    tokens: dict[int, list[int]] = {c: [] for c in args.chunks}

    def step(loss, rows: list[int]) -> float:
        columns = [model.preprocess([pairs[name][i] for i in rows]) for name in ("anchor", "positive")]
        started = time.perf_counter()
        loss(columns, None).backward()
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - started

    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        for chunks in args.chunks:
            loss = LengthChunkedMNRL(model, length_chunks=chunks)
            for rows in batches if round_ else batches[:1]:
                seconds = step(loss, rows)
                if round_:
                    times[chunks].append(seconds)
            if round_ == 1:
                for rows in batches:
                    for name in ("anchor", "positive"):
                        lengths = model.preprocess([pairs[name][i] for i in rows])["attention_mask"].sum(1)
                        order = lengths.sort().values.tensor_split(chunks)
                        tokens[chunks].append(sum(int(part.max()) * len(part) for part in order))
    base = statistics.median(times[args.chunks[0]])
    print(f"{len(pairs['anchor'])} pairs, batch {config.batch_size}, inputs cut to {model.max_seq_length} tokens; "
          f"{args.rounds} rounds x {args.steps} steps, torch threads {torch.get_num_threads()}\n")  # fmt: skip
    print("| length chunks | median step s | vs first | token slots per column (incl. padding) |")
    print("| ---: | ---: | ---: | ---: |")
    for chunks in args.chunks:
        median = statistics.median(times[chunks])
        slots = statistics.mean(tokens[chunks])
        print(f"| {chunks} | {median:.3f} | {base / median:.2f}x | {slots:.0f} |")


if __name__ == "__main__":
    main()
