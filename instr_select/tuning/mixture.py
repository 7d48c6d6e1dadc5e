"""Training mixtures: selected tasks rendered into prompt/completion records, seeded and traceable.

Each meta-dataset renders its examples the way its papers train on them (see ``render_task``),
always through ``format_prompt``; the completion follows the separator rule of
``instr_select.tuning.export`` (one leading space). A mixture directory holds ``mixture.json``
(manifest with a format version and provenance), ``records.jsonl`` (the canonical records that
``tune`` reads), a dataset card and the export formats of ``instr_select.tuning.export``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.atomic import atomic_directory, check_replaceable
from instr_select.errors import ConfigError, DataError
from instr_select.loaders.files import iter_jsonl
from instr_select.provenance import provenance
from instr_select.selection import SelectedTask, Selection
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.tuning.modeling import format_prompt

if TYPE_CHECKING:
    import datasets

MIXTURE_FORMAT = 2  # 2: completions start with the separator (one space)
MANIFEST = "mixture.json"
RECORDS = "records.jsonl"
WEIGHTINGS = ("uniform", "score")
COLUMNS = ("prompt", "completion", "instruction", "input", "output", "task_id", "meta_dataset")


@dataclass
class MixtureConfig:
    """How tasks become records: budget per task, seed, weighting, NIV2 demonstrations."""

    max_per_task: int = 100
    seed: int = 0
    weighting: str = "uniform"
    positive_examples: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.max_per_task < 1:
            raise ConfigError(f"--max-per-task must be at least 1, not {self.max_per_task}")
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"unknown weighting {self.weighting!r} (choose one of: {', '.join(WEIGHTINGS)})")
        if self.positive_examples < 0:
            raise ConfigError(f"--positive-examples must be 0 or more, not {self.positive_examples}")


@dataclass
class Mixture:
    """Records plus the manifest that says how they were made."""

    records: list[dict[str, Any]]
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_dataset(self, format: str = "records") -> datasets.Dataset:
        """The records as a ``datasets.Dataset`` in an export format.

        ``records`` (every column), ``alpaca``, ``messages`` or ``prompt-completion``: the same
        rows as the files ``instr-select export`` writes (``instr_select.tuning.export``).
        """
        import datasets

        from instr_select.tuning.export import convert

        return datasets.Dataset.from_list(convert(self.records, format))

    def save(self, out: str | Path, formats: Sequence[str] = (), llama_factory: str | None = None) -> Path:
        """Write the mixture directory (see ``save_mixture``)."""
        return save_mixture(self, out, formats, llama_factory)

    @property
    def tasks_without_examples(self) -> list[str]:
        return list(self.manifest.get("tasks_without_examples", []))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def hash(self) -> str:
        return records_hash(self.records)


def records_hash(records: Sequence[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


# ---- rendering ----


def _options_block(example: Example) -> str:
    """Answer options appended to the input unless the input already lists them."""
    if not example.options or all(opt in example.input for opt in example.options):
        return ""
    return "\nOptions:\n" + "\n".join(f"- {opt}" for opt in example.options)


def task_instruction(task: Task, config: MixtureConfig | None = None) -> str:
    """The instruction part of a task's prompts (NIV2: Definition + optional positive examples)."""
    config = config or MixtureConfig()
    if task.meta_dataset == "promptsource":
        return ""  # the template is rendered into each example's input
    instruction = task.instructions[0]
    demos = task.metadata.get("positive_examples") or []
    if task.meta_dataset == "niv2" and config.positive_examples and demos:
        parts = [f"Definition: {instruction}"]
        for i, demo in enumerate(demos[: config.positive_examples], start=1):
            parts.append(f"Positive Example {i} -\nInput: {demo['input']}\nOutput: {demo['output']}")
        instruction = "\n\n".join(parts)
    return instruction


def render_example(task: Task, example: Example, instruction: str) -> dict[str, Any]:
    """One record: alpaca fields, the formatted prompt and completion, and the task's identity."""
    if task.meta_dataset == "promptsource":
        instruction, input_text = example.input, ""
    else:
        input_text = example.input + _options_block(example)
    from instr_select.tuning.export import completion_text

    return {
        "prompt": format_prompt(instruction, input_text),
        "completion": completion_text(example.output),
        "instruction": instruction,
        "input": input_text,
        "output": example.output,
        "task_id": task.task_id,
        "meta_dataset": task.meta_dataset,
    }


def render_task(task: Task, count: int, config: MixtureConfig) -> list[dict[str, Any]]:
    """Up to ``count`` of the task's examples, sampled with a per-task seed (order-independent)."""
    examples = list(task.examples)
    if len(examples) > count:
        rng = random.Random(f"{config.seed}:{task.key}")
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), count))]
    instruction = task_instruction(task, config)
    return [render_example(task, ex, instruction) for ex in examples]


