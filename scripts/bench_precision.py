"""Benchmark: bf16 autocast against fp32 for the tuning model, training and scoring, same data and seed.

For each precision: the median seconds of a training step (batch 8 of NIV2 prompts cut to about
128 tokens with their answers, SmolLM2-135M-Instruct, full fine-tuning, ``--steps`` steps, each
loss logged), and the median seconds of one scoring forward pass (``target_nll`` on one batch of
8, the untuned model); then the speed-up and how far the bf16 loss curve strays from fp32's.
Prints a table with PASS/FAIL against the targets:

- speed: a bf16 training step at least 1.7 times as fast as fp32's;
- loss: every logged bf16 loss within max(0.1 nats, 5% of the fp32 loss) of fp32's at the same
  step. Rounding to bf16's 8-bit mantissa moves a loss by hundredths of a nat; one step of this
  fine-tuning moves it by tenths (3.3 -> 1.4 in 6 steps in bench_tuning), so a curve within 0.1
  nats trains the same model, and a wrong autocast (a loss in bf16, overflow) misses by far more.

    python scripts/bench_precision.py [--model smollm2-135m] [--steps 6] [--batch-size 8] [--json FILE]

Wall-clock numbers: say whether the machine was otherwise idle (the load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

SPEEDUP_TARGET = 1.7
LOSS_TOLERANCE_NATS = 0.1
LOSS_TOLERANCE_RELATIVE = 0.05


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _records(args: argparse.Namespace) -> list[dict[str, str]]:
    from instr_select.loaders import load_source
    from instr_select.tuning.mixture import MixtureConfig, render_example, task_instruction

    tasks = [t for t in load_source("niv2", data_dir=args.data_dir) if t.examples][: args.tasks]
    records = []
    for task in tasks:
        instruction = task_instruction(task, MixtureConfig())
        records += [render_example(task, ex, instruction) for ex in task.examples[: args.per_task]]
    return records


def _run(args: argparse.Namespace, records: list[dict[str, str]], precision: str) -> dict[str, Any]:
    """One precision: scoring forward passes on the untuned model, then ``--steps`` training steps."""
    from transformers import TrainerCallback

    from instr_select.tuning.modeling import load_model, target_nll
    from instr_select.tuning.train import TuneConfig, tune

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.losses: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self._start)
            _say(f"{precision}: step {state.global_step} took {self.seconds[-1]:.1f} s")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    bundle = load_model(args.model, precision=precision)
    bundle.info["max_source_length"] = args.max_source_length
    bundle.info["max_target_length"] = args.max_target_length
    batch = records[: args.batch_size]
    prompts, targets = [r["prompt"] for r in batch], [r["completion"] for r in batch]
    forward = []
    for _ in range(args.forward_repeats):
        start = time.perf_counter()
        nll = target_nll(bundle, prompts, targets, batch_size=args.batch_size)
        forward.append(time.perf_counter() - start)
        _say(f"{precision}: scoring forward pass {len(forward)} took {forward[-1]:.1f} s")
    config = TuneConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
        logging_steps=1,
        seed=args.seed,
        progress=False,
        precision=precision,
    )
    timer = StepTimer()
    info = tune(bundle, records, config, callbacks=[timer]).info["training"]
    _say(f"{precision}: losses {' '.join(f'{x:.4f}' for x in timer.losses)}")
    return {
        "precision": info["precision"],
        "step_seconds": timer.seconds,
        "median_step_seconds": statistics.median(timer.seconds),
        "losses": timer.losses,
        "forward_seconds": forward,
        "median_forward_seconds": statistics.median(forward),
        "untuned_mean_nll": float(nll.mean()),
        "train_seconds": info["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-source-length", type=int, default=112)
    parser.add_argument("--max-target-length", type=int, default=16)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--per-task", type=int, default=16)
    parser.add_argument("--forward-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from instr_select.tuning.precision import CPU_BF16_FLAGS, cpu_supports_bf16, resolve_precision

    records = _records(args)
    load_before = os.getloadavg()[0]
    runs = {precision: _run(args, records, precision) for precision in ("fp32", "bf16")}
    load_after = os.getloadavg()[0]
    fp32, bf16 = runs["fp32"], runs["bf16"]
    speedup = fp32["median_step_seconds"] / bf16["median_step_seconds"]
    forward_speedup = fp32["median_forward_seconds"] / bf16["median_forward_seconds"]
    diffs = [abs(a - b) for a, b in zip(fp32["losses"], bf16["losses"], strict=True)]
    allowed = [max(LOSS_TOLERANCE_NATS, LOSS_TOLERANCE_RELATIVE * abs(a)) for a in fp32["losses"]]
    loss_ok = all(d <= t for d, t in zip(diffs, allowed, strict=True))
    final_diff = diffs[-1] if diffs else float("nan")

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    cpu_name = capabilities.get("cpu_name", device)
    flags = ", ".join(f"{f} {'yes' if capabilities.get(f) else 'no'}" for f in CPU_BF16_FLAGS)
    print(
        f"\nbench_precision: {args.model}, batch {args.batch_size} x <= {args.max_source_length}+"
        f"{args.max_target_length} tokens ({len(records)} NIV2 examples), {args.steps} steps, seed {args.seed}; "
        f"{cpu_name} ({flags}; native bf16: {cpu_supports_bf16()}, auto -> {resolve_precision('auto')}), "
        f"cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, load average {load_before:.1f} before, "
        f"{load_after:.1f} after, torch {torch.__version__}\n"
    )
    print("| precision | s / training step (median) | s / scoring forward, batch 8 (median) | loss per step |")
    print("| --- | ---: | ---: | --- |")
    for name, run in runs.items():
        curve = " ".join(f"{x:.3f}" for x in run["losses"])
        print(f"| {name} | {run['median_step_seconds']:.2f} | {run['median_forward_seconds']:.2f} | {curve} |")
    tolerance = f"max({LOSS_TOLERANCE_NATS} nats, {LOSS_TOLERANCE_RELATIVE:.0%} of fp32)"
    print("\n| check | measured | target | result |\n| --- | ---: | --- | --- |")
    print(
        f"| training step speed-up (fp32 / bf16) | {speedup:.2f}x | >= {SPEEDUP_TARGET}x | "
        f"{'PASS' if speedup >= SPEEDUP_TARGET else 'FAIL'} |"
    )
    print(f"| scoring forward speed-up (fp32 / bf16) | {forward_speedup:.2f}x | (reported) | |")
    print(
        f"| max abs loss difference over {len(diffs)} steps | {max(diffs):.4f} | <= {tolerance} each step | "
        f"{'PASS' if loss_ok else 'FAIL'} |"
    )
    print(f"| final loss difference | {final_diff:.4f} | <= {tolerance} | {'PASS' if loss_ok else 'FAIL'} |")
    nll_diff = abs(fp32["untuned_mean_nll"] - bf16["untuned_mean_nll"])
    print(f"| untuned mean NLL difference (scoring) | {nll_diff:.4f} | (reported) | |")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            payload = {"runs": runs, "speedup": speedup, "forward_speedup": forward_speedup, "loss_diffs": diffs}
            json.dump({**payload, "loss_ok": loss_ok, "load": [load_before, load_after]}, handle, indent=2)


if __name__ == "__main__":
    main()
