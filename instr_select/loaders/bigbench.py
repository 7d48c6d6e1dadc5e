"""BIG-bench JSON tasks.

Two layouts are read:

- the compact JSONL of the shared data: ``bigbench_tasks.jsonl`` (``name, description,
  keywords, examples``) and ``bigbench_subtasks.jsonl`` (``task, subtask_dir, name,
  description, keywords, examples``);
- the official repository layout: ``benchmark_tasks/<task>/task.json`` and
  ``benchmark_tasks/<task>/<subtask>/task.json``.

A task's instruction is its description; keywords are its categories. A subtask is a task
``<task>/<subtask>`` whose source is its parent task. Examples carry ``target`` (a string or a
list of acceptable strings) or ``target_scores`` (multiple choice: options, best one is the
output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.loaders.files import (
    UniqueIds,
    as_text,
    instruction_text,
    iter_jsonl,
    read_json,
    require,
    str_list_field,
    task_id_text,
    text_field,
)
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection

META = "bigbench"


def parse_example(raw: Any, where: Path, index: int, line: int | None = None) -> Example:
    if not isinstance(raw, dict):
        raise DataError(where, f"example {index} must be an object", line=line)
    if "input" not in raw:
        raise DataError(where, f"example {index} has no 'input'", line=line)
    scores = raw.get("target_scores")
    target = raw.get("target")
    text = as_text(raw["input"], f"example {index} 'input'", where, line)
    if scores is not None and not isinstance(scores, dict):
        raise DataError(where, f"example {index}: 'target_scores' must be an object of option: score", line=line)
    if scores:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()):
            raise DataError(where, f"example {index}: every 'target_scores' value must be a number", line=line)
        options = tuple(str(k) for k in scores)
        best = max(scores, key=lambda k: scores[k])
        references = tuple(str(k) for k, v in scores.items() if v == scores[best])
        return Example(input=text, output=str(best), references=references, options=options)
    if target is None:
        raise DataError(where, f"example {index} has neither 'target' nor 'target_scores'", line=line)
    targets = (
        [as_text(t, f"example {index} 'target'", where, line) for t in target]
        if isinstance(target, list)
        else [as_text(target, f"example {index} 'target'", where, line)]
    )
    targets = targets or [""]
    return Example(input=text, output=targets[0], references=tuple(targets))


def _make_task(row: Any, where: Path, line: int | None, ids: UniqueIds, parent: tuple[str, str] | None = None) -> Task:
    """A task from a row; ``parent`` is ``(parent task, subtask)`` for a subtask, each already checked."""
    if not isinstance(row, dict):
        raise DataError(where, "expected a JSON object with 'name' and 'description'", line=line)
    name = task_id_text(require(row, "name", where, line), "field 'name'", where, line)
    description = instruction_text(require(row, "description", where, line), "field 'description'", where, line)
    raw_examples = row.get("examples") or []
    if not isinstance(raw_examples, list):
        raise DataError(where, "field 'examples' must be a list", line=line)
    task_id = "/".join(parent) if parent else name
    examples = [parse_example(e, where, i, line) for i, e in enumerate(raw_examples)]
    task = Task(
        task_id=task_id,
        meta_dataset=META,
        instructions=[description],
        categories=str_list_field(row, "keywords", where, line),
        source=parent[0] if parent else name,
        split="subtask" if parent else "task",
        languages=[],
        metadata={"parent": parent[0] if parent else None, "multiple_choice": any(e.options for e in examples)},
        _examples=examples,
    )
    ids.add(task_id, "its parent and subtask names" if parent else "field 'name'", where, line)
    return task


def _load_compact(root: Path, report: LoadReport) -> TaskCollection:
    tasks_file, subtasks_file = root / "bigbench_tasks.jsonl", root / "bigbench_subtasks.jsonl"
    builders, ids = [], UniqueIds(META)
    if tasks_file.is_file():
        builders += [(lambda r=r, ln=ln: _make_task(r, tasks_file, ln, ids)) for ln, r in iter_jsonl(tasks_file)]
    if subtasks_file.is_file():
        builders += [
            (lambda r=r, ln=ln: _compact_subtask(r, subtasks_file, ln, ids)) for ln, r in iter_jsonl(subtasks_file)
        ]
    return report.collect(builders)


def _compact_subtask(row: dict[str, Any], path: Path, line: int, ids: UniqueIds) -> Task:
    parent = task_id_text(require(row, "task", path, line), "field 'task'", path, line)
    if text_field(row, "subtask_dir", path, line):
        sub = task_id_text(row["subtask_dir"], "field 'subtask_dir'", path, line)
    else:
        sub = task_id_text(require(row, "name", path, line), "field 'name'", path, line)
    return _make_task(row, path, line, ids, (parent, sub))


def _official_subtask(path: Path, ids: UniqueIds) -> Task:
    parent = task_id_text(path.parent.parent.name, "the task folder's name", path)
    sub = task_id_text(path.parent.name, "the subtask folder's name", path)
    return _make_task(read_json(path), path, None, ids, (parent, sub))


def _load_official(root: Path, report: LoadReport) -> TaskCollection:
    builders, ids = [], UniqueIds(META)
    for path in sorted(root.glob("*/task.json")):
        builders.append(lambda p=path: _make_task(read_json(p), p, None, ids))
        for sub in sorted(path.parent.glob("*/task.json")):
            builders.append(lambda p=sub: _official_subtask(p, ids))
    return report.collect(builders)


def load(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    if (path / "bigbench_tasks.jsonl").is_file() or (path / "bigbench_subtasks.jsonl").is_file():
        return _load_compact(path, report)
    for candidate in (path / "bigbench" / "benchmark_tasks", path / "benchmark_tasks", path):
        if candidate.is_dir() and any(candidate.glob("*/task.json")):
            return _load_official(candidate, report)
    raise DataError(
        path,
        "holds neither bigbench_tasks.jsonl nor benchmark_tasks/*/task.json",
        "point the bigbench source at a BIG-bench checkout or the compact JSONL folder",
    )


register(
    LoaderSpec(
        name=META,
        description="BIG-bench JSON tasks and subtasks (compact JSONL or benchmark_tasks/*/task.json)",
        layout="bigbench_tasks.jsonl + bigbench_subtasks.jsonl, or benchmark_tasks/<task>[/<subtask>]/task.json",
        default_subdir="bigbench",
        load=load,
    )
)
