"""Candidate encoders on held-out splits that look like real use: quality beside cost, in one table.

Candidates: BM25; the pretrained encoders of the model registry (``minilm-static``,
``mpnet-static``, ``minilm``, ``mpnet``) unaligned and aligned (``--align BASE=SETTING[@W]``,
settings of scripts/sweep_alignment.py, ``recipe`` for the packaged recipe or a recipe file,
``W`` the share of base weights kept), each dense and fused
with BM25 (hybrid). Splits: instr_select.evaluation.candidates (unseen P3 templates counted by
dataset, guard off; unseen NIV2 tasks against their categories; unseen BIG-bench tasks against
their keywords); the table reports the test part, settings are chosen on the dev part.
Cost: index build (embedding + BM25 + writes) on the evaluation collection, alignment time, cold
``instr-select query`` median and its peak memory.

    python scripts/bench_retrieval.py [--bases minilm-static minilm ...] [--align minilm-static=mnrl-lr0.005-e1@0.5 minilm=recipe]
        [--matrix runs/transfer-default --split scripts/transfer_split.json]

With ``--matrix`` (a finished transfer matrix, docs/transfer.md) and ``--split``, each candidate
also ranks the matrix's sources for each target (the target's instruction as the query) and the
table gains its mean NDCG against the measured transfer (NLL view) on the dev and test targets and its test Regret@5;
Retrieval-of-Experts, which reads target examples, is printed below as the anchor.

Artefacts (indexes, aligned encoders, per-candidate scores) go under ``--out`` (default
runs/bench_retrieval, ignored by git); re-running reuses finished candidates unless ``--fresh``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_query import QUERY  # noqa: E402

from instr_select.evaluation.candidates import candidate_table, parse_method, prepare_splits, score_index  # noqa: E402

# The child reports its own peak (VmHWM of its post-exec address space): ru_maxrss of a child forked
# from this large process would count the parent's pages copied before exec.
PEAK = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "    sys.stderr.write('PEAK_KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['instr-select', *sys.argv[1:]]\n"
    "runpy.run_module('instr_select.cli', run_name='__main__')\n"
)


def cold_query(index_dir: Path, runs: int) -> tuple[float, float]:
    """Median wall seconds of a cold ``instr-select query`` and its peak resident memory (MB).

    The index's files must be older than the hash memo's 2-second window (a file written within it
    is rehashed on every load), and one untimed query fills the memo, as a user's first query does.
    """
    newest = max(p.stat().st_mtime for p in index_dir.rglob("*") if p.is_file())
    time.sleep(max(0.0, newest + 2.1 - time.time()))
    subprocess.run([sys.executable, "-m", "instr_select.cli", "query", QUERY, "--index", str(index_dir)],
                   capture_output=True, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    walls, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, "query", QUERY, "--index", str(index_dir), "--json"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"query on {index_dir} failed: {proc.stderr[-500:]}")
        peaks.append(int(proc.stderr.rsplit("PEAK_KB ", 1)[1].split()[0]) / 1024)
    return statistics.median(walls), max(peaks)


def aligned_encoder(base: str, spec: str, splits, out: Path, seed: int) -> tuple[Path, float]:
    """Align ``base`` with a sweep setting on the training part only; ``@W`` keeps a share W of the base.

    ``recipe``: the packaged recipe named after the base, exactly (``instr_select/recipes/BASE.json``);
    a path ending in ``.json``: that recipe file (e.g. ``scripts/recipes/minilm-shared-source.json``).
    """
    from dataclasses import replace

    from sweep_alignment import SETTINGS

    from instr_select.encoder.train import AlignConfig, train_encoder
    from instr_select.index.default import alignment_config, read_recipe

    setting, _, weight = spec.partition("@")
    label = Path(setting).stem if is_recipe_file(setting) else setting
    folder = out / "encoders" / f"{base}-{label}{recipe_tag(base, setting)}-{weight or '0'}"
    started = time.perf_counter()
    if folder.is_dir():  # trained before (e.g. by the sweep): its own recorded training time
        return folder, json.loads((folder / "training_info.json").read_text())["seconds"]
    if setting == "recipe" or is_recipe_file(setting):
        config, _ = alignment_config(read_recipe(setting if is_recipe_file(setting) else base)[0])
        config = replace(config, base_weight=float(weight)) if weight else config
    else:
        config = AlignConfig(seed=seed, base_weight=float(weight or 0), **SETTINGS[setting])
    train_encoder(splits.train, base, folder, config, progress=lambda line: None)
    return folder, time.perf_counter() - started


def is_recipe_file(setting: str) -> bool:
    return setting.split("@")[0].endswith(".json")


def recipe_tag(base: str, setting: str | None) -> str:
    """``-HASH`` of the recipe of a ``recipe`` or recipe-file candidate (so a changed recipe is
    aligned, indexed and scored anew), else nothing."""
    from instr_select.index.default import read_recipe, recipe_hash

    name = (setting or "").split("@")[0]
    recipe = name if is_recipe_file(name) else base if name == "recipe" else None
    return f"-{recipe_hash(read_recipe(recipe)[0])[:8]}" if recipe else ""


def methods_of(base_methods: tuple[str, ...], aggregates: list[str], fits: list[float]) -> tuple[str, ...]:
    """The scored methods: each base method as is (max, no answer fit), and dense/hybrid with each
    other aggregate and answer-fit weight, named like ``"dense mean fit 0.5"``."""
    out = list(base_methods)
    for aggregate in dict.fromkeys(["max", *aggregates]):
        for fit in dict.fromkeys([0.0, *fits]):
            if aggregate == "max" and not fit:
                continue
            tail = (f" {aggregate}" if aggregate != "max" else "") + (f" fit {fit:g}" if fit else "")
            out += [f"{m}{tail}" for m in base_methods if m != "bm25"]
    return tuple(out)


def evaluate(name: str, encoder, splits, out: Path, methods, cold_runs: int, row: dict | None = None) -> dict:
    """Build (or reuse) the candidate's index and score the ``methods`` that ``row`` lacks."""
    from instr_select.index import InstructionIndex, build_index

    index_dir = out / "indexes" / name
    if (index_dir / "manifest.json").is_file():  # built by an interrupted run: reuse it and its build time
        build_s = json.loads((index_dir / "manifest.json").read_text())["extra"]["build_seconds"]
        stale = not InstructionIndex.load(index_dir).records_answer_lengths
    if not (index_dir / "manifest.json").is_file() or stale:  # stale: built before answer lengths were recorded
        shutil.rmtree(index_dir, ignore_errors=True)
        started = time.perf_counter()
        build_index(splits.index, encoder, index_dir, command=f"bench_retrieval {name}", text_view="readable")
        build_s = time.perf_counter() - started
    index = InstructionIndex.load(index_dir)
    row = row or {}
    scores = dict(row.get("scores", {}))
    for method in methods:
        if method not in scores:
            setting = parse_method(method)
            scores[method] = score_index(
                index,
                splits,
                setting.method,
                aggregate=setting.aggregate,
                answer_fit=setting.answer_fit,
                normalise=setting.normalise,
            )
    if "cold_query_s" in row:
        cold_s, cold_mb = row["cold_query_s"], row["query_peak_mb"]
    else:
        cold_s, cold_mb = cold_query(index_dir, cold_runs)
    return {
        **row,
        "scores": scores,
        "build_s": row.get("build_s", round(build_s, 1)),
        "cold_query_s": round(cold_s, 3),
        "query_peak_mb": round(cold_mb),
        "query_path": index.manifest.encoder["query_path"],
    }


