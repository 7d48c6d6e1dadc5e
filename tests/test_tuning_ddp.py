"""Data-parallel tuning: the same `tune` command under torchrun, 2 CPU processes (gloo), tiny model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tune_runs_data_parallel_on_two_cpu_processes(tmp_path, data_dir):
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("bigbench:navigate\n")
    mix, out = tmp_path / "mix", tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    export = [sys.executable, "-m", "instr_select.cli", "export", "--tasks", str(tasks), "--out", str(mix),
              "--max-per-task", "16", "--format", "hf", "--data-dir", str(data_dir)]  # fmt: skip
    assert subprocess.run(export, env=env, capture_output=True, text=True).returncode == 0
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
        "--master-port", str(_free_port()), "-m", "instr_select.cli", "tune", str(mix), "--model", "tiny-gpt2",
        "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--quiet",
    ]  # fmt: skip
    proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "training_info.json").read_text())
    assert info["world_size"] == 2  # two processes, the Trainer's own DDP
    assert info["steps"] == 2
    # each step saw batch 2 on each of the 2 processes: 8 examples in 2 steps
    assert info["examples_seen"] == 8
    assert proc.stdout.count("trained tiny-gpt2") == 1  # only the main process reports and saves


def test_uncertainty_scoring_splits_the_pool_over_two_processes(tmp_path):
    """`select` under torchrun: each process scores half the pool into the shared cache; the selection
    equals the one-process run's."""
    rows = [
        {"task_id": f"task{i}", "instruction": f"Answer the question about topic {i} in one short word",
         "examples": [{"input": f"question {i} {k}", "output": f"answer{k}"} for k in range(4)]}
        for i in range(4)
    ]  # fmt: skip
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = ["select", "--pool", f"jsonl={pool}", "--model", "tiny-t5", "-k", "4", "--n-instances", "2",
            "--perturbations", "2", "--max-new-tokens", "3", "--quiet"]  # fmt: skip
    single = [sys.executable, "-m", "instr_select.cli", *args, "--cache-dir", str(tmp_path / "c1"),
              "--scores", str(tmp_path / "one.json")]  # fmt: skip
    assert subprocess.run(single, env=env, capture_output=True, text=True, timeout=300).returncode == 0
    launch = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
        "--master-port", str(_free_port()), "-m", "instr_select.cli", *args, "--cache-dir", str(tmp_path / "c2"),
        "--scores", str(tmp_path / "two.json"),
    ]  # fmt: skip
    proc = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())["scores"]
    two = json.loads((tmp_path / "two.json").read_text())["scores"]
    assert [(s["key"], s["pu"], s["pp"]) for s in two] == [(s["key"], s["pu"], s["pp"]) for s in one]
    assert len(list((tmp_path / "c2").rglob("*.json"))) == 4  # every task scored once, by one of the processes
    assert proc.stdout.count("jsonl:task") == 4  # only the main process prints the ranking
