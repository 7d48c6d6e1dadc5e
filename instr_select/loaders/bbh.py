"""BIG-Bench Hard (BBH).

Layout read (the ``suzgunmirac/BIG-Bench-Hard`` repository)::

    bbh/<task>.json          {"canary": ..., "examples": [{"input", "target"}]}
    cot-prompts/<task>.txt   line 1 canary, line 2 "-----", line 3 the task description
    bbh/README.md            a longer description per task (optional)

Instructions are the chain-of-thought prompt's description and the README's paragraph. The
source is the BIG-bench task each BBH task was taken from. Options: lettered ``(A)`` options
in the input, else the task's distinct targets when there are at most five.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from instr_select.errors import DataError
from instr_select.loaders.files import as_text, instruction_text, read_json, read_text, task_id_text
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection, normalize_source

META = "bbh"
# BBH task -> the BIG-bench task it comes from.
BIGBENCH_PARENT = {
    "causal_judgement": "causal_judgment",
    "formal_fallacies": "formal_fallacies_syllogisms_negation",
    "logical_deduction_three_objects": "logical_deduction",
    "logical_deduction_five_objects": "logical_deduction",
    "logical_deduction_seven_objects": "logical_deduction",
    "multistep_arithmetic_two": "multistep_arithmetic",
    "tracking_shuffled_objects_three_objects": "tracking_shuffled_objects",
    "tracking_shuffled_objects_five_objects": "tracking_shuffled_objects",
    "tracking_shuffled_objects_seven_objects": "tracking_shuffled_objects",
}
_OPTION = re.compile(r"^\(([A-Z])\)\s", re.MULTILINE)
MAX_CLOSED_SET = 5


def cot_description(path: Path) -> str:
    lines = read_text(path).splitlines()
    if len(lines) < 3 or lines[1].strip() != "-----":
        raise DataError(
            path, "expected the canary line, '-----', then the task description", "use the BBH cot-prompts format"
        )
    description = lines[2].strip().removeprefix("Task description:")
    return instruction_text(description, "the task description", path, 3)


def parse_examples(path: Path) -> list[Example]:
    data = read_json(path)
    raw = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise DataError(path, "missing required field 'examples'", "a BBH file is {'examples': [{'input', 'target'}]}")
    pairs = []
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or "input" not in ex or "target" not in ex:
            raise DataError(path, f"examples[{i}] needs 'input' and 'target'")
        pairs.append(
            (as_text(ex["input"], f"examples[{i}].input", path), as_text(ex["target"], f"examples[{i}].target", path))
        )
    closed = sorted({t for _, t in pairs})
    examples = []
    for text, target in pairs:
        letters = _OPTION.findall(text)
        if letters:
            options = tuple(f"({c})" for c in letters)
        elif len(closed) <= MAX_CLOSED_SET:
            options = tuple(closed)
        else:
            options = ()
        examples.append(Example(input=text, output=target, options=options))
    return examples


def _readme_match(task: str, readme: dict[str, str]) -> tuple[str, str] | None:
    """The README heading and paragraph that name this task (or its BIG-bench parent)."""
    wanted = normalize_source(BIGBENCH_PARENT.get(task, task))
    for title, text in readme.items():
        heading = normalize_source(title)
        if heading.startswith(wanted) or wanted.startswith(heading):
            return title, text
    return None


def _readme_by_title(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pattern = re.compile(r"^## ([^\n]+)\n+([^\n]+)", flags=re.MULTILINE)
    return {m.group(1).strip(): m.group(2).strip() for m in pattern.finditer(read_text(path))}


def load(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    data_dir = path / "bbh" if (path / "bbh").is_dir() else path
    prompts_dir = path / "cot-prompts"
    files = sorted(data_dir.glob("*.json"))
    if not files:
        raise DataError(path, "holds no bbh/<task>.json files", "point the bbh source at a BIG-Bench-Hard checkout")
    readme_path = data_dir / "README.md"
    readme = _readme_by_title(readme_path)

    def build(file: Path) -> Task:
        name = task_id_text(file.stem, "the file name", file)
        prompt = prompts_dir / f"{name}.txt"
        instructions = [cot_description(prompt)] if prompt.is_file() else []
        title, extra = _readme_match(name, readme) or ("", "")
        if extra.strip():
            extra = instruction_text(extra, f"the paragraph under '## {title}'", readme_path)
            if extra not in instructions:
                instructions.append(extra)
        if not instructions:
            raise DataError(prompt, "does not exist", "add cot-prompts/<task>.txt with the task description")
        return Task(
            task_id=name,
            meta_dataset=META,
            instructions=instructions,
            categories=[],
            source=BIGBENCH_PARENT.get(name, name),
            split="test",
            languages=["English"],
            metadata={"bigbench_parent": BIGBENCH_PARENT.get(name, name)},
            example_loader=lambda: parse_examples(file),
        )

    return report.collect((lambda f=f: build(f)) for f in files)


register(
    LoaderSpec(
        name=META,
        description="BIG-Bench Hard: 27 hard BIG-bench tasks with chain-of-thought prompt descriptions",
        layout="bbh/<task>.json, cot-prompts/<task>.txt, bbh/README.md",
        default_subdir="bbh",
        load=load,
    )
)