def transfer_columns(encoder, methods, matrix_dir: Path, sides: dict, tasks: tuple) -> dict:
    """{method: {"dev": NDCG, "test": NDCG}}: the candidate's ranking of the matrix's sources (NLL view)."""
    from dataclasses import replace

    from instr_select.models import resolve_model
    from instr_select.transfer.matrix import TransferMatrix
    from instr_select.transfer.scoring import score_selectors
    from instr_select.transfer.selectors import SelectorConfig, SourceScorer

    matrix = TransferMatrix.load(matrix_dir)
    path = resolve_model(str(encoder))
    base = SelectorConfig(instruction_encoder=path, aligned_encoder=path)
    scorer = SourceScorer(*tasks, base)
    selector = {"dense": "instruction", "hybrid": "hybrid", "bm25": "bm25", "roe": "roe"}
    scores = {}
    for method in methods:
        setting = parse_method(method)
        if setting.normalise != "none":  # its statistics need the whole index, not the matrix's sources alone
            raise SystemExit(f"{method}: normalised rankings of the matrix are scripts/sweep_score_normalisation.py's")
        scorer.config = replace(base, aggregate=setting.aggregate, answer_fit=setting.answer_fit)
        scores[method] = scorer.scores(selector[setting.method])
    out: dict = {method: {} for method in methods}
    for side, members in sides.items():
        report = score_selectors(matrix, scores, k=5, targets=members)["views"]["nll"]["selectors"]
        for method in methods:
            out[method][side] = round(report[method]["summary"]["ndcg"]["mean"], 4)
            out[method][f"{side} regret"] = round(report[method]["summary"]["regret"]["mean"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bases", nargs="*", default=["minilm-static", "mpnet-static", "minilm", "mpnet"])
    parser.add_argument("--align", nargs="*", default=[], metavar="BASE=SETTING[@W]")
    parser.add_argument("--out", default="runs/bench_retrieval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--matrix", type=Path, default=None, help="A finished transfer matrix: transfer columns.")
    parser.add_argument("--split", type=Path, default=None, help="Its dev/test split (with --matrix).")
    parser.add_argument(
        "--aggregate",
        nargs="*",
        default=[],
        choices=["max", "mean", "top2", "vote"],
        help="Also score dense and hybrid with these aggregates over a task's instructions.",
    )
    parser.add_argument("--answer-fit", type=float, nargs="*", default=[], metavar="W",
                        help="Also score dense and hybrid re-ranked by answer fit of weight W.")  # fmt: skip
    args = parser.parse_args()
    transfer = None
    if args.matrix is not None:
        if args.split is None:
            raise SystemExit("--matrix needs --split (instr-select split-targets)")
        from instr_select.transfer.matrix import TransferMatrix
        from instr_select.transfer.split import read_split
        from instr_select.tuning.evaluate import load_tasks

        matrix = TransferMatrix.load(args.matrix)
        sides = read_split(args.split, matrix.targets)
        transfer = (args.matrix, sides, (load_tasks(matrix.sources), load_tasks(matrix.targets)))
    out = Path(args.out)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    splits = prepare_splits(seed=args.seed)
    plan = [(base, base, None) for base in args.bases]
    for spec in args.align:
        base, setting = spec.split("=", 1)
        name, at, weight = setting.partition("@")
        plan.append((f"{base} aligned {Path(name).stem}{at}{weight}", base, setting))
    rows: dict[str, dict] = {}
    for name, base, setting in plan:
        stem = name.replace(" ", "_") + recipe_tag(base, setting)
        cache = out / "scores" / f"{stem}.json"
        base_methods = ("dense", "hybrid", "bm25") if not rows else ("dense", "hybrid")
        methods = methods_of(base_methods, args.aggregate, args.answer_fit)
        row = json.loads(cache.read_text()) if cache.is_file() and not args.fresh else {}
        if not {b.name for b in splits.benchmarks} <= set(row.get("scores", {}).get("dense", {})):
            row.pop("scores", None)  # scored before a split existed: score again (the costs stay)
        missing = [m for m in methods if m not in row.get("scores", {})]
        # a method without its transfer columns, or measured before Regret@5 was kept
        moved = [m for m in methods if transfer is not None and "test regret" not in row.get("transfer", {}).get(m, {})]
        untimed = "cold_query_s" not in row
        if missing or moved or untimed:
            encoder, align_s = (
                (base, 0.0) if setting is None else aligned_encoder(base, setting, splits, out, args.seed)
            )
            if missing or untimed:
                row = evaluate(stem, encoder, splits, out, methods, args.cold_runs, row)
                row.setdefault("align_s", round(align_s, 1))
            if moved:
                row["transfer"] = {**row.get("transfer", {}), **transfer_columns(encoder, tuple(moved), *transfer)}
            cache.write_text(json.dumps(row, indent=2))
            print(f"done {name}: {json.dumps({k: v for k, v in row.items() if k != 'scores'})}", file=sys.stderr)
        rows[name] = {**row, "scores": {m: row["scores"][m] for m in methods if m in row["scores"]}}
    print_table(rows, splits, transfer is not None)
    if transfer is not None and plan:
        roe = transfer_columns(plan[0][1], ("roe",), *transfer)["roe"]
        print(f"\nanchor: Retrieval-of-Experts (reads 32 examples of each target), transfer NDCG "
              f"dev {roe['dev']:.3f} / test {roe['test']:.3f}, test Regret@5 {roe['test regret']:.3f}")  # fmt: skip


def print_table(rows: dict[str, dict], splits, with_transfer: bool = False) -> None:
    def cost(name: str, method: str) -> list[str]:
        moved = rows[name].get("transfer", {}).get(method)
        cells = [f"{moved['dev']:.3f} / {moved['test']:.3f}", f"{moved['test regret']:.3f}"] if moved else ["-", "-"]
        cells = cells if with_transfer else []
        if method == "bm25":  # built inside that candidate's index; its cold query was not timed alone
            return [*cells, "-", "-", "-", "-", "bm25s"]
        row = rows[name]
        return [
            *cells,
            f"{row['build_s']:.0f}",
            f"{row['align_s']:.0f}",
            f"{row['cold_query_s'] * 1000:.0f}",
            f"{row['query_peak_mb']}",
            row["query_path"],
        ]

    head = ("build s", "align s", "cold query ms", "query MB", "query path")
    if with_transfer:
        head = ("transfer NDCG dev / test", "transfer test Regret@5", *head)
    print(candidate_table({name: row["scores"] for name, row in rows.items()}, splits, head, cost))


if __name__ == "__main__":
    main()
