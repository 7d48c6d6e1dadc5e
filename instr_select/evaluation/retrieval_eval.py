"""Leave-out retrieval evaluation: BM25, the untrained encoder, the aligned encoder and hybrid in one table.

P3: one more template of every dataset with ``min_templates`` or more is held out; the encoder is
built, aligned and the index filled on the rest; each held-out template queries the index and its
own dataset is the one relevant task (Success@1 = Acc@1, RR@10 = MRR@10, R@5); ``p3-dataset`` asks
the same queries with every subset of the template's dataset relevant (cbt/CN and cbt/NE share
their templates verbatim, so no text retriever can tell them apart). NIV2: every task's
first instruction queries the NIV2 tasks (itself excluded); tasks sharing a category are relevant
(nDCG@10). Held-out templates are in neither the tokenizer corpus, the embedding initialisation,
the alignment pairs nor the index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_directory
from instr_select.encoder.train import AlignConfig
from instr_select.errors import ConfigError, DataError
from instr_select.evaluation.holdout import (
    Query,
    category_queries,
    dataset_level,
    duplicated_elsewhere,
    hold_out_templates,
)
from instr_select.evaluation.trec import Qrels, Run, doc_id, measure, write_qrels, write_run
from instr_select.offline import ensure_offline
from instr_select.provenance import command_line
from instr_select.tasks import TaskCollection
from instr_select.textview import text_view, view_tasks

SYSTEMS = ("bm25", "untrained", "aligned", "hybrid")
P3_MEASURES = ("Success@1", "RR@10", "R@5")
P3_DATASET_MEASURES = ("Success@1", "RR@10")
NIV2_MEASURES = ("nDCG@10",)


@dataclass
class EvalConfig:
    """What to evaluate and how; ``align`` configures the aligned encoder trained on the leave-out split."""

    p3_source: str | None = "promptsource"
    niv2_source: str | None = "niv2"
    min_templates: int = 4
    seed: int = 0
    k: int = 10
    niv2_max_queries: int | None = None
    aggregate: str = "max"
    aligned_encoder: str | None = None  # reuse an encoder trained WITHOUT the held-out templates
    align: AlignConfig = field(default_factory=AlignConfig)


@dataclass
class Benchmark:
    name: str
    queries: list[Query]
    measures: tuple[str, ...]
    meta_dataset: str | None  # the meta-dataset searched; None: the whole index
    duplicated: list[bool] = field(default_factory=list)  # query text also in another index task


def _load(source: str, data_dir: str | Path | None) -> TaskCollection:
    from instr_select.loaders import load_source

    return load_source(source, data_dir=data_dir)


def prepare(config: EvalConfig, data_dir: str | Path | None = None) -> tuple[TaskCollection, list[Benchmark]]:
    """The training/index collection (held-out templates removed) and the query sets."""
    if config.p3_source is None and config.niv2_source is None:
        raise ConfigError("nothing to evaluate: give a P3 source, an NIV2 source, or both")
    if config.k < 1:
        raise ConfigError(f"-k must be 1 or more, not {config.k}")
    collection = TaskCollection()
    benchmarks: list[Benchmark] = []
    if config.p3_source is not None:
        p3 = _load(config.p3_source, data_dir)
        train, queries = hold_out_templates(p3, config.min_templates, config.seed)
        if not queries:
            raise DataError(
                config.p3_source,
                f"no task has {config.min_templates} or more templates to hold one out",
                "evaluate on a P3 copy with several templates per dataset",
            )
        collection += train
        view = text_view(_view_name(config))
        benchmarks.append(
            Benchmark("p3", queries, P3_MEASURES, _meta(train), duplicated_elsewhere(train, queries, view))
        )
        by_dataset = dataset_level(queries, train)
        benchmarks.append(
            Benchmark(
                "p3-dataset",
                by_dataset,
                P3_DATASET_MEASURES,
                _meta(train),
                duplicated_elsewhere(train, by_dataset, view),
            )
        )
    if config.niv2_source is not None:
        niv2 = _load(config.niv2_source, data_dir)
        queries = category_queries(niv2, config.niv2_max_queries, config.seed)
        if not queries:
            raise DataError(config.niv2_source, "no two tasks share a category", "evaluate on NIV2 with categories")
        collection += niv2
        benchmarks.append(Benchmark("niv2", queries, NIV2_MEASURES, _meta(niv2)))
    return collection, benchmarks


def _view_name(config: EvalConfig) -> str:
    """The text view of the evaluated encoders: a given aligned encoder's own, else the alignment's."""
    if config.aligned_encoder is not None:
        from instr_select.encoder.io import encoder_text_view

        return encoder_text_view(config.aligned_encoder)
    return config.align.text_view


def _meta(tasks: TaskCollection) -> str:
    return tasks[0].meta_dataset


def run_benchmark(retriever, bench: Benchmark, k: int = 10) -> Run:
    """Rank with the leakage guard off (the held-out query text is never in the index as its own task)."""
    run: Run = {}
    for query in bench.queries:
        results = retriever.search(
            query.text,
            k=k,
            meta_datasets=[bench.meta_dataset] if bench.meta_dataset else None,  # None: the whole index
            exclude_keys=query.exclude_keys,
            guard=False,
        )
        run[query.query_id] = {doc_id(r.key): float(r.score) for r in results}
    return run


def evaluate_retrieval(
    config: EvalConfig,
    out: str | Path,
    data_dir: str | Path | None = None,
    progress: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Run the whole evaluation; write encoders, TREC files, results.json and results.md under ``out``."""
    ensure_offline()
    started = time.time()
    collection, benchmarks = prepare(config, data_dir)
    with atomic_directory(out) as staged:
        (staged / "encoders").mkdir(parents=True)
        indexes = _encoders_and_indexes(config, collection, staged / "encoders", progress, command)
        from instr_select.retrieval import Retriever

        results: dict[str, dict[str, dict[str, float]]] = {}
        ceilings: dict[str, dict[str, Any]] = {}
        for bench in benchmarks:
            qrels: Qrels = {q.query_id: {doc_id(k): v for k, v in q.relevant.items()} for q in bench.queries}
            write_qrels(staged / f"{bench.name}.qrels", qrels)
            (staged / f"{bench.name}.queries.jsonl").write_text(
                "".join(
                    json.dumps({"id": q.query_id, "instruction": q.text, "task": q.task_key}) + "\n"
                    for q in bench.queries
                ),
                encoding="utf-8",
            )
            results[bench.name] = {}
            duplicated = bench.duplicated or [False] * len(bench.queries)
            answerable = {q.query_id for q, dup in zip(bench.queries, duplicated, strict=True) if not dup}
            if bench.duplicated:
                ceilings[bench.name] = {
                    "queries": len(bench.queries),
                    "duplicated_elsewhere": len(bench.queries) - len(answerable),
                    "success@1_ceiling": round(len(answerable) / len(bench.queries), 4),
                    "success@1_answerable": {},
                }
            for system in SYSTEMS:
                index_name, method = {
                    "bm25": ("aligned", "bm25"),
                    "untrained": ("untrained", "dense"),
                    "aligned": ("aligned", "dense"),
                    "hybrid": ("aligned", "hybrid"),
                }[system]
                t0 = time.time()
                run = run_benchmark(Retriever(indexes[index_name], method, config.aggregate), bench, config.k)
                write_run(staged / f"{bench.name}.{system}.run", run, system)
                scores = measure(qrels, run, bench.measures)
                results[bench.name][system] = {m: round(v, 4) for m, v in scores.items()}
                if bench.name in ceilings and answerable:
                    sub = measure({q: qrels[q] for q in answerable}, {q: run[q] for q in answerable}, ("Success@1",))
                    ceilings[bench.name]["success@1_answerable"][system] = round(sub["Success@1"], 4)
                progress(
                    f"{bench.name:<5} {system:<10} "
                    + "  ".join(f"{m} {v:.4f}" for m, v in scores.items())
                    + f"  ({len(bench.queries)} queries, {time.time() - t0:.1f} s)"
                )
        report = {
            "format": 1,
            "results": results,
            "queries": {b.name: len(b.queries) for b in benchmarks},
            "ceilings": ceilings,
            "index_tasks": len(collection),
            "index_instructions": sum(len(t.instructions) for t in collection),
            "config": asdict(config),
            "notes": [
                "Success@1 = Acc@1, RR@10 = MRR@10 (ir-measures names)",
                "held-out P3 templates are in neither tokenizer, embedding init, alignment pairs nor index",
                "ceilings: a P3 query whose exact text is a template of another index task cannot be ranked "
                "first by any text-similarity retriever; success@1_answerable = Success@1 over the other queries",
                "p3-dataset: the p3 queries with every subset of the template's dataset relevant (cbt/CN ~ cbt/NE; "
                "glue and super_glue members stay separate datasets)",
                "bm25 and hybrid use the same index instructions; hybrid = reciprocal-rank fusion of aligned dense and bm25",
            ],
            "seconds": round(time.time() - started, 1),
            "command": command or command_line(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staged / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        (staged / "results.md").write_text(results_table(results) + "\n", encoding="utf-8")
    return report


def _encoders_and_indexes(config: EvalConfig, collection: TaskCollection, folder: Path, progress, command):
    from instr_select.encoder import build_static_encoder, load_encoder, train_encoder
    from instr_select.encoder.pairs import positive_groups, split_dev
    from instr_select.index import InstructionIndex

    view = _view_name(config)
    if config.aligned_encoder is not None:
        aligned = load_encoder(config.aligned_encoder)
        progress(f"aligned encoder: {config.aligned_encoder} (must not have seen the held-out templates)")
        sibling = Path(config.aligned_encoder).parent / "untrained"  # layout written by this evaluation
        info = Path(config.aligned_encoder) / "training_info.json"
        base_name = json.loads(info.read_text())["base"].get("name") if info.is_file() else None
        candidates = [p for p in (sibling, Path(base_name) if base_name else None) if p is not None and p.is_dir()]
        untrained = load_encoder(candidates[0]) if candidates else None
        if untrained is None:
            raise ConfigError(f"{config.aligned_encoder}: its training_info.json names no local base model to compare")
    else:
        # The untrained encoder is exactly the aligned encoder's starting point (same texts, same seed).
        split = split_dev(
            positive_groups(view_tasks(collection, view), config.align.group_by),
            config.align.dev_fraction,
            seed=config.align.seed,
        )
        progress(f"building the untrained encoder on {len(split.train_texts)} training instructions")
        untrained = build_static_encoder(
            split.train_texts, config.align.vocab_size, config.align.dim, config.align.seed, config.align.pre_tokenizer
        )
        untrained.save(str(folder / "untrained"))
        train_encoder(
            collection, folder / "untrained", folder / "aligned", config.align, command=command, progress=progress
        )
        aligned = load_encoder(folder / "aligned")
    progress("indexing the leave-out collection")
    return {
        "untrained": InstructionIndex.from_tasks(collection, untrained, text_view=view),
        "aligned": InstructionIndex.from_tasks(collection, aligned, text_view=view),
    }


def results_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One markdown table: a row per system, a column per benchmark and ir-measures metric."""
    columns = [(bench, m) for bench, systems in results.items() for m in next(iter(systems.values()))]
    head = "| system | " + " | ".join(f"{b} {m}" for b, m in columns) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in columns) + " |"
    rows = [
        f"| {system} | " + " | ".join(f"{results[b][system][m]:.4f}" for b, m in columns) + " |"
        for system in SYSTEMS
        if all(system in results[b] for b, _ in columns)
    ]
    return "\n".join([head, rule, *rows])