def task_counts(selected: Sequence[SelectedTask], config: MixtureConfig) -> list[int]:
    """Examples wanted per task: ``max_per_task`` each, or proportional to score (top task full)."""
    if config.weighting == "uniform" or not selected:
        return [config.max_per_task] * len(selected)
    scores = [max(float(s.score), 0.0) for s in selected]
    top = max(scores)
    if top <= 0:
        return [config.max_per_task] * len(selected)
    return [max(1, round(config.max_per_task * s / top)) for s in scores]


# ---- building ----


def as_selection(tasks: Selection | Sequence[str] | TaskCollection, selector: str = "tasks") -> Selection:
    """A Selection from a Selection, a list of ``meta_dataset:task_id`` keys, or tasks (score 1)."""
    if isinstance(tasks, Selection):
        return tasks
    keys = [t.key for t in tasks] if isinstance(tasks, TaskCollection) else [str(k) for k in tasks]
    chosen = []
    for rank, key in enumerate(keys, start=1):
        meta, sep, task_id = key.partition(":")
        if not sep or not meta or not task_id:
            raise DataError(None, f"task reference {key!r} is not META_DATASET:TASK_ID", "e.g. bigbench:navigate")
        chosen.append(SelectedTask(rank=rank, task_id=task_id, meta_dataset=meta, score=1.0))
    return Selection(selector=selector, tasks=chosen)


