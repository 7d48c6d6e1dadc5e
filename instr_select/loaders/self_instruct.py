"""Self-Instruct.

Layout read (``yizhongw/self-instruct``, either file may be absent)::

    seed_tasks.jsonl                  {"id", "name", "instruction", "instances": [{"input", "output"}],
                                       "is_classification"}
    user_oriented_instructions.jsonl  {"id", "motivation_app", "instruction", "instances"}

Seed tasks are split ``seed`` with category classification/generation; user-oriented ones are
split ``user_oriented`` with their motivating app as category.
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
    require,
    task_id_text,
    text_field,
)
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection

META = "self_instruct"
FILES = {"seed_tasks.jsonl": "seed", "user_oriented_instructions.jsonl": "user_oriented"}


def _examples(row: dict[str, Any], path: Path, line: int) -> list[Example]:
    instances = row.get("instances") or []
    if not isinstance(instances, list):
        raise DataError(path, "field 'instances' must be a list", line=line)
    out = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict) or "output" not in inst:
            raise DataError(path, f"instances[{i}] needs 'output'", line=line)
        out.append(
            Example(
                input=as_text(inst.get("input"), f"instances[{i}].input", path, line),
                output=as_text(inst["output"], f"instances[{i}].output", path, line),
            )
        )
    return out


def _task(row: dict[str, Any], path: Path, line: int, split: str, ids: UniqueIds) -> Task:
    task_id = task_id_text(require(row, "id", path, line), "field 'id'", path, line)
    instruction = instruction_text(require(row, "instruction", path, line), "field 'instruction'", path, line)
    if split == "seed":
        categories = ["classification" if row.get("is_classification") else "generation"]
    else:
        app = text_field(row, "motivation_app", path, line)
        categories = [app] if app else []
    task = Task(
        task_id=task_id,
        meta_dataset=META,
        instructions=[instruction],
        categories=categories,
        source=text_field(row, "name", path, line) or task_id,
        split=split,
        languages=["English"],
        metadata={"name": row.get("name"), "motivation_app": row.get("motivation_app")},
        _examples=_examples(row, path, line),
    )
    ids.add(task_id, "field 'id'", path, line)
    return task


def load(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    if path.is_file():
        files = [(path, FILES.get(path.name, "seed"))]
    else:
        files = [(path / name, split) for name, split in FILES.items() if (path / name).is_file()]
    if not files:
        raise DataError(
            path,
            "holds neither seed_tasks.jsonl nor user_oriented_instructions.jsonl",
            "point the self_instruct source at a Self-Instruct checkout",
        )
    ids = UniqueIds(META)
    builders = [(lambda r=r, f=f, ln=ln, s=s: _task(r, f, ln, s, ids)) for f, s in files for ln, r in iter_jsonl(f)]
    return report.collect(builders)


register(
    LoaderSpec(
        name=META,
        description="Self-Instruct seed tasks and user-oriented evaluation instructions",
        layout="seed_tasks.jsonl, user_oriented_instructions.jsonl",
        default_subdir="self_instruct",
        load=load,
    )
)
