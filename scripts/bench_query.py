"""Query benchmarks on the default index: cold CLI query, warm query, build speed, peak memory.

Targets follow the index's query path: a static encoder (numpy) answers a cold query in <= 200 ms,
a transformer through ONNX Runtime in <= 500 ms; both within 300 MB.

Prints one table of medians measured in this run, with the targets and the ratio to a plain
"load sentence-transformers model + faiss search" script timed in the same run.

    python scripts/bench_query.py [--index DIR (default: the one build-default writes)] [--cold-runs 7] [--baseline-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERY = "Decide whether the second sentence follows from the first."

BASELINE = """
import sys, faiss
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], local_files_only=True, device="cpu")
index = faiss.read_index(sys.argv[2])
vector = model.encode([sys.argv[3]], normalize_embeddings=True)
print(index.search(vector, 10)[1][0][:3])
"""


def run_timed(argv: list[str], extra_env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one subprocess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(extra_env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def bench(args: argparse.Namespace) -> None:
    from instr_select.index import InstructionIndex, build_index
    from instr_select.loaders import load_sources
    from instr_select.retrieval import Retriever

    index_dir = Path(args.index)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    static = manifest["encoder"]["query_path"] == "numpy"
    cold_target = 0.2 if static else 0.5  # the budgets: static encoder, transformer without torch
    rows = []

    query = [sys.executable, "-m", "instr_select.cli", "query", QUERY, "--index", str(index_dir), "--json"]
    run_timed(query)  # the first query of an index remembers its verified hashes (instr_select.hashing.HashMemo)
    cold = [run_timed(query) for _ in range(args.cold_runs)]
    cold_s = statistics.median(w for w, _ in cold)
    cold_mb = max(m for _, m in cold)
    rows.append(
        (
            "cold `instr-select query` (subprocess)",
            f"{cold_s * 1000:.0f} ms",
            f"<= {cold_target * 1000:.0f} ms",
            cold_s <= cold_target,
        )
    )
    rows.append(("cold query peak RSS", f"{cold_mb:.0f} MB", "<= 300 MB", cold_mb <= 300))
    first = []
    for _ in range(args.cold_runs):
        with tempfile.TemporaryDirectory() as empty:  # no remembered hashes: every file is hashed
            first.append(run_timed(query, {"INSTR_SELECT_CACHE": empty})[0])
    rows.append(
        ("cold query, nothing remembered (hashes every file)", f"{statistics.median(first) * 1000:.0f} ms", "", None)
    )

    started = time.perf_counter()
    index = InstructionIndex.load(index_dir)
    load_s = time.perf_counter() - started
    retriever = Retriever(index)
    retriever.search(QUERY)
    warm = []
    for _ in range(args.warm_runs):
        t0 = time.perf_counter()
        retriever.search(QUERY, k=10)
        warm.append(time.perf_counter() - t0)
    warm_s = statistics.median(warm)
    rows.append(("index load (in process)", f"{load_s * 1000:.0f} ms", "", None))
    warm_target = ("<= 1 ms", warm_s <= 0.001) if static else ("", None)  # a transformer's forward pass: no target
    rows.append(("warm query, dense max k=10 (in process)", f"{warm_s * 1000:.3f} ms", *warm_target))
    from instr_select.retrieval.defaults import DEFAULT_AGGREGATE, resolve_answer_fit

    fit = resolve_answer_fit(None, index)
    others = {
        f"dense {DEFAULT_AGGREGATE} + answer fit {fit:g} (the query default)": Retriever(
            index, "dense", DEFAULT_AGGREGATE, fit
        ),
        "bm25": Retriever(index, "bm25"),
        "hybrid": Retriever(index, "hybrid"),
    }
    for label, other in others.items():
        other.search(QUERY)
        times = []
        for _ in range(max(20, args.warm_runs // 10)):
            t0 = time.perf_counter()
            other.search(QUERY, k=10)
            times.append(time.perf_counter() - t0)
        rows.append((f"warm query, {label} (in process)", f"{statistics.median(times) * 1000:.3f} ms", "", None))

    tasks = load_sources(
        manifest["extra"].get("recipe", {}).get("sources") or sorted(manifest["counts"]["meta_datasets"]),
        data_dir=args.data_dir,
    )
    encoder_dir = index_dir / "encoder"
    n = sum(len(t.instructions) for t in tasks)
    builds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.build_runs):
            t0 = time.perf_counter()
            build_index(tasks, encoder_dir, Path(tmp) / f"b{i}", command="bench")
            builds.append(time.perf_counter() - t0)
    rate = n / statistics.median(builds)
    build_target = (">= 2,000/s", rate >= 2000) if static else ("", None)
    rows.append((f"index build ({n:,} instructions, incl. BM25 + writes)", f"{rate:,.0f} instr/s", *build_target))

    baseline = [
        run_timed([sys.executable, "-c", BASELINE, str(encoder_dir), str(index_dir / "faiss.index"), QUERY])
        for _ in range(args.baseline_runs)
    ]
    base_s = statistics.median(w for w, _ in baseline)
    base_mb = max(m for _, m in baseline)
    rows.append(("baseline: load ST model + faiss search (subprocess)", f"{base_s * 1000:.0f} ms", "", None))
    rows.append(("baseline peak RSS", f"{base_mb:.0f} MB", "", None))
    rows.append(("speed-up of cold query over baseline", f"{base_s / cold_s:.1f}x", "", None))

    print(
        f"index {index_dir}: {manifest['counts']['instructions']:,} instructions, {manifest['counts']['tasks']:,} tasks, "
        f"dim {manifest['dim']}, {manifest['factory']}; cold runs {args.cold_runs}, warm runs {args.warm_runs}, "
        f"build runs {args.build_runs}, baseline runs {args.baseline_runs}; {os.cpu_count()} CPUs"
    )
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | median | target | met |")
    print(f"| {'-' * width} | --- | --- | --- |")
    for name, value, target, met in rows:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"| {name:<{width}} | {value} | {target} | {mark} |")


def main() -> None:
    from instr_select.paths import default_index_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(default_index_dir()))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--warm-runs", type=int, default=500)
    parser.add_argument("--build-runs", type=int, default=3)
    parser.add_argument("--baseline-runs", type=int, default=3)
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
