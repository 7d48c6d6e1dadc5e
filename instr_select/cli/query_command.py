"""``instr-select query``: rank the tasks of an index for a target instruction."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from instr_select.cli.options import data_dir_option
from instr_select.errors import ConfigError, DataError


def read_queries(path: str) -> list[tuple[str, str]]:
    """``{"id", "instruction"}`` lines -> [(id, instruction)]; names the bad line."""
    from instr_select.retrieval.retriever import check_instruction

    file = Path(path)
    if not file.is_file():
        raise DataError(file, "does not exist", 'pass a JSONL file of {"id", "instruction"} lines')
    from instr_select.loaders.files import parse_json, read_text

    out, seen = [], set()
    lines = read_text(file).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = parse_json(line, file, number, 'write {"id": ..., "instruction": ...}')
        if not isinstance(row, dict) or "instruction" not in row:
            raise DataError(file, "has no field 'instruction'", 'write {"id": ..., "instruction": ...}', number)
        try:
            text = check_instruction(row["instruction"], "field 'instruction'")
        except ConfigError as exc:
            raise DataError(file, str(exc), line=number) from None
        query_id = row.get("id", str(number))
        if isinstance(query_id, int) and not isinstance(query_id, bool):
            query_id = str(query_id)
        if not isinstance(query_id, str) or not query_id.strip():
            raise DataError(file, f"field 'id' must be a string or whole number, got {query_id!r:.40}", line=number)
        if query_id in seen:
            raise DataError(file, f"duplicate id {query_id!r}", "give every query its own id", number)
        seen.add(query_id)
        out.append((query_id, text))
    if not out:
        raise DataError(file, "holds no queries", 'write one {"id", "instruction"} object per line')
    return out


def _guard_line(guard: dict) -> str | None:
    if not guard.get("on"):
        return "guard: off (--no-guard): tasks sharing the query's source dataset are kept"
    if not guard.get("recognised_as"):
        return None
    return (
        f"guard: the query is an instruction of {guard['recognised_as']}; left out {guard['excluded_tasks']} task(s)"
        f" of source {', '.join(guard['excluded_sources'])} (--no-guard keeps them)"
    )


def _table(query: str, results, guard: dict | None = None) -> str:
    lines = [f"query: {query if len(query) <= 100 else query[:97] + '...'}"]
    note = _guard_line(guard or {"on": True})
    if note:
        lines.append(note)
    if not results:
        return "\n".join(lines) + "\n(no task matched the filters)"
    width = max(len(r.task_id) for r in results)
    width = min(max(width, 7), 48)
    lines.append(f"{'rank':>4}  {'score':>7}  {'meta':<13} {'task':<{width}}   matched instruction")
    for r in results:
        matched = " ".join(r.matched_instruction.split())
        matched = matched if len(matched) <= 70 else matched[:67] + "..."
        task = r.task_id if len(r.task_id) <= width else r.task_id[: width - 3] + "..."
        mark = " *" if r.has_examples is False else "  "
        lines.append(f"{r.rank:>4}  {r.score:>7.4f}  {r.meta_dataset:<13} {task:<{width}}{mark} {matched}")
    if any(r.has_examples is False for r in results):
        lines.append(
            "* no examples in the data (catalog-only NIV2 tasks; promptsource offline): export skips it; --examples-only ranks tasks with examples"
        )
    return "\n".join(lines)


def _record(query_id: str, query: str, results, guard: dict | None = None) -> dict:
    keys = ("rank", "task_id", "meta_dataset", "score", "matched_instruction", "categories", "has_examples")
    tasks = [{key: getattr(r, key) for key in keys} for r in results]
    for row in tasks:  # JSON has no NaN: a score that is not a number is written as null
        if not math.isfinite(row["score"]):
            row["score"] = None
    record = {"query_id": query_id, "query": query, "tasks": tasks, "results": tasks}  # "results": old name
    if guard is not None:
        record["guard"] = guard
    return record


@click.command()
@click.argument("instruction", required=False)
@click.option(
    "--index",
    "index",
    type=click.Path(file_okay=False),
    default=None,
    help="Index directory (default: $INSTR_SELECT_INDEX, else the one `build-default` writes).",
)
@click.option("-k", "k", type=int, default=10, show_default=True, help="Number of tasks to return.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query.")
@click.option(
    "--queries", type=click.Path(dir_okay=False), default=None, help='JSONL file of {"id", "instruction"} lines.'
)
@click.option("--meta-dataset", "meta_datasets", multiple=True, help="Only tasks of this meta-dataset (repeatable).")
@click.option(
    "--exclude-source",
    "exclude_source",
    default=None,
    metavar="TASK_ID",
    help="Drop tasks sharing this target task's source dataset.",
)
@click.option(
    "--method",
    "--retriever",
    "method",
    type=click.Choice(["dense", "bm25", "hybrid"]),
    default="dense",
    show_default=True,
    help="Retrieval method (--retriever: old spelling).",
)
@click.option(
    "--aggregate",
    type=click.Choice(["max", "mean", "top2", "vote"]),
    default=None,
    help="How a task scores from its instructions: its best one, the mean of all, the mean of its best two, or "
    "votes of the top hits (default: top2, chosen on the transfer matrix's and the held-out splits' dev parts).",
)
@click.option(
    "--answer-fit",
    "answer_fit",
    type=click.FloatRange(min=0),
    default=None,
    help="Weight of re-ranking by answer length: tasks whose answers are as long as those of the query's best "
    "hits move up (0: off; default: 0.5, chosen on the transfer matrix's dev targets, docs/retrieval.md).",
)
@click.option(
    "--out",
    "--save",
    "save",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the selection JSON here (one query; --save: old spelling).",
)
@click.option(
    "--no-guard",
    "no_guard",
    is_flag=True,
    help="Keep tasks sharing the source of an index task whose instruction the query is (the guard is on by default).",
)
@click.option("--examples-only", is_flag=True, help="Only tasks that ship examples (what export and tune train on).")
@data_dir_option
def query(
    instruction: str | None,
    index: str | None,
    k: int,
    as_json: bool,
    queries: str | None,
    meta_datasets: tuple[str, ...],
    exclude_source: str | None,
    method: str,
    aggregate: str | None,
    answer_fit: float | None,
    save: str | None,
    no_guard: bool,
    examples_only: bool,
    data_dir: str | None,
) -> None:
    """Rank the tasks of an index most related to INSTRUCTION (a target task's instruction).

    The leakage guard is on whenever INSTRUCTION is itself an instruction of the index: that task and
    every task of its source dataset are left out, and the output says so (--no-guard turns it off).
    Tasks marked * ship no examples.
    """
    from instr_select.retrieval.api import exclusion_for, guard_record, make_selection, open_index
    from instr_select.retrieval.defaults import DEFAULT_AGGREGATE, resolve_answer_fit
    from instr_select.retrieval.retriever import Retriever, check_instruction, check_k

    check_k(k)
    aggregate = aggregate or DEFAULT_AGGREGATE
    if (instruction is None) == (queries is None):
        raise ConfigError("give either an INSTRUCTION or --queries FILE.jsonl")
    if queries is not None and save:
        raise ConfigError("--out writes one query's selection; drop it with --queries")
    batch = read_queries(queries) if queries else [("1", check_instruction(instruction))]
    loaded = open_index(index)
    answer_fit = resolve_answer_fit(answer_fit, loaded)
    retriever = Retriever(loaded, method=method, aggregate=aggregate, answer_fit=answer_fit)
    sources, keys = exclusion_for(loaded, exclude_source, data_dir)
    guard = not no_guard
    texts = [text for _, text in batch]
    results = retriever.search_many(texts, k, meta_datasets or None, sources, keys, guard, examples_only)
    hits = [retriever.guard_hit(text) if guard else None for text in texts]
    if save:
        make_selection(
            loaded,
            texts[0],
            results[0],
            method,
            aggregate,
            k,
            meta_datasets,
            exclude_source,
            guard,
            hits[0],
            examples_only,
            answer_fit,
        ).save(save)
    out = sys.stdout
    for (query_id, text), ranked, hit in zip(batch, results, hits, strict=True):
        record = guard_record(guard, hit)
        if as_json or queries:
            out.write(json.dumps(_record(query_id, text, ranked, record), ensure_ascii=False, allow_nan=False) + "\n")
        else:
            out.write(_table(text, ranked, record) + "\n")
