"""Instruction-only rankings of a transfer matrix's sources, swept on its dev targets, reported on test.

Levers (issue "instruction retrieval that ranks the tasks that really transfer"): the encoder
(unaligned minilm / mpnet, the static models, the default index's aligned encoder, BM25), dense or
hybrid (fused with BM25), task cards on the indexed side (none, answer space, category, both;
instr_select.cards), the aggregation over a source's instructions (max, mean) and the weight of
the answer-fit re-ranking (0, 0.5, 1, 2; instr_select.retrieval.answer_fit). The query is
always the target's first instruction as written. Retrieval-of-Experts (reads 32 target examples)
and prompt uncertainty are the anchors; random is its exact expectation. ``matrix prior`` is not a
selector: it ranks the sources by their mean NLL transfer to the *other* targets of the matrix, so
it shows how much of transfer is a source's general effect rather than its fit to the target.

The rule, fixed before the sweep: the chosen candidate has the highest mean NDCG over the dev
targets on the nll view; a candidate within 0.005 of it that is simpler wins (fewer card fields,
then no answer fit before a smaller weight before a larger one, then max before mean, then dense
before hybrid). Test numbers are printed for every candidate but
never used to choose.

    python scripts/sweep_transfer_retrieval.py runs/transfer-default --split scripts/transfer_split.json

Scores are cached under ``--out`` (default MATRIX/sweep-retrieval); results.json and table.md go
there too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ENCODERS = ("minilm", "mpnet", "minilm-static", "mpnet-static", "aligned")
CARDS = ((), ("answer",), ("category",), ("answer", "category"))
AGGREGATES = ("max", "mean")
FITS = (0.0, 0.5, 1.0, 2.0)
ANCHORS = ("roe", "uncertainty")
TIE = 0.005


def candidates(encoders: list[str]) -> list[dict]:
    """Every (encoder, method, card fields, aggregate, answer fit); BM25 is the encoder-free method."""
    out = []
    for fit in FITS:
        for cards in CARDS:
            for aggregate in AGGREGATES:
                base = {"cards": cards, "aggregate": aggregate, "answer_fit": fit}
                out.append({"encoder": "bm25", "method": "bm25", **base})
                for encoder in encoders:
                    for method in ("dense", "hybrid"):
                        out.append({"encoder": encoder, "method": method, **base})
    return out


def name_of(c: dict) -> str:
    card = "+".join(c["cards"]) or "-"
    head = "bm25" if c["method"] == "bm25" else f"{c['encoder']} {c['method']}"
    fit = f" | fit {c['answer_fit']:g}" if c["answer_fit"] else ""
    return f"{head} | card {card} | {c['aggregate']}{fit}"


def simplicity(c: dict) -> tuple:
    return (len(c["cards"]), c["answer_fit"], AGGREGATES.index(c["aggregate"]), c["method"] == "hybrid")


def selector_and_config(c: dict, base):
    """The score-selectors selector and config that compute candidate ``c``."""
    from dataclasses import replace

    from instr_select.models import resolve_model
    from instr_select.transfer.selectors import aligned_encoder_path

    suffix = "+card" if c["cards"] else ""
    fields = c["cards"] or base.card_fields
    base = replace(base, answer_fit=c["answer_fit"])
    if c["method"] == "bm25":
        return "bm25" + suffix, replace(base, card_fields=fields, aggregate=c["aggregate"])
    path = str(aligned_encoder_path(base.aligned_encoder)) if c["encoder"] == "aligned" else resolve_model(c["encoder"])
    config = replace(base, instruction_encoder=path, aligned_encoder=path, card_fields=fields, aggregate=c["aggregate"])
    return ("instruction" if c["method"] == "dense" else "hybrid") + suffix, config


def leave_one_out_prior(truth):
    """(S, T): each source's mean transfer over every target but the column's own."""
    import numpy as np

    finite = np.isfinite(truth)
    total, count = np.where(finite, truth, 0.0).sum(axis=1, keepdims=True), finite.sum(axis=1, keepdims=True)
    rest = (total - np.where(finite, truth, 0.0)) / np.maximum(count - finite, 1)
    return np.where(count - finite > 0, rest, np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matrix_dir", type=Path)
    parser.add_argument("--split", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--encoders", nargs="*", default=list(ENCODERS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from instr_select.atomic import write_json, write_text
    from instr_select.transfer.evaluation import matrix_base_model, read_scores, score_key, write_scores
    from instr_select.transfer.matrix import TransferMatrix
    from instr_select.transfer.scoring import score_selectors
    from instr_select.transfer.selectors import SelectorConfig, SourceScorer, selector_settings
    from instr_select.transfer.split import read_split
    from instr_select.tuning.evaluate import load_tasks
    from instr_select.uncertainty.pool import default_cache_dir

    matrix = TransferMatrix.load(args.matrix_dir)
    sides = read_split(args.split, matrix.targets)
    out = args.out or args.matrix_dir / "sweep-retrieval"
    folder = out / "scores"
    base = SelectorConfig(base_model=matrix_base_model(args.matrix_dir, matrix), seed=args.seed)
    sources, targets = load_tasks(matrix.sources, args.data_dir), load_tasks(matrix.targets, args.data_dir)
    shape = (len(sources), len(targets))
    plan = [(name_of(c), c, *selector_and_config(c, base)) for c in candidates(args.encoders)]
    plan += [(name, None, name, base) for name in ANCHORS]
    scorers: dict[tuple, SourceScorer] = {}
    scores, seconds = {"matrix prior": leave_one_out_prior(matrix.transfer("nll"))}, {}
    for name, _, selector, config in plan:
        settings = selector_settings(selector, config)
        key = score_key(matrix.sources, matrix.targets, settings)
        stem = "".join(ch if ch.isalnum() else "_" for ch in name)
        found = read_scores(folder, stem, key, shape)
        if found is None:
            started = time.perf_counter()
            # one scorer per encoder and card fields: its indexes (and loaded model) serve every
            # method and aggregate, which only the search reads
            group = (config.instruction_encoder, config.aligned_encoder, tuple(config.card_fields))
            if group not in scorers:
                scorers[group] = SourceScorer(sources, targets, config, uncertainty_cache=default_cache_dir())
            scorer = scorers[group]
            scorer.config = config
            found = scorer.scores(selector)
            seconds[name] = time.perf_counter() - started
            write_scores(folder, stem, key, found, {"settings": settings, "seconds": round(seconds[name], 3)})
            print(f"{name}: {seconds[name]:.1f} s", file=sys.stderr)
        scores[name] = np.asarray(found)
    parts = {side: score_selectors(matrix, scores, k=args.k, seed=args.seed, targets=members)
             for side, members in sides.items()}  # fmt: skip

    def mean(side: str, view: str, name: str, metric: str) -> float:
        return parts[side]["views"][view]["selectors"][name]["summary"][metric]["mean"]

    def diff(side: str, view: str, name: str, metric: str) -> dict:
        return parts[side]["views"][view]["selectors"][name]["vs_random"][metric]

    instruction_only = [(name, c) for name, c, _, _ in plan if c is not None]
    best = max(mean("dev", "nll", n, "ndcg") for n, _ in instruction_only)
    near = [(n, c) for n, c in instruction_only if mean("dev", "nll", n, "ndcg") >= best - TIE]
    chosen = min(near, key=lambda item: (simplicity(item[1]), -mean("dev", "nll", item[0], "ndcg")))[0]

    def row(name: str) -> str:
        cells = [name + (" **(chosen)**" if name == chosen else "")]
        for side in ("dev", "test"):
            for view in ("nll", "accuracy"):
                cells.append(f"{mean(side, view, name, 'ndcg'):.3f}")
            cells.append(f"{mean(side, 'nll', name, 'regret'):.3f}")
        d = diff("test", "nll", name, "ndcg")
        cells.append(f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] p {d['p_random']:.2g}")
        return "| " + " | ".join(cells) + " |"

    n_dev, n_test = len(sides["dev"]), len(sides["test"])
    lines = [
        f"| candidate | dev NDCG nll | dev NDCG acc | dev Regret@{args.k} nll | test NDCG nll | test NDCG acc "
        f"| test Regret@{args.k} nll | test Δ NDCG nll vs random [95% CI] |",
        "|" + " --- |" * 8,
        "| random (expectation) | "
        + " | ".join(
            f"{mean(s, v, 'random', m):.3f}"
            for s in ("dev", "test")
            for v, m in (("nll", "ndcg"), ("accuracy", "ndcg"), ("nll", "regret"))
        )
        + " | - |",  # fmt: skip
    ]
    ordered = sorted(scores, key=lambda n: -mean("dev", "nll", n, "ndcg"))
    lines += [row(name) for name in ordered]
    text = (
        f"Dev: {n_dev} targets, test: {n_test} targets ({args.split}); k = {args.k}; sorted by dev NDCG (nll).\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print(text)
    print(f"chosen on dev: {chosen}")
    write_text(out / "table.md", text + f"\nchosen on dev: {chosen}\n")
    write_json(out / "results.json", {"chosen": chosen, "split": sides, "k": args.k, "seed": args.seed,
                                      "candidates": {n: c for n, c, _, _ in plan if c is not None},
                                      "dev": parts["dev"], "test": parts["test"]}, indent=None)  # fmt: skip


if __name__ == "__main__":
    main()
