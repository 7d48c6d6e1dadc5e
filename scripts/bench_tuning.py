"""Benchmark: end-to-end export -> tune -> evaluate on a BBH target with a BIG-bench pool.

Runs the real CLI (subprocesses, as a user would) with the default tiny model and prints a table:
wall time per step, training throughput (examples/s) and evaluation throughput. The target of
issue 4 is the whole pipeline within 10 minutes on 2 CPU cores.

    python scripts/bench_tuning.py [--target bbh:date_understanding] [--index DIR] [--tasks FILE]

Without ``--index``/``--tasks`` it builds a temporary index of the BIG-bench pool (tasks and
subtasks) with an untrained static encoder (``build_static_encoder``), so retrieval runs as in
``export --target-task``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def run_step(name: str, argv: list[str], rows: list[dict]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "instr_select.cli", *argv], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    print(proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else "", file=sys.stderr)
    rows.append({"step": name, "seconds": seconds})
    return seconds


def build_pool_index(out: Path, data_dir: str | None) -> float:
    from instr_select.encoder import build_static_encoder
    from instr_select.index import build_index
    from instr_select.loaders import load_source

    start = time.perf_counter()
    pool = load_source("bigbench", data_dir=data_dir).filter(with_examples=True)
    texts = [text for task in pool for text in task.instructions]
    encoder = build_static_encoder(texts, vocab_size=4000, dim=128, seed=0)
    build_index(pool, encoder, out, command="scripts/bench_tuning.py")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="bbh:date_understanding")
    parser.add_argument("--index", default=None, help="Index to retrieve from (default: a temporary BIG-bench index).")
    parser.add_argument("--tasks", default=None, help="Fixed task list instead of retrieval.")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--max-per-task", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--model", default="tiny-t5")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", dest="json_out", default=None, help="Also write the results as JSON.")
    args = parser.parse_args()

    data = ["--data-dir", args.data_dir] if args.data_dir else []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as work:
        work_dir = Path(work)
        total_start = time.perf_counter()
        if args.tasks:
            selection = ["--tasks", args.tasks]
        else:
            index = args.index
            if index is None:
                index = str(work_dir / "index")
                rows.append(
                    {
                        "step": "index BIG-bench pool (setup, not counted)",
                        "seconds": build_pool_index(Path(index), args.data_dir),
                    }
                )
            selection = [
                "--target-task",
                args.target,
                "--index",
                index,
                "-k",
                str(args.k),
                "--meta-dataset",
                "bigbench",
            ]
        pipeline_start = time.perf_counter()
        mix, model, report = work_dir / "mix", work_dir / "model", work_dir / "report.json"
        run_step(
            "export",
            [
                "export",
                *selection,
                "--out",
                str(mix),
                "--max-per-task",
                str(args.max_per_task),
                "--format",
                "hf",
                *data,
            ],
            rows,
        )
        run_step(
            "tune",
            ["tune", str(mix), "--model", args.model, "--out", str(model), "--epochs", str(args.epochs), "--quiet"],
            rows,
        )
        run_step(
            "evaluate",
            [
                "evaluate",
                "--model",
                str(model),
                "--target",
                args.target,
                "--max-examples",
                str(args.max_examples),
                "--out",
                str(report),
                *data,
            ],
            rows,
        )
        pipeline = time.perf_counter() - pipeline_start
        manifest = json.loads((mix / "mixture.json").read_text())
        training = json.loads((model / "training_info.json").read_text())
        evaluation = json.loads(report.read_text())
        total = time.perf_counter() - total_start

    train_rate = training["examples_per_second"]
    gen_rate = evaluation["timing"]["generation_examples_per_second"]
    mc_seconds = evaluation["timing"]["mc_seconds"]
    mc_rate = evaluation["metrics"]["mc_examples"] / mc_seconds if mc_seconds else None
    print(f"\nbench_tuning: {args.model}, target {args.target}, pool bigbench, cores {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}, torch threads (tiny) 1, python {platform.python_version()}")  # fmt: skip
    print(f"mixture: {manifest['examples']} examples from {len(manifest['tasks'])} tasks ({manifest['selector']})")
    print(f"training: {training['examples']} examples x {args.epochs} epochs, {training['steps']} steps, "
          f"loss {training['first_logged_loss']} -> {training['last_logged_loss']}")  # fmt: skip
    print()
    print(f"| {'step':<42} | {'seconds':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|")
    for row in rows:
        print(f"| {row['step']:<42} | {row['seconds']:>8.1f} |")
    print(f"| {'export -> tune -> evaluate (total)':<42} | {pipeline:>8.1f} |")
    print()
    print(f"| {'throughput':<42} | {'ex/s':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|")
    print(f"| {'tiny-t5 training (Trainer samples/s)':<42} | {train_rate:>8.1f} |")
    print(f"| {'evaluation: greedy generation':<42} | {gen_rate:>8.1f} |")
    if mc_rate:
        print(f"| {'evaluation: multiple-choice ranking':<42} | {mc_rate:>8.1f} |")
    metrics = evaluation["metrics"]
    print(
        f"\n{args.target}: exact_match={metrics['exact_match']} rougeL={metrics['rougeL']} mc_accuracy={metrics['mc_accuracy']}"
    )
    verdict = "PASS" if pipeline <= 600 else "FAIL"
    print(f"target: end-to-end within 600 s on 2 cores: {pipeline:.0f} s -> {verdict}")
    if args.json_out:
        results = {"rows": rows, "pipeline_seconds": pipeline, "total_seconds": total, "train_examples_per_second": train_rate,
                   "generation_examples_per_second": gen_rate, "mc_examples_per_second": mc_rate, "metrics": metrics,
                   "mixture_examples": manifest["examples"], "verdict": verdict}  # fmt: skip
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
