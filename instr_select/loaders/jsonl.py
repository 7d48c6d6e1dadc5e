"""A user's own tasks: a documented JSONL format, or a Hugging Face dataset.

``jsonl`` reads a file (or every ``*.jsonl`` of a folder), one task per line::

    {"task_id": "my_nli", "instruction": "Does the premise entail the hypothesis?",
     "categories": ["Textual Entailment"], "source": "snli",
     "examples": [{"input": "...", "output": "yes", "options": ["yes", "no"]}]}

``instructions`` (a list) may replace ``instruction``; ``categories``, ``source``, ``split``,
``metadata``, ``answer_choices`` (the label set, for a task card when there are no examples) and
``examples`` are optional. Option ``meta_dataset`` names the collection
(default ``jsonl``).

``hf`` reads a Hugging Face dataset (a ``save_to_disk`` folder, a local data file, or a hub
name), one example per row, grouped into tasks by a column. Options map columns:
``task_column`` (task_id), ``instruction_column`` (instruction), ``input_column`` (input),
``output_column`` (output), ``split`` (train), ``meta_dataset`` (hf).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.loaders.files import as_text, dict_field, iter_jsonl, require, str_list_field, text_field
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.textcheck import text_problem


def _examples(raw: Any, path: Path, line: int) -> list[Example]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise DataError(path, "field 'examples' must be a list", line=line)
    out = []
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or "output" not in ex:
            raise DataError(path, f"examples[{i}] needs 'output'", "each example is {'input', 'output'}", line)
        options = str_list_field(ex, "options", path, line)
        out.append(
            Example(
                input=as_text(ex.get("input"), f"examples[{i}].input", path, line),
                output=as_text(ex["output"], f"examples[{i}].output", path, line),
                options=tuple(options),
            )
        )
    return out


def _task(row: dict[str, Any], path: Path, line: int, meta: str) -> Task:
    raw_id = require(row, "task_id", path, line, kind=(str, int))
    task_id = str(raw_id)
    if "instructions" in row:
        instructions = require(row, "instructions", path, line, kind=list)
    elif "instruction" in row:
        instructions = [require(row, "instruction", path, line)]
    else:
        raise DataError(path, "missing required field 'instruction'", "add 'instruction' or 'instructions'", line)
    for number, text in enumerate(instructions, 1):
        if not isinstance(text, str):
            raise DataError(path, f"instruction {number} must be a string, got {type(text).__name__}", line=line)
    texts = [t.strip() for t in instructions]
    if not texts or any(not t for t in texts):
        raise DataError(path, f"task {task_id!r} has an empty instruction", "write a non-empty instruction", line)
    for number, text in enumerate(texts, 1):
        problem = text_problem(text)
        if problem:
            raise DataError(path, f"task {task_id!r}: instruction {number} {problem}", line=line)
    problem = text_problem(task_id)
    if problem:
        raise DataError(path, f"field 'task_id' {problem}", line=line)
    categories = [row["categories"]] if isinstance(row.get("categories"), str) else None
    return Task(
        task_id=task_id,
        meta_dataset=meta,
        instructions=texts,
        categories=categories if categories is not None else str_list_field(row, "categories", path, line),
        source=text_field(row, "source", path, line),
        split=text_field(row, "split", path, line),
        languages=str_list_field(row, "languages", path, line),
        metadata=dict_field(row, "metadata", path, line),
        answer_choices=str_list_field(row, "answer_choices", path, line),
        _examples=_examples(row.get("examples"), path, line),
    )


def load_jsonl(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    meta = options.get("meta_dataset", "jsonl")
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise DataError(path, "holds no *.jsonl files", "pass a JSONL file of tasks")
    seen: set[str] = set()
    builders = [(lambda r=r, f=f, ln=ln: _task_once(r, f, ln, meta, seen)) for f in files for ln, r in iter_jsonl(f)]
    return report.collect(builders)


def _task_once(row: dict[str, Any], path: Path, line: int, meta: str, seen: set[str]) -> Task:
    task = _task(row, path, line, meta)
    if task.task_id in seen:
        raise DataError(path, f"duplicate task_id {task.task_id!r}", "give every task a unique task_id", line)
    seen.add(task.task_id)
    return task


def load_hf(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    from instr_select.offline import ensure_offline

    ensure_offline()
    import datasets

    split = options.get("split", "train")
    try:
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            data = datasets.load_from_disk(str(path))
            if isinstance(data, datasets.DatasetDict):
                data = data[split]
        else:
            data = datasets.load_dataset(str(path), split=split)
    except Exception as exc:
        raise DataError(
            path,
            f"could not be loaded as a dataset ({type(exc).__name__}: {exc})",
            "pass a save_to_disk folder or a data file",
        ) from None
    columns = {
        key: options.get(f"{key}_column", default)
        for key, default in (
            ("task", "task_id"),
            ("instruction", "instruction"),
            ("input", "input"),
            ("output", "output"),
        )
    }
    for key, column in columns.items():
        if column not in data.column_names and key != "input":
            raise DataError(
                path,
                f"has no column {column!r}",
                f"map it with {key}_column=NAME (columns: {', '.join(data.column_names)})",
            )
    grouped: dict[str, dict[str, Any]] = {}
    for row in data:
        entry = grouped.setdefault(str(row[columns["task"]]), {"instructions": [], "examples": []})
        instruction = as_text(row[columns["instruction"]]).strip()
        if instruction and instruction not in entry["instructions"]:
            entry["instructions"].append(instruction)
        entry["examples"].append(
            Example(input=as_text(row.get(columns["input"], "")), output=as_text(row[columns["output"]]))
        )
    meta = options.get("meta_dataset", "hf")
    return report.collect(
        (lambda t=t, e=e: Task(task_id=t, meta_dataset=meta, instructions=e["instructions"], _examples=e["examples"]))
        for t, e in grouped.items()
    )


_JSONL_OPTIONS = {"meta_dataset": "name of the collection (default jsonl)"}
register(
    LoaderSpec(
        "jsonl",
        "your own tasks, one JSON object per line",
        "FILE.jsonl or a folder of *.jsonl",
        None,
        load_jsonl,
        _JSONL_OPTIONS,
    )
)
register(
    LoaderSpec(
        "hf",
        "a Hugging Face dataset of examples grouped into tasks by a column",
        "a save_to_disk folder, a data file or a hub name",
        None,
        load_hf,
        path_must_exist=False,
        options={
            "task_column": "column holding the task id (task_id)",
            "instruction_column": "column holding the instruction (instruction)",
            "input_column": "column holding the input (input)",
            "output_column": "column holding the output (output)",
            "split": "split to read (train)",
            "meta_dataset": "name of the collection (default hf)",
        },
    )
)
