"""Super-NaturalInstructions (NIV2).

Layout read (a checkout of ``allenai/natural-instructions``, or a folder shaped like it)::

    tasks/<task>.json          Definition, Categories, Source, Domains, Input_language,
                               Output_language, Positive Examples, Negative Examples, Instances
    splits/default/{train,test,excluded}_tasks.txt   one task name per line (optional)
    task_catalog.jsonl         {"task", "summary", "categories", "domains",
                               "input_language", "output_language"} (optional)

A task's instructions are its Definition and, when the catalog lists it, its summary. Tasks
listed only in the catalog are instruction-only; their source dataset is read from the task
name (``task123_<source>_...``). Options: ``split`` (train, test, excluded), ``english_only``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError, DataError
from instr_select.loaders.files import (
    as_text,
    instruction_text,
    iter_jsonl,
    list_field,
    read_json,
    read_text,
    require,
    str_list_field,
    task_id_text,
    text_field,
)
from instr_select.loaders.options import flag
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection

META = "niv2"
SPLITS = ("train", "test", "excluded")
_NAME = re.compile(r"^task\d+_([^_]+)")


def source_from_name(task_name: str) -> str:
    match = _NAME.match(task_name)
    return match.group(1) if match else task_name


def read_splits(root: Path) -> dict[str, str]:
    folder = root / "splits" / "default"
    splits: dict[str, str] = {}
    for split in SPLITS:
        path = folder / f"{split}_tasks.txt"
        if path.is_file():
            for line in read_text(path).splitlines():
                if line.strip():
                    splits[line.strip()] = split
    return splits


def read_catalog(root: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    path = root / "task_catalog.jsonl"
    if not path.is_file():
        return {}
    catalog: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, row in iter_jsonl(path):
        name = task_id_text(require(row, "task", path, line), "field 'task'", path, line)
        if name in catalog:
            raise DataError(path, f"duplicate task {name!r}", "list each task once", line)
        catalog[name] = (line, row)
    return catalog


def _instances(path: Path) -> list[Example]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object with 'Instances'")
    examples = []
    for i, inst in enumerate(list_field(data, "Instances", path)):
        if not isinstance(inst, dict) or "input" not in inst or "output" not in inst:
            raise DataError(path, f"Instances[{i}] needs 'input' and 'output'")
        outputs = inst["output"] if isinstance(inst["output"], list) else [inst["output"]]
        outputs = [as_text(o, f"Instances[{i}].output", path) for o in outputs] or [""]
        examples.append(
            Example(
                input=as_text(inst["input"], f"Instances[{i}].input", path),
                output=outputs[0],
                references=tuple(outputs),
            )
        )
    return examples


def _demos(data: dict[str, Any], path: Path) -> list[dict[str, str]]:
    demos = []
    for i, e in enumerate(list_field(data, "Positive Examples", path)):
        if not isinstance(e, dict):
            raise DataError(path, f"Positive Examples[{i}] must be an object with 'input' and 'output'")
        demos.append(
            {
                "input": as_text(e.get("input"), f"Positive Examples[{i}].input", path),
                "output": as_text(e.get("output"), f"Positive Examples[{i}].output", path),
            }
        )
    return demos


def _task_from_file(path: Path, catalog_entry: tuple[int, dict[str, Any]] | None, split: str, catalog: Path) -> Task:
    task_id = task_id_text(path.stem, "the file name", path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object with a 'Definition'")
    definition = as_text(require(data, "Definition", path, kind=(list, str)), "field 'Definition'", path)
    instructions = [instruction_text(definition, "field 'Definition'", path)]
    if catalog_entry:
        line, row = catalog_entry
        summary = text_field(row, "summary", catalog, line)
        if summary.strip():
            instructions.append(instruction_text(summary, "field 'summary'", catalog, line))
    input_languages = str_list_field(data, "Input_language", path)
    output_languages = str_list_field(data, "Output_language", path)
    sources = data.get("Source") or [source_from_name(path.stem)]
    if isinstance(sources, list):
        sources = str_list_field({"Source": sources}, "Source", path) or [source_from_name(path.stem)]
    else:
        sources = [text_field(data, "Source", path)]
    return Task(
        task_id=task_id,
        meta_dataset=META,
        instructions=instructions,
        categories=str_list_field(data, "Categories", path),
        source=sources[0],
        split=split,
        languages=sorted(set(input_languages) | set(output_languages)),
        metadata={
            "domains": str_list_field(data, "Domains", path),
            "input_language": input_languages,
            "output_language": output_languages,
            "positive_examples": _demos(data, path),
            "file": path.name,
        },
        example_loader=lambda: _instances(path),
    )


def _task_from_catalog(name: str, line: int, row: dict[str, Any], path: Path, split: str) -> Task:
    summary = instruction_text(text_field(row, "summary", path, line), "field 'summary'", path, line)
    input_languages = str_list_field(row, "input_language", path, line)
    output_languages = str_list_field(row, "output_language", path, line)
    return Task(
        task_id=name,
        meta_dataset=META,
        instructions=[summary],
        categories=str_list_field(row, "categories", path, line),
        source=source_from_name(name),
        split=split,
        languages=sorted(set(input_languages) | set(output_languages)),
        metadata={
            "domains": str_list_field(row, "domains", path, line),
            "input_language": input_languages,
            "output_language": output_languages,
            "catalog_only": True,
        },
    )


def _is_english(task: Task) -> bool:
    langs = task.metadata.get("input_language", []) + task.metadata.get("output_language", [])
    return all(lang == "English" for lang in langs)


def load(root: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    if root.is_file():
        task_files, root = [root], root.parent
    else:
        task_files = sorted((root / "tasks").glob("*.json"))
    catalog = read_catalog(root)
    if not task_files and not catalog:
        raise DataError(
            root, "holds no tasks/*.json and no task_catalog.jsonl", "point the niv2 source at an NIV2 checkout"
        )
    splits = read_splits(root)
    split = options.get("split")
    if split is not None and split not in SPLITS:
        raise ConfigError(f"source 'niv2' has no split {split!r} (option split= takes one of {', '.join(SPLITS)})")
    english_only = flag(options.get("english_only", False))
    with_files = {p.stem for p in task_files}
    catalog_path = root / "task_catalog.jsonl"

    builders = [
        (lambda p=p: _task_from_file(p, catalog.get(p.stem), splits.get(p.stem, ""), catalog_path)) for p in task_files
    ]
    builders += [
        (lambda n=n, ln=ln, r=r: _task_from_catalog(n, ln, r, catalog_path, splits.get(n, "")))
        for n, (ln, r) in catalog.items()
        if n not in with_files
    ]
    tasks = report.collect(builders)
    if split is not None:
        tasks = tasks.filter(split=split)
    if english_only:
        tasks = tasks.filter(predicate=_is_english)
    return tasks


register(
    LoaderSpec(
        name=META,
        description="Super-NaturalInstructions: task files, default splits and task catalog",
        layout="tasks/<task>.json, splits/default/{train,test,excluded}_tasks.txt, task_catalog.jsonl",
        default_subdir="niv2",
        load=load,
        options={"split": "train, test or excluded", "english_only": "true to keep English-only tasks"},
    )
)
