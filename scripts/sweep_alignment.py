"""Alignment settings for a pretrained base, chosen on the dev parts of the held-out splits.

Each setting aligns the base on ``Splits.train`` (no held-out text) once; the aligned weights are
then mixed back towards the base (``--base-weights``, weight-space ensembling) and every mix is
scored on the dev and test parts. Settings are picked on dev only; test is printed for the record.
Run: ``python scripts/sweep_alignment.py --base minilm-static [--out runs/sweep]``; one JSON line
per (setting, base weight) goes to ``OUT/BASE.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from instr_select.encoder.train import AlignConfig, interpolate_to_base, train_encoder
from instr_select.evaluation.candidates import evaluate_encoder, headline, prepare_splits

SETTINGS = {
    "mnrl-lr0.02-e3": dict(recipe="mnrl", learning_rate=0.02, epochs=3),
    "mnrl-lr0.005-e1": dict(recipe="mnrl", learning_rate=0.005, epochs=1),
    "mnrl-lr0.001-e1": dict(recipe="mnrl", learning_rate=0.001, epochs=1),
    "mnrl-category-lr0.005-e1": dict(recipe="mnrl", learning_rate=0.005, epochs=1, group_by="category"),
    "mnrl-category-lr0.02-e2": dict(recipe="mnrl", learning_rate=0.02, epochs=2, group_by="category"),
    "mnrl-category-lr0.02-e2-p2": dict(
        recipe="mnrl", learning_rate=0.02, epochs=2, group_by="category", pairs_per_instruction=2
    ),
    "mnrl-category-lr0.01-e1": dict(recipe="mnrl", learning_rate=0.01, epochs=1, group_by="category"),
    "mnrl-category-lr0.05-e2": dict(recipe="mnrl", learning_rate=0.05, epochs=2, group_by="category"),
    "mnrl-category-lr0.02-e4": dict(recipe="mnrl", learning_rate=0.02, epochs=4, group_by="category"),
    "mnrl-category-lr1e-5-e1": dict(recipe="mnrl", learning_rate=1e-5, epochs=1, group_by="category"),
    "insta-lr1e-6-e5": dict(recipe="insta", learning_rate=1e-6, epochs=5),
    "mnrl-lr2e-5-e1": dict(recipe="mnrl", learning_rate=2e-5, epochs=1),
    "mnrl-lr5e-6-e1": dict(recipe="mnrl", learning_rate=5e-6, epochs=1),
}
# transformer bases (minilm): category positives, one positive per instruction, batch 32, 128 tokens
TRANSFORMER = dict(
    recipe="mnrl", epochs=1, group_by="category", pairs_per_instruction=1, batch_size=32, max_seq_length=128,
    dev_fraction=0.1,
)  # fmt: skip
SETTINGS |= {
    f"mnrl-category-lr{lr}-e1-p1": dict(TRANSFORMER, learning_rate=float(lr)) for lr in ("2e-5", "5e-5", "1e-4")
}
SETTINGS["mnrl-category-lr1e-4-e1-p1-len64"] = dict(TRANSFORMER, learning_rate=1e-4, max_seq_length=64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="minilm-static")
    parser.add_argument("--settings", nargs="*", default=["mnrl-lr0.02-e3", "mnrl-lr0.005-e1", "mnrl-lr0.001-e1"])
    parser.add_argument("--base-weights", nargs="*", type=float, default=[0.0, 0.25, 0.5, 0.75])
    parser.add_argument("--sources", nargs="*", default=None, help="train only on these meta-datasets")
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{args.base}.jsonl"
    splits = prepare_splits(seed=args.seed)
    train = splits.train
    if args.sources:
        from instr_select.tasks import TaskCollection

        train = TaskCollection(t for t in train if t.meta_dataset in args.sources)
    base_scores, _, _ = evaluate_encoder(args.base, splits, methods=("dense",))
    row = {"base": args.base, "setting": "unaligned", "base_weight": 1.0}
    row |= {"dev": headline(base_scores["dense"], "dev"), "test": headline(base_scores["dense"], "test")}
    print(json.dumps(row), flush=True)
    with log.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    from instr_select.encoder.io import load_encoder

    for name in args.settings:
        config = AlignConfig(seed=args.seed, **SETTINGS[name])
        started = time.perf_counter()
        folder = out / f"{args.base}-{name}{'-' + '+'.join(args.sources) if args.sources else ''}"
        if not folder.is_dir():
            train_encoder(train, args.base, folder, config, progress=lambda line: None)
        seconds = time.perf_counter() - started
        base_state = {k: v.detach().clone() for k, v in load_encoder(args.base).state_dict().items()}
        for weight in args.base_weights:
            model = load_encoder(folder)
            if weight:
                interpolate_to_base(model, base_state, weight)
            scores, _, _ = evaluate_encoder(model, splits, methods=("dense",))
            row = {"base": args.base, "setting": name, "sources": args.sources, "base_weight": weight}
            row |= {"dev": headline(scores["dense"], "dev"), "test": headline(scores["dense"], "test")}
            row |= {"train_seconds": round(seconds, 1), "config": asdict(config)}
            print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
