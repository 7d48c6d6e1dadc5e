"""Alignment whose positives come from measured transfer: does it rank a matrix's sources better?

The default recipe's alignment (category and source-dataset positives) gets extra positive groups
(``AlignConfig.task_groups``): each training target with the ``--top`` sources that transfer to it
best on the matrix (NLL view, positive transfer only), each group ``--repeats`` times. The
encoder ranks the sources with the query default (``top2``, answer fit 0.5).

Dev, decided before the run: leave one dev *kind* out (positives from the other dev kinds' targets,
NDCG on the left-out kind's targets), against the default recipe's encoder on the same targets.
Transfer positives are adopted only if their mean dev NDCG (nll) is higher by more than 0.005.
Test: positives from every dev target; NDCG and Regret@5 on the test targets, paired against
the default recipe's encoder, and against random.

    python scripts/sweep_transfer_alignment.py runs/transfer-default --split scripts/transfer_split.json \
        [--baseline indexes/default] [--seed 1 --baseline ENCODER_OF_SEED_1]

``--seed`` aligns both sides with another seed (a second draw of the recipe; give the default
recipe aligned with that seed as ``--baseline``). Encoders and ``results-seedN.json`` go under
``--out`` (default MATRIX/transfer-alignment); a finished encoder is reused, so an interrupted run
resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TIE = 0.005


def transfer_groups(matrix, targets: list[str], top: int) -> list[list[str]]:
    """[target, best sources...] for each target: the ``top`` sources of highest positive NLL transfer."""
    import numpy as np

    truth = matrix.transfer("nll")
    groups = []
    for target in targets:
        column = truth[:, matrix.targets.index(target)]
        order = [i for i in np.argsort(-np.nan_to_num(column, nan=-np.inf)) if column[i] > 0][:top]
        if order:
            groups.append([target, *(matrix.sources[i] for i in order)])
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matrix_dir", type=Path)
    parser.add_argument("--split", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="align with this seed instead of the recipe's")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="The default recipe's encoder (or an index built by build-default from it); default: train it.")  # fmt: skip
    args = parser.parse_args()

    from dataclasses import replace

    from instr_select.encoder import train_encoder
    from instr_select.index.default import alignment_config, read_recipe
    from instr_select.loaders import load_sources
    from instr_select.models import resolve_model
    from instr_select.retrieval.defaults import ANSWER_FIT, DEFAULT_AGGREGATE
    from instr_select.tasks import TaskCollection
    from instr_select.transfer.matrix import TransferMatrix
    from instr_select.transfer.scoring import score_selectors
    from instr_select.transfer.selectors import SelectorConfig, SourceScorer, aligned_encoder_path
    from instr_select.transfer.split import read_split
    from instr_select.tuning.evaluate import load_tasks

    matrix = TransferMatrix.load(args.matrix_dir)
    split = json.loads(args.split.read_text())
    sides = read_split(args.split, matrix.targets)
    kinds = split.get("kinds", {})
    dev_kinds = sorted({kinds.get(t, t) for t in sides["dev"]})
    out = args.out or args.matrix_dir / "transfer-alignment"
    recipe, _ = read_recipe(None)
    base_config, align_sources = alignment_config(recipe)
    if args.seed is not None:
        base_config = replace(base_config, seed=args.seed)
    collection = load_sources(recipe["sources"], data_dir=args.data_dir)
    if align_sources:
        collection = TaskCollection(t for t in collection if t.meta_dataset in align_sources)
    base = resolve_model(recipe["encoder"]["base"])
    sources, targets = load_tasks(matrix.sources, args.data_dir), load_tasks(matrix.targets, args.data_dir)

    def encoder(name: str, groups: list[list[str]] | None) -> Path:
        folder = out / "encoders" / f"{name}-seed{base_config.seed}"
        if not (folder / "training_info.json").is_file():
            config = replace(base_config, task_groups=groups, task_group_repeats=args.repeats if groups else 1)
            train_encoder(collection, base, folder, config, progress=print)
        return folder

    def ndcg_regret(folder: Path, members: list[str]) -> dict:
        path = str(folder)
        config = SelectorConfig(instruction_encoder=path, aligned_encoder=path, aggregate=DEFAULT_AGGREGATE,
                                answer_fit=ANSWER_FIT)  # fmt: skip
        scores = {"x": SourceScorer(sources, targets, config).scores("instruction")}
        report = score_selectors(matrix, scores, k=5, targets=members)["views"]["nll"]["selectors"]["x"]
        return {
            "ndcg": report["summary"]["ndcg"]["mean"],
            "regret": report["summary"]["regret"]["mean"],
            "per_target_ndcg": report["per_target"]["ndcg"],
            "vs_random_ndcg": report["vs_random"]["ndcg"],
        }

    default = aligned_encoder_path(args.baseline) if args.baseline else encoder("default-recipe", None)
    results: dict = {"top": args.top, "repeats": args.repeats, "seed": base_config.seed, "dev_folds": {}}
    for kind in dev_kinds:
        held = [t for t in sides["dev"] if kinds.get(t, t) == kind]
        train = [t for t in sides["dev"] if t not in held]
        groups = transfer_groups(matrix, train, args.top)
        folder = encoder(f"without-{kind}", groups)
        results["dev_folds"][kind] = {"targets": held, "groups": groups,
                                      "default": ndcg_regret(default, held), "transfer": ndcg_regret(folder, held)}  # fmt: skip
    n = sum(len(f["targets"]) for f in results["dev_folds"].values())

    def dev_mean(which: str) -> float:
        folds = results["dev_folds"].values()
        return sum(f[which]["ndcg"] * len(f["targets"]) for f in folds) / n

    results["dev"] = {"default": dev_mean("default"), "transfer": dev_mean("transfer")}
    results["adopted"] = results["dev"]["transfer"] > results["dev"]["default"] + TIE
    groups = transfer_groups(matrix, sides["dev"], args.top)
    folder = encoder("all-dev", groups)
    results["test"] = {"groups": groups, "default": ndcg_regret(default, sides["test"]),
                       "transfer": ndcg_regret(folder, sides["test"])}  # fmt: skip
    import numpy as np

    from instr_select.compare.stats import bootstrap_interval

    diff = np.subtract(results["test"]["transfer"]["per_target_ndcg"], results["test"]["default"]["per_target_ndcg"])
    results["test"]["paired_ndcg"] = {"mean": float(diff.mean()), "ci95": list(bootstrap_interval(diff.tolist()))}
    (out / f"results-seed{base_config.seed}.json").write_text(json.dumps(results, indent=1))

    lines = ["| part | targets | default recipe NDCG | + transfer positives NDCG | default Regret@5 | + transfer Regret@5 |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for kind, fold in results["dev_folds"].items():
        lines.append(f"| dev, {kind} left out | {len(fold['targets'])} | {fold['default']['ndcg']:.3f} | "
                     f"{fold['transfer']['ndcg']:.3f} | {fold['default']['regret']:.3f} | {fold['transfer']['regret']:.3f} |")  # fmt: skip
    lines.append(
        f"| dev, all folds | {n} | {results['dev']['default']:.3f} | {results['dev']['transfer']:.3f} | - | - |"
    )
    t = results["test"]
    lines.append(f"| test | {len(sides['test'])} | {t['default']['ndcg']:.3f} | {t['transfer']['ndcg']:.3f} | "
                 f"{t['default']['regret']:.3f} | {t['transfer']['regret']:.3f} |")  # fmt: skip
    print("\n".join(lines))
    p = t["paired_ndcg"]
    print(f"\ntest, transfer positives minus default: {p['mean']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]")
    print(f"adopted by the dev rule: {results['adopted']}")


if __name__ == "__main__":
    main()