def read_task_list(path: str | Path) -> Selection:
    """``--tasks FILE``: a selection JSON, or a text file of ``meta_dataset:task_id`` lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "does not exist", "pass a selection JSON or a file of META_DATASET:TASK_ID lines")
    from instr_select.loaders.files import read_text

    text = read_text(path)
    empty = "the selection is empty (it names no task)"
    if text.lstrip().startswith("{"):
        selection = Selection.load(path)
        if not selection.tasks:
            raise DataError(path, empty, "select at least one task")
        return selection
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            raise DataError(
                path, f"{line!r} is not META_DATASET:TASK_ID", "write one task per line, e.g. bbh:navigate", number
            )
        keys.append(line)
    if not keys:
        raise DataError(path, empty, "write one META_DATASET:TASK_ID per line, e.g. bbh:navigate")
    return as_selection(keys, selector="tasks-file")


def resolve_tasks(
    selection: Selection, pool: TaskCollection | None = None, data_dir: str | Path | None = None
) -> list[Task]:
    """The Task of every selected key, from ``pool`` or by loading the meta-datasets it names."""
    from instr_select.loaders import load_source

    if not selection.tasks:
        raise DataError(None, "the selection is empty", "select at least one task (check -k and the filters)")
    loaded: dict[str, TaskCollection] = {}
    out = []
    for chosen in selection.tasks:
        task = pool.find(chosen.key) if pool is not None else None
        if task is None:
            if chosen.meta_dataset not in loaded:
                loaded[chosen.meta_dataset] = load_source(chosen.meta_dataset, data_dir=data_dir)
            task = loaded[chosen.meta_dataset].find(chosen.key)
        if task is None:
            raise DataError(
                None, f"selected task {chosen.key!r} is not in its meta-dataset", "check the id and --data-dir"
            )
        out.append(task)
    return out


def build_records(
    tasks: Selection | Sequence[str] | TaskCollection,
    config: MixtureConfig | None = None,
    pool: TaskCollection | None = None,
    data_dir: str | Path | None = None,
) -> Mixture:
    """Render the selected tasks into a mixture (records + manifest)."""
    config = config or MixtureConfig()
    selection = as_selection(tasks)
    pool = tasks if isinstance(tasks, TaskCollection) else pool
    resolved = resolve_tasks(selection, pool, data_dir)
    counts = task_counts(selection.tasks, config)
    records: list[dict[str, Any]] = []
    per_task: dict[str, int] = {}
    for chosen, task, count in zip(selection.tasks, resolved, counts, strict=True):
        rows = render_task(task, count, config)
        per_task[chosen.key] = len(rows)
        records.extend(rows)
    if not records:
        raise DataError(
            None,
            f"none of the {len(resolved)} selected tasks has examples",
            "select tasks with examples (P3 needs its datasets; NIV2 catalog-only tasks have none)",
        )
    if config.shuffle:
        random.Random(config.seed).shuffle(records)
    manifest = {
        "format": MIXTURE_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "selector": selection.selector,
        "query": selection.query,
        "target": selection.target,
        "selection_params": selection.params,
        "hashes": {k: v for k, v in selection.params.items() if "hash" in k},
        "tasks": [
            {**asdict(chosen), "examples": per_task[chosen.key], "available": len(task.examples)}
            for chosen, task in zip(selection.tasks, resolved, strict=True)
        ],
        "tasks_without_examples": [k for k, n in per_task.items() if n == 0],
        "config": asdict(config),
        "examples": len(records),
        "mixture_hash": records_hash(records),
        **provenance("datasets", "transformers"),
    }
    return Mixture(records, manifest)


def build_mixture(
    tasks: Selection | Sequence[str] | TaskCollection,
    config: MixtureConfig | None = None,
    pool: TaskCollection | None = None,
    data_dir: str | Path | None = None,
) -> Mixture:
    """The mixture with its manifest, for trainers calling instr-select as a preprocessing step.

    ``.to_dataset(format=...)`` gives a ``datasets.Dataset`` (``records``, ``alpaca``, ``messages``,
    ``prompt-completion``); ``.manifest`` says how it was made. Selected tasks without examples
    are left out with a ``UserWarning`` naming them (also in ``.tasks_without_examples``).
    """
    mixture = build_records(tasks, config, pool, data_dir)
    skipped = mixture.tasks_without_examples
    if skipped:
        warnings.warn(
            f"{len(skipped)} selected task(s) have no examples and are left out: {', '.join(skipped)}",
            UserWarning,
            stacklevel=2,
        )
    return mixture


# ---- on disk ----


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def save_mixture(
    mixture: Mixture, out: str | Path, formats: Sequence[str] = (), llama_factory: str | None = None
) -> Path:
    """Write the mixture directory atomically (temporary directory, then rename into place)."""
    from instr_select.tuning.export import write_formats

    out = check_replaceable(out, (MANIFEST,))  # an existing folder that is not a mixture is refused
    with atomic_directory(out) as tmp:
        write_jsonl(tmp / RECORDS, mixture.records)
        files = write_formats(mixture.records, tmp, formats, llama_factory, final=out, manifest=mixture.manifest)
        manifest = {**mixture.manifest, "files": {RECORDS: "canonical records", **files}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    mixture.manifest = manifest
    return out


REEXPORT = "re-run `instr-select export`"


def load_mixture(path: str | Path) -> Mixture:
    """Read a mixture directory, checked against what its manifest says it is.

    A missing or foreign manifest, another format version, a record with a missing or non-string
    field, a completion without the format's separator, or records that are not those the
    manifest's ``mixture_hash`` names: a one-line DataError naming the file (and line, and field).
    """
    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise DataError(path, f"has no {MANIFEST}", "pass a directory written by `instr-select export`")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(manifest_file, f"is not valid JSON ({exc.__class__.__name__})", REEXPORT) from None
    _check_manifest(manifest_file, manifest)
    records_file = path / RECORDS
    if not records_file.is_file():
        raise DataError(path, f"has no {RECORDS}", REEXPORT)
    records = [_check_record(row, records_file, number) for number, row in iter_jsonl(records_file)]
    if not records:
        raise DataError(records_file, "holds no records", REEXPORT)
    if records_hash(records) != manifest["mixture_hash"]:
        raise DataError(
            records_file,
            f"does not match the 'mixture_hash' in {MANIFEST} (edited, or from another mixture)",
            REEXPORT,
        )
    return Mixture(records, manifest)


def _check_manifest(manifest_file: Path, manifest: Any) -> None:
    """A mixture manifest of this format version (an exact integer: 2.0 or "2" is not a version)."""
    if not isinstance(manifest, dict):
        raise DataError(manifest_file, "is not a mixture manifest (a JSON object)", REEXPORT)
    found = manifest.get("format")
    if type(found) is not int or found != MIXTURE_FORMAT:
        raise DataError(
            manifest_file,
            f"mixture format {found!r} is unknown (this instr-select reads format {MIXTURE_FORMAT})",
            f"{REEXPORT} with this version",
        )
    if not isinstance(manifest.get("mixture_hash"), str):
        raise DataError(manifest_file, "field 'mixture_hash' is missing or not a string", REEXPORT)


def _check_record(row: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    """Every column a record has (``render_example``) is a string; the completion starts with the separator."""
    from instr_select.tuning.export import COMPLETION_SEPARATOR

    for name in COLUMNS:
        if name not in row:
            raise DataError(path, f"record lacks field {name!r}", REEXPORT, number)
        if not isinstance(row[name], str):
            raise DataError(path, f"field {name!r} must be a string, not {_json_type(row[name])}", REEXPORT, number)
    if not row["completion"].startswith(COMPLETION_SEPARATOR):
        raise DataError(
            path,
            f"field 'completion' does not start with {COMPLETION_SEPARATOR!r}, as mixture format {MIXTURE_FORMAT} "
            "requires (a record of another format version)",
            REEXPORT,
            number,
        )
    return row


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)
