#!/usr/bin/env bash
# The default comparison experiment of the README: BBH targets, a pool of BIG-bench tasks and
# subtasks with examples + the NIV2 task files + the Self-Instruct seed tasks, the tiny default
# model, every selector, 3 seeds. Resumable: run it again to continue an interrupted run.
# Extra arguments are passed on (e.g. --model ./my-t5 for a real model on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/instr-select compare \
  --targets scripts/bbh_targets.txt \
  --pool bigbench --pool niv2 --pool self_instruct@seed \
  --selectors random,bm25,instruction,aligned,uncertainty \
  --seeds 3 -k 5 --model tiny-t5 \
  --out "${OUT:-runs/compare-default}" "$@"
