#!/usr/bin/env bash
# The default transfer matrix (docs/transfer.md): SmolLM2-135M-Instruct fully fine-tuned on each of
# 26 source tasks alone (scripts/transfer_sources.txt; 8 steps of batch 8, prompts cut to 128 tokens),
# every one of 21 targets (scripts/transfer_targets.txt) scored on 10 fixed examples before and after;
# seed 0 for every source and seed 1 for the first 6 (split-half reliability). Then every selector is
# scored against it, on all targets and on the dev and test targets of scripts/transfer_split.json.
# Resumable: run it again to continue. Shards: SHARD=1/2 on one machine or process, SHARD=2/2 on
# another (same OUT folder), then once more without SHARD to merge and score.
# Extra arguments go to `instr-select transfer` (e.g. --model tiny-gpt2 for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI="${CLI:-.venv/bin/instr-select}"
OUT="${OUT:-runs/transfer-default}"
"$CLI" transfer \
  --sources scripts/transfer_sources.txt --targets scripts/transfer_targets.txt \
  --seeds 0,1 --extra-seed-sources 6 \
  --out "$OUT" ${SHARD:+--shard "$SHARD"} "$@"
if [ -n "${SHARD:-}" ]; then exit 0; fi
"$CLI" build-default  # the aligned selector reads the default index's encoder (skipped when up to date)
"$CLI" score-selectors "$OUT" --split scripts/transfer_split.json  # dev/test targets, drawn before any scoring
