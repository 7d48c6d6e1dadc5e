#!/usr/bin/env bash
# The default comparison experiment of the README ("Comparison"): SmolLM2-135M-Instruct fully
# fine-tuned on each selector's k = 5 tasks (16 examples each, 8 steps of batch 8), six targets
# (scripts/default_targets.txt), pool = BIG-bench tasks and subtasks + NIV2 task files +
# Self-Instruct seed tasks, selectors random / bm25 / instruction (MiniLM) / uncertainty, 3 seeds.
# Sized for about 90 minutes on 2 idle cores. Resumable: run it again to continue; the finished
# cells so far: `instr-select compare --report-only --out runs/compare-default`.
# Extra arguments are passed on (e.g. --seeds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" -m instr_select.cli compare \
  --targets scripts/default_targets.txt \
  --pool bigbench --pool niv2 --pool self_instruct@seed \
  --selectors random,bm25,instruction,uncertainty --base-encoder minilm \
  --model smollm2-135m --method full \
  --seeds 3 -k 5 --examples-per-task 16 --max-steps 8 --batch-size 8 \
  --eval-examples 24 --max-source-length 160 \
  --uncertainty-candidates 24 --uncertainty-instances 5 --uncertainty-perturbations 5 \
  --out "${OUT:-runs/compare-default}" "$@"
