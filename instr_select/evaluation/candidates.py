"""Held-out splits that look like real use, and the evaluation of candidate encoders on them.

Query sets, each with a dev part (settings are chosen there) and a test part (reported):

- ``p3-dataset``: one template of every promptsource dataset with 4+ templates is held out; it
  queries the P3 tasks and every subset of its dataset is relevant (guard off: a held-out template
  that is word for word another dataset's template is not leakage here).
- ``niv2-category``: a seeded quarter of the NIV2 source datasets is held out of alignment; each
  held-out task's instruction queries the other NIV2 tasks, tasks sharing a category are relevant
  (nDCG@10).
- ``bigbench-keyword``: a seeded 40% of the BIG-bench tasks (with their subtasks) is held out
  of alignment; each queries the tasks of other BIG-bench tasks, those sharing a content keyword
  (not a format keyword such as ``zero-shot``) are relevant (nDCG@10).
- ``p3-mixed``: the ``p3-dataset`` queries against the whole index, as a real query meets it (every
  meta-dataset at once); every task of the template's source dataset is relevant, in any
  meta-dataset (an NIV2 task made from RTE answers an RTE template). It measures whether
  scores of different meta-datasets are comparable, which the single-meta-dataset sets cannot.
- ``niv2-to-p3``: the other direction, in the other style: each task of a held-out NIV2 source
  dataset that P3 also has queries the whole index with its instruction (a catalog summary, plain
  language); the P3 tasks of that dataset are relevant (nDCG@10) and the NIV2 tasks of that
  dataset are left out. It measures whether a short plain instruction finds templates of its kind.

Every candidate indexes the same collection (held-out P3 templates removed; every NIV2 and
BIG-bench task present); alignment sees only ``Splits.train``, which holds no held-out text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from instr_select.cards import FORMAT_KEYWORDS
from instr_select.encoder.pairs import seeded
from instr_select.evaluation.holdout import Query, dataset_level, hold_out_templates
from instr_select.evaluation.retrieval_eval import Benchmark, run_benchmark
from instr_select.evaluation.trec import Qrels, doc_id, measure
from instr_select.tasks import TaskCollection

MEASURES = {
    "p3-dataset": ("Success@1", "RR@10"),
    "niv2-category": ("nDCG@10",),
    "bigbench-keyword": ("nDCG@10",),
    "p3-mixed": ("Success@1", "RR@10"),
    "niv2-definition": ("nDCG@10",),
    "bbh-mixed": ("nDCG@10",),
    "niv2-to-p3": ("nDCG@10",),
}
HEADLINE = {
    "p3-dataset": "Success@1",
    "niv2-category": "nDCG@10",
    "bigbench-keyword": "nDCG@10",
    "p3-mixed": "Success@1",
    "niv2-definition": "nDCG@10",
    "bbh-mixed": "nDCG@10",
    "niv2-to-p3": "nDCG@10",
}


@dataclass
class Splits:
    """What every candidate indexes, what alignment may train on, and the query sets."""

    index: TaskCollection
    train: TaskCollection
    benchmarks: list[Benchmark]
    dev: dict[str, set[str]] = field(default_factory=dict)  # benchmark -> query ids of its dev part

    def part(self, bench: Benchmark, name: str) -> list[Query]:
        dev = self.dev[bench.name]
        if name == "all":
            return bench.queries
        return [q for q in bench.queries if (q.query_id in dev) == (name == "dev")]


def _held_out_sources(tasks: TaskCollection, fraction: float, seed: int, salt: str) -> set[str]:
    sources = sorted({t.source_key for t in tasks})
    rng = seeded(seed, salt)
    return set(rng.sample(sources, round(len(sources) * fraction)))


def _unseen_task_queries(
    tasks: TaskCollection, held: set[str], categories: Callable[[Any], set[str]], prefix: str, per_task: bool
) -> list[Query]:
    """Queries from held-out sources: relevant = other tasks sharing a category.

    ``per_task``: one query per held-out task, itself excluded (NIV2: tasks of one source dataset
    differ). Otherwise one per held-out source (its first task), every task of that source excluded
    (BIG-bench: a task's subtasks share their description and keywords).
    """
    by_category: dict[str, set[str]] = {}
    for task in tasks:
        for category in categories(task):
            by_category.setdefault(category, set()).add(task.key)
    first: dict[str, Any] = {}
    members: dict[str, set[str]] = {}
    for task in sorted(tasks, key=lambda t: t.key):
        members.setdefault(task.source_key, set()).add(task.key)
        if task.source_key in held and task.instructions:
            first.setdefault(task.key if per_task else task.source_key, task)
    queries = []
    for name in sorted(first):
        task = first[name]
        excluded = {task.key} if per_task else members[task.source_key]
        relevant = {key for c in categories(task) for key in by_category[c]} - excluded
        if relevant:
            queries.append(
                Query(
                    f"{prefix}{len(queries)}",
                    task.instructions[0],
                    task.key,
                    dict.fromkeys(sorted(relevant), 1),
                    tuple(sorted(excluded)),
                )
            )
    return queries


def _definition_queries(niv2: TaskCollection) -> list[Query]:
    """Each NIV2 task file's Definition against the other NIV2 tasks; a shared category is relevant."""
    by_category: dict[str, set[str]] = {}
    for task in niv2:
        for category in task.categories:
            by_category.setdefault(category, set()).add(task.key)
    queries = []
    for task in sorted(niv2, key=lambda t: t.key):
        if "file" not in task.metadata:
            continue
        relevant = {key for c in task.categories for key in by_category[c]} - {task.key}
        if relevant:
            queries.append(Query(f"d{len(queries)}", task.instructions[0], task.key,
                                 dict.fromkeys(sorted(relevant), 1), (task.key,)))  # fmt: skip
    return queries


def _bbh_queries(bbh: TaskCollection, bigbench: TaskCollection) -> list[Query]:
    """Each BBH description against the whole index: its BIG-bench parent 2, the parent's keywords 1."""
    by_parent: dict[str, list[Any]] = {}
    for task in bigbench:
        by_parent.setdefault(task.task_id.split("/", 1)[0], []).append(task)
    queries = []
    for task in sorted(bbh, key=lambda t: t.key):
        parents = by_parent.get(task.metadata.get("bigbench_parent", task.task_id), [])
        if not parents:
            continue
        keywords = {c for t in parents for c in t.categories} - FORMAT_KEYWORDS
        relevant = {t.key: 1 for t in bigbench if keywords & set(t.categories)}
        relevant.update({t.key: 2 for t in parents})
        queries.append(Query(f"h{len(queries)}", task.instructions[0], task.key, dict(sorted(relevant.items()))))
    return queries


def _niv2_to_p3_queries(niv2: TaskCollection, held: set[str], p3: TaskCollection) -> list[Query]:
    """Each task of a held-out NIV2 source that P3 also has: the P3 tasks of that source are
    relevant, the NIV2 tasks of that source (the query's own included) are left out."""
    p3_members: dict[str, set[str]] = {}
    for task in p3:
        p3_members.setdefault(task.source_key, set()).add(task.key)
    niv2_members: dict[str, set[str]] = {}
    for task in niv2:
        niv2_members.setdefault(task.source_key, set()).add(task.key)
    queries = []
    for task in sorted(niv2, key=lambda t: t.key):
        if task.source_key in held and task.source_key in p3_members and task.instructions:
            relevant = dict.fromkeys(sorted(p3_members[task.source_key]), 1)
            excluded = tuple(sorted(niv2_members[task.source_key]))
            queries.append(Query(f"x{len(queries)}", task.instructions[0], task.key, relevant, excluded))
    return queries


def _without_definitions(tasks: TaskCollection) -> TaskCollection:
    """NIV2 task files reduced to their catalog summary (dropped when they have none)."""
    out = []
    for task in tasks:
        if "file" not in task.metadata:
            out.append(task)
        elif len(task.instructions) > 1:
            out.append(replace(task, instructions=task.instructions[1:]))
    return TaskCollection(out)


def prepare_splits(
    data_dir: str | Path | None = None,
    seed: int = 0,
    holdout_fraction: float = 0.25,
    dev_fraction: float = 0.5,
    loaded: dict[str, TaskCollection] | None = None,
) -> Splits:
    """Load promptsource, niv2, bigbench and bbh and carve the held-out query sets (deterministic by seed).

    bbh only supplies queries (``bbh-mixed``); it is neither indexed nor trained on.
    """
    from instr_select.loaders import load_source

    names = ("promptsource", "niv2", "bigbench", "bbh")
    sets = loaded or {name: load_source(name, data_dir=data_dir) for name in names}
    index, train, benchmarks = TaskCollection(), TaskCollection(), []
    held_by_name: dict[str, set[str]] = {}
    p3 = sets.get("promptsource")
    if p3 is not None:
        p3_rest, held = hold_out_templates(p3, 4, seed)
        queries = [replace(q, query_id=f"p{i}") for i, q in enumerate(dataset_level(held, p3_rest))]
        benchmarks.append(Benchmark("p3-dataset", queries, MEASURES["p3-dataset"], "promptsource"))
        index += p3_rest
        train += p3_rest
    for name, bench_name, categories, prefix, per_task, fraction in (
        ("niv2", "niv2-category", lambda t: set(t.categories), "n", True, holdout_fraction),
        ("bigbench", "bigbench-keyword", lambda t: set(t.categories) - FORMAT_KEYWORDS, "b", False, 0.4),
    ):
        tasks = sets.get(name)
        if tasks is None:
            continue
        held_sources = held_by_name[name] = _held_out_sources(tasks, fraction, seed, name)
        queries = _unseen_task_queries(tasks, held_sources, categories, prefix, per_task)
        benchmarks.append(Benchmark(bench_name, queries, MEASURES[bench_name], name))
        index += tasks
        kept = TaskCollection(t for t in tasks if t.source_key not in held_sources)
        train += _without_definitions(kept) if name == "niv2" else kept
    if p3 is not None and len(index) > len(p3_rest):
        mixed = [replace(q, query_id=f"m{i}") for i, q in enumerate(dataset_level(held, index))]
        benchmarks.append(Benchmark("p3-mixed", mixed, MEASURES["p3-mixed"], None))
    if sets.get("niv2") is not None:
        definitions = _definition_queries(sets["niv2"])
        if definitions:
            benchmarks.append(Benchmark("niv2-definition", definitions, MEASURES["niv2-definition"], "niv2"))
    if sets.get("bbh") is not None and sets.get("bigbench") is not None:
        bbh = _bbh_queries(sets["bbh"], sets["bigbench"])
        if bbh:
            benchmarks.append(Benchmark("bbh-mixed", bbh, MEASURES["bbh-mixed"], None))
    if p3 is not None and sets.get("niv2") is not None:
        crossing = _niv2_to_p3_queries(sets["niv2"], held_by_name["niv2"], p3_rest)
        if crossing:
            benchmarks.append(Benchmark("niv2-to-p3", crossing, MEASURES["niv2-to-p3"], None))
    dev = {
        b.name: {q.query_id for q in b.queries if seeded(seed, "dev-part", q.task_key).random() < dev_fraction}
        for b in benchmarks
    }
    return Splits(index, train, benchmarks, dev)


def score_index(
    index,
    splits: Splits,
    method: str = "dense",
    k: int = 10,
    aggregate: str = "max",
    answer_fit: float = 0.0,
    normalise: str = "none",
) -> dict[str, dict[str, dict[str, float]]]:
    """{benchmark: {part (dev/test/all): {measure: value}}} for one index, retrieval method,
    aggregate, answer-fit weight (instr_select.retrieval.answer_fit) and normalisation
    (instr_select.retrieval.normalise)."""
    from instr_select.retrieval import Retriever

    if method != "bm25":
        _embed_queries_once(index, [q.text for b in splits.benchmarks for q in b.queries])
    retriever = Retriever(index, method, aggregate, answer_fit, normalise)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for bench in splits.benchmarks:
        run = run_benchmark(retriever, bench, k)
        out[bench.name] = {}
        for part in ("dev", "test", "all"):
            queries = splits.part(bench, part)
            qrels: Qrels = {q.query_id: {doc_id(key): v for key, v in q.relevant.items()} for q in queries}
            sub = {q.query_id: run.get(q.query_id, {}) for q in queries}
            out[bench.name][part] = {m: round(v, 4) for m, v in measure(qrels, sub, bench.measures).items()}
    return out


def _embed_queries_once(index, texts: list[str]) -> None:
    """Embed every query in one batch (a transformer encodes one text per call far slower), then serve them from memory."""
    import numpy as np

    seen = [index.view(text) for text in texts]
    encode = index.encode_queries
    cache = dict(zip(seen, encode(seen), strict=True))

    def cached(batch):
        missing = [t for t in batch if t not in cache]
        if missing:
            cache.update(zip(missing, encode(missing), strict=True))
        return np.stack([cache[t] for t in batch])

    index.encode_queries = cached


def evaluate_encoder(
    encoder: Any, splits: Splits, methods=("dense", "hybrid"), text_view: str = "readable", aggregate: str = "max"
):
    """Index ``splits.index`` with ``encoder`` and score each method; also the embedding time in seconds."""
    from instr_select.index import InstructionIndex

    started = time.perf_counter()
    index = InstructionIndex.from_tasks(splits.index, encoder, text_view=text_view)
    embed_seconds = time.perf_counter() - started
    scores = {method: score_index(index, splits, method, aggregate=aggregate) for method in methods}
    return scores, embed_seconds, index


def headline(scores: dict[str, dict[str, dict[str, float]]], part: str) -> dict[str, float]:
    """The one number per benchmark that the targets name (Success@1 for P3, nDCG@10 otherwise)."""
    return {bench: parts[part][HEADLINE[bench]] for bench, parts in scores.items()}


COLUMNS = (
    ("p3-dataset", "Success@1"),
    ("p3-dataset", "RR@10"),
    ("niv2-category", "nDCG@10"),
    ("bigbench-keyword", "nDCG@10"),
    ("p3-mixed", "Success@1"),
    ("niv2-definition", "nDCG@10"),
    ("bbh-mixed", "nDCG@10"),
    ("niv2-to-p3", "nDCG@10"),
)


@dataclass(frozen=True)
class Setting:
    """One retrieval setting of the candidate table: the Retriever's arguments besides the index."""

    method: str = "dense"
    aggregate: str = "max"
    answer_fit: float = 0.0
    normalise: str = "none"


def parse_method(method: str) -> Setting:
    """A candidate table's method name -> its :class:`Setting`: ``"dense"`` -> dense, max, no answer
    fit, no normalisation; ``"hybrid top2 fit 0.5 norm z"`` -> hybrid, top2, 0.5, z."""
    base, *rest = method.split()
    fit = float(rest[rest.index("fit") + 1]) if "fit" in rest else 0.0
    normalise = rest[rest.index("norm") + 1] if "norm" in rest else "none"
    aggregate = rest[0] if rest and rest[0] not in ("fit", "norm") else "max"
    return Setting(base, aggregate, fit, normalise)


def method_label(name: str, method: str) -> str:
    """A candidate table row's name: ``dense`` is the candidate itself, ``hybrid`` adds BM25, then
    the aggregate other than ``max``, the answer-fit weight and the normalisation (see :func:`parse_method`)."""
    setting = parse_method(method)
    label = name if setting.method == "dense" else f"{name} + bm25 (hybrid)"
    if setting.aggregate != "max":
        label += f", {setting.aggregate}"
    if setting.answer_fit:
        label += f", answer fit {setting.answer_fit:g}"
    return label + (f", normalised ({setting.normalise})" if setting.normalise != "none" else "")


def candidate_table(
    rows: dict[str, dict[str, dict]],
    splits: Splits,
    extra_head: tuple[str, ...] = (),
    extra: Callable[[str, str], list[str]] | None = None,
) -> str:
    """The candidate table (test part; the headline measures of the dev part beside it).

    ``rows``: {candidate: {method (dense/hybrid/bm25): score_index() result}}; BM25 is printed
    once (it does not depend on the encoder). ``extra(candidate, method)`` adds cells (costs).
    """
    sizes = {b.name: (len(splits.part(b, "dev")), len(splits.part(b, "test"))) for b in splits.benchmarks}
    names = [b.name for b in splits.benchmarks]
    columns = [(b, m) for b, m in COLUMNS if b in names]
    lines = [
        "held-out queries (dev / test): "
        + ", ".join(f"{name} {dev} / {test}" for name, (dev, test) in sizes.items())
        + "; guard off; table = test part, 'dev' = the headline measures on the dev part",
        "",
    ]
    head = ["system", *(f"{b} {m}" for b, m in columns), "dev " + " / ".join(names), *extra_head]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("| --- | " + " | ".join("---:" for _ in head[1:]) + " |")
    bm25_done = False
    for name, by_method in rows.items():
        for method, scores in by_method.items():
            if method == "bm25":
                if bm25_done:
                    continue
                bm25_done, label = True, "bm25"
            else:
                label = method_label(name, method)
            cells = [f"{scores[b]['test'][m]:.4f}" for b, m in columns]
            dev = " / ".join(f"{scores[b]['dev'][HEADLINE[b]]:.3f}" for b in names)
            lines.append("| " + " | ".join([label, *cells, dev, *(extra(name, method) if extra else [])]) + " |")
    return "\n".join(lines)


def evaluate_candidates(
    encoders: list[str],
    splits: Splits,
    out: str | Path,
    align: bool = False,
    aggregate: str = "max",
    progress: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Score BM25 and each encoder (dense and hybrid) on ``splits``; with ``align``, each encoder
    also aligned on ``splits.train`` with the packaged recipe of its name (``minilm``, ``minilm-static``). Writes results.json and
    results.md (the candidate table) under ``out`` (atomically); returns results.json's content."""
    import json

    from instr_select.atomic import atomic_directory
    from instr_select.encoder.train import train_encoder
    from instr_select.index.default import alignment_config, read_recipe
    from instr_select.provenance import command_line

    recipes = {name: read_recipe(name) for name in encoders} if align else {}  # one packaged per base
    started = time.time()
    rows: dict[str, dict[str, dict]] = {}
    with atomic_directory(out) as staged:
        plan: list[tuple[str, Any]] = [(name, name) for name in encoders]
        for name in encoders:
            if align:
                recipe, origin = recipes[name]
                folder = staged / "encoders" / f"{Path(name).name}-aligned"
                config, _ = alignment_config(recipe)
                progress(f"aligning {name} with the recipe of {origin} on {len(splits.train)} training tasks")
                train_encoder(splits.train, name, folder, config, command=command, progress=lambda line: None)
                plan.append((f"{name} aligned", folder))
        for position, (name, encoder) in enumerate(plan):
            methods = ("dense", "hybrid", "bm25") if position == 0 else ("dense", "hybrid")
            rows[name], _, _ = evaluate_encoder(encoder, splits, methods, aggregate=aggregate)
            progress(f"{name}: " + ", ".join(f"{b} {v:.4f}" for b, v in headline(rows[name]["dense"], "test").items()))
        table = candidate_table(rows, splits)
        report = {
            "format": 1,
            "results": rows,
            "queries": {b.name: {p: len(splits.part(b, p)) for p in ("dev", "test")} for b in splits.benchmarks},
            "aggregate": aggregate,
            "aligned_with": {name: origin for name, (_, origin) in recipes.items()} or None,
            "seconds": round(time.time() - started, 1),
            "command": command or command_line(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (staged / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        (staged / "results.md").write_text(table + "\n", encoding="utf-8")
    report["table"] = table
    return report
