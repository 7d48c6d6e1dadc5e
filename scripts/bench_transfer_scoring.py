"""Benchmark: scoring every selector on a finished transfer matrix, cold and then cached.

Target: all selectors scored within 2 minutes on a finished matrix, with the uncertainty selector's
per-task scores already in its cache (``<cache>/uncertainty``; a first run of this script or of
``instr-select transfer score`` fills it). The cold run writes into a fresh folder, so every
selector's (S, T) scores are computed (tasks loaded, indexes built, examples embedded); the
cached run reads them back from that folder's ``scores/``. Prints seconds per selector and the
totals against the target. Example::

    .venv/bin/python scripts/bench_transfer_scoring.py runs/matrix --aligned-encoder indexes/default
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("matrix_dir")
    parser.add_argument("--selectors", default=None, help="Comma-separated (default: all).")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--aligned-encoder", default=None, help="Encoder or index folder (default: the default index).")
    parser.add_argument("--base-model", default=None, help="Uncertainty's model (default: the matrix's).")
    parser.add_argument("--out", default=None, help="Keep the reports here (default: a temporary folder).")
    parser.add_argument("--json", default=None, help="Also write the timings here.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from instr_select.transfer.evaluation import score_matrix
    from instr_select.transfer.selectors import SELECTORS, SelectorConfig

    selectors = args.selectors or ",".join(SELECTORS)
    config = SelectorConfig(aligned_encoder=args.aligned_encoder, base_model=args.base_model)
    with tempfile.TemporaryDirectory(prefix="bench-transfer-scoring-") as tmp:
        out = Path(args.out or tmp) / "selectors"
        runs = {}
        for label in ("cold", "cached"):
            start = time.perf_counter()
            run = score_matrix(args.matrix_dir, selectors, k=args.k, out=out, data_dir=args.data_dir, config=config)
            runs[label] = (time.perf_counter() - start, run)
    cold, cached = runs["cold"], runs["cached"]
    steps = list(dict.fromkeys([*cold[1].timings, *cached[1].timings]))
    report = cold[1].report
    print(
        f"matrix {args.matrix_dir}: {len(report['sources'])} sources x {len(report['targets'])} targets, "
        f"k={args.k}, model {report.get('model')}"
    )
    print("| step | cold (s) | cached (s) |\n| --- | ---: | ---: |")
    for step in steps:
        cells = []
        for _, run in (cold, cached):
            timing = run.timings.get(step)
            cells.append(
                "–" if timing is None else f"{timing['seconds']:.2f}" + (" (cache)" if timing["cached"] else "")
            )
        print(f"| {step} | {cells[0]} | {cells[1]} |")
    print(f"| **total (wall clock)** | **{cold[0]:.2f}** | **{cached[0]:.2f}** |")
    verdict = "meets" if cold[0] <= TARGET_SECONDS else "misses"
    print(
        f"\nTarget: every selector scored within {TARGET_SECONDS:.0f} s (uncertainty's task scores cached): "
        f"the cold run took {cold[0]:.1f} s, {verdict} it; re-scoring from scores/ took {cached[0]:.1f} s."
    )
    if args.json:
        data = {
            "matrix": args.matrix_dir,
            "selectors": selectors,
            "cold_seconds": cold[0],
            "cached_seconds": cached[0],
            "cold": cold[1].timings,
            "cached": cached[1].timings,
            "target_seconds": TARGET_SECONDS,
        }
        Path(args.json).write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
