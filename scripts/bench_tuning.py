"""Benchmark: the tuning model on this machine, full fine-tuning and LoRA side by side.

For each method, on the same mixture (the first ``--tasks`` NIV2 task files with examples,
``--per-task`` examples each, rendered as training renders them) and the same budget: seconds
per training step, training examples/s, loss at the first and last step; then, for the untuned
model, greedy generation and multiple-choice scoring examples/s on a BBH target. Prints tables.

    python scripts/bench_tuning.py [--model smollm2-135m] [--steps 6] [--batch-size 8] [--methods full,lora]

Only one model trains at a time (about 4-5 GB for SmolLM2-135M in full fine-tuning).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-source-length", type=int, default=160)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--per-task", type=int, default=16)
    parser.add_argument("--target", default="bbh:sports_understanding")
    parser.add_argument("--eval-examples", type=int, default=16)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from instr_select.loaders import load_source
    from instr_select.tuning.evaluate import evaluate_task, load_target
    from instr_select.tuning.mixture import MixtureConfig, render_example, task_instruction
    from instr_select.tuning.modeling import load_model
    from instr_select.tuning.train import TuneConfig, tune

    tasks = [t for t in load_source("niv2", data_dir=args.data_dir) if t.examples][: args.tasks]
    records = []
    for task in tasks:
        instruction = task_instruction(task, MixtureConfig())
        records += [render_example(task, ex, instruction) for ex in task.examples[: args.per_task]]
    texts = [r["prompt"] + " " + r["completion"] for r in records]
    rows = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        bundle = load_model(args.model, texts=texts)
        config = TuneConfig(max_steps=args.steps, batch_size=args.batch_size, method=method, progress=False,
                            logging_steps=1, max_source_length=args.max_source_length)  # fmt: skip
        info = tune(bundle, records, config).info["training"]
        rows.append({"method": method, "trainable": info["trainable_parameters"], "steps": info["steps"],
                     "seconds_per_step": info["seconds"] / max(info["steps"], 1),
                     "examples_per_second": info["examples_per_second"], "lr": info["config"]["learning_rate"],
                     "first_loss": info["first_logged_loss"], "last_loss": info["last_logged_loss"]})  # fmt: skip
        del bundle
    bundle = load_model(args.model, texts=texts)
    bundle.info["max_source_length"] = args.max_source_length
    target = load_target(args.target, args.data_dir)
    start = time.perf_counter()
    report = evaluate_task(bundle, target, max_examples=args.eval_examples, generation="yes")
    eval_seconds = time.perf_counter() - start
    timing = report["timing"]

    print(f"\nbench_tuning: {args.model}, {len(records)} examples from {len(tasks)} NIV2 tasks, batch {args.batch_size}, "
          f"prompts <= {args.max_source_length} tokens, {args.steps} steps; cores {os.cpu_count()}, torch threads "
          f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}, python {platform.python_version()}\n")  # fmt: skip
    print("| method | trainable params | lr | s / step | train examples/s | loss first -> last |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['method']} | {r['trainable'] / 1e6:.1f} M | {r['lr']:g} | {r['seconds_per_step']:.2f} | "
              f"{r['examples_per_second']:.2f} | {r['first_loss']:.3f} -> {r['last_loss']:.3f} |")  # fmt: skip
    print(f"\n| {args.target}, untuned, {report['examples']} examples | examples/s |\n| --- | --- |")
    print(f"| greedy generation (32 new tokens) | {timing['generation_examples_per_second']} |")
    print(f"| multiple-choice scoring (all options) | {timing['mc_examples_per_second']} |")
    print(f"| evaluation total, s | {eval_seconds:.1f} |")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump({"training": rows, "evaluation": timing, "load": os.getloadavg()[0]}, handle, indent=2)


if __name__ == "__main__":
    main()
