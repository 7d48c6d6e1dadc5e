"""The transfer sweep's choice with the aligned encoder's own noise averaged out.

An aligned encoder is one draw of its recipe's randomness (pair sampling, batch order, dropout):
two draws of the same recipe can order candidates that differ by less than the sweep's tie (0.005
dev NDCG) either way. This script scores every aligned candidate of
``scripts/sweep_transfer_retrieval.py`` (dense and hybrid, each card set, aggregate and answer-fit
weight) with several encoders of the recipe (``--encoders``: encoder or index folders, e.g. the
recipe aligned with seeds 0, 1, 2), averages each candidate's dev and test means over them, and
applies the sweep's rule (highest dev NDCG on the nll view; within 0.005 the simpler candidate) to
those averages together with the other candidates of the sweep's results (which have no encoder noise).

    python scripts/transfer_alignment_seeds.py runs/transfer-default --split scripts/transfer_split.json \
        --sweep runs/transfer-default/sweep-retrieval --encoders indexes/default runs/seed1 runs/seed2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from sweep_transfer_retrieval import TIE, candidates, name_of, selector_and_config, simplicity  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matrix_dir", type=Path)
    parser.add_argument("--split", required=True, type=Path)
    parser.add_argument("--sweep", required=True, type=Path, help="the sweep's output folder (its results.json)")
    parser.add_argument("--encoders", nargs="+", required=True, type=Path)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()

    from instr_select.transfer.matrix import TransferMatrix
    from instr_select.transfer.metrics import metric
    from instr_select.transfer.scoring import view_columns
    from instr_select.transfer.selectors import SelectorConfig, SourceScorer, aligned_encoder_path
    from instr_select.transfer.split import read_split
    from instr_select.tuning.evaluate import load_tasks

    matrix = TransferMatrix.load(args.matrix_dir)
    sides = read_split(args.split, matrix.targets)
    sweep = json.loads((args.sweep / "results.json").read_text())
    sources, targets = load_tasks(matrix.sources, args.data_dir), load_tasks(matrix.targets, args.data_dir)
    truth = matrix.transfer("nll")
    columns = {side: view_columns(matrix, "nll", members) for side, members in sides.items()}

    def means(values) -> dict[str, float]:  # means only: score_selectors' paired tests cost seconds per candidate
        return {f"{side} {m}": statistics.fmean(metric(m, values[:, j], truth[:, j], args.k) for j in cols)
                for side, cols in columns.items() for m in ("ndcg", "regret")}  # fmt: skip

    aligned = [c for c in candidates(["aligned"]) if c["encoder"] == "aligned"]
    per_encoder: dict[str, list[dict[str, float]]] = {name_of(c): [] for c in aligned}
    for folder in args.encoders:
        path = str(aligned_encoder_path(folder))
        base = SelectorConfig(aligned_encoder=path, seed=0)
        scorers: dict[tuple, SourceScorer] = {}
        for c in aligned:
            selector, config = selector_and_config(c, base)
            group = tuple(config.card_fields)
            if group not in scorers:
                scorers[group] = SourceScorer(sources, targets, config)
            scorers[group].config = replace(config)
            per_encoder[name_of(c)].append(means(scorers[group].scores(selector)))
        print(f"scored {len(aligned)} aligned candidates with {folder}", file=sys.stderr)

    def sweep_mean(side: str, name: str, m: str) -> float:
        return sweep[side]["views"]["nll"]["selectors"][name]["summary"][m]["mean"]

    rows = {
        name: {key: statistics.fmean(r[key] for r in runs) for key in runs[0]} for name, runs in per_encoder.items()
    }
    pool = dict(rows)
    for name, c in sweep["candidates"].items():
        if c["encoder"] != "aligned":
            pool[name] = {f"{s} {m}": sweep_mean(s, name, m) for s in ("dev", "test") for m in ("ndcg", "regret")}
    spec = {n: {**c, "cards": tuple(c["cards"])} for n, c in sweep["candidates"].items()} | {
        name_of(c): c for c in aligned
    }
    best = max(v["dev ndcg"] for v in pool.values())
    near = [n for n, v in pool.items() if v["dev ndcg"] >= best - TIE]
    chosen = min(near, key=lambda n: (simplicity(spec[n]), -pool[n]["dev ndcg"]))

    labels = [str(f) for f in args.encoders]
    print(f"aligned candidates over {len(labels)} encoders ({', '.join(labels)}); "
          f"dev {len(sides['dev'])} / test {len(sides['test'])} targets, k = {args.k}\n")  # fmt: skip
    print(
        "| candidate | dev NDCG per encoder | dev NDCG mean | dev Regret@5 mean | test NDCG mean | test Regret@5 mean |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name in sorted(rows, key=lambda n: -rows[n]["dev ndcg"]):
        each = " / ".join(f"{r['dev ndcg']:.3f}" for r in per_encoder[name])
        r = rows[name]
        mark = " **(chosen)**" if name == chosen else ""
        print(f"| {name}{mark} | {each} | {r['dev ndcg']:.3f} | {r['dev regret']:.3f} | {r['test ndcg']:.3f} | {r['test regret']:.3f} |")  # fmt: skip
    print(
        f"\nbest other candidate on dev: {max((n for n in pool if n not in rows), key=lambda n: pool[n]['dev ndcg'])}"
    )
    print(f"chosen on dev (averaged over the encoders): {chosen}")


if __name__ == "__main__":
    main()
