"""The task model: what a meta-dataset holds, used by every later step."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from instr_select.errors import DataError


@dataclass(frozen=True)
class Example:
    """One training/evaluation instance of a task.

    ``output`` is the reference used for training; ``references`` holds every acceptable
    answer (NIV2 lists several); ``options`` holds the answer options of a multiple-choice
    task, in which case ``output`` is the correct one.
    """

    input: str
    output: str
    references: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @property
    def answers(self) -> tuple[str, ...]:
        return self.references or (self.output,)


ExampleLoader = Callable[[], Sequence[Example]]


def normalize_source(name: str) -> str:
    """Canonical form of a source-dataset name, comparable across meta-datasets."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass
class Task:
    """A task of a meta-dataset.

    ``instructions`` are the texts that describe the task (NIV2 definition, P3 templates,
    BIG-bench description, ...). ``source`` names the dataset the task was built from, so
    that a selection can leave out tasks sharing the target's source. Examples are loaded
    lazily through ``example_loader``: retrieval needs only instructions.
    """

    task_id: str
    meta_dataset: str
    instructions: list[str]
    categories: list[str] = field(default_factory=list)
    source: str = ""
    split: str = ""
    languages: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    answer_choices: list[str] = field(default_factory=list)  # a fixed label set its data declares (task cards)
    example_loader: ExampleLoader | None = field(default=None, repr=False, compare=False)
    _examples: list[Example] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id.strip():
            raise DataError(None, "a task has an empty task_id", "give every task a non-empty id")
        from instr_select.textcheck import text_problem

        if not isinstance(self.task_id, str) or text_problem(self.task_id):
            raise DataError(None, f"task id {self.task_id!r} is not usable text", "give every task a readable id")
        cleaned = [text.strip() if isinstance(text, str) else text for text in self.instructions]
        if not cleaned or any(not text for text in cleaned):
            raise DataError(None, f"task {self.task_id!r} has an empty instruction", "give it a non-empty instruction")
        for number, text in enumerate(cleaned, 1):
            problem = "is not text" if not isinstance(text, str) else text_problem(text)
            if problem:
                raise DataError(None, f"task {self.task_id!r}: instruction {number} {problem}")
        self.instructions = cleaned

    @property
    def key(self) -> str:
        """Globally unique reference ``meta_dataset:task_id``."""
        return f"{self.meta_dataset}:{self.task_id}"

    @property
    def source_key(self) -> str:
        return normalize_source(self.source or self.task_id)

    @property
    def examples(self) -> list[Example]:
        if self._examples is None:
            self._examples = list(self.example_loader()) if self.example_loader else []
        return self._examples

    @property
    def has_example_loader(self) -> bool:
        return self.example_loader is not None or bool(self._examples)

    def to_dict(self, with_examples: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "meta_dataset": self.meta_dataset,
            "instructions": list(self.instructions),
            "categories": list(self.categories),
            "source": self.source,
            "split": self.split,
            "languages": list(self.languages),
            "metadata": self.metadata,
        }
        if self.answer_choices:
            out["answer_choices"] = list(self.answer_choices)
        if with_examples:
            out["examples"] = [
                {"input": e.input, "output": e.output, "references": list(e.references), "options": list(e.options)}
                for e in self.examples
            ]
        return out


class TaskCollection(Sequence[Task]):
    """An ordered collection of tasks with lookup by id, filtering and counts."""

    def __init__(self, tasks: Iterable[Task] = ()) -> None:
        self._tasks: list[Task] = []
        self._by_key: dict[str, Task] = {}
        for task in tasks:
            self.add(task)

    def add(self, task: Task) -> None:
        if task.key in self._by_key:
            raise DataError(None, f"duplicate task id {task.key!r}", "task ids must be unique within a meta-dataset")
        self._tasks.append(task)
        self._by_key[task.key] = task

    def __len__(self) -> int:
        return len(self._tasks)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return TaskCollection(self._tasks[index])
        return self._tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return self.find(item) is not None
        return item in self._tasks

    def __add__(self, other: TaskCollection) -> TaskCollection:
        return TaskCollection([*self._tasks, *other._tasks])

    def find(self, ref: str) -> Task | None:
        """Look a task up by ``meta_dataset:task_id`` or by a bare ``task_id`` if unambiguous."""
        if ref in self._by_key:
            return self._by_key[ref]
        matches = [t for t in self._tasks if t.task_id == ref]
        return matches[0] if len(matches) == 1 else None

    def get(self, ref: str) -> Task:
        task = self.find(ref)
        if task is None:
            raise DataError(None, f"no task {ref!r}", "use META_DATASET:TASK_ID as listed by `instr-select inspect`")
        return task

    def filter(
        self,
        meta_dataset: str | Sequence[str] | None = None,
        category: str | None = None,
        split: str | None = None,
        language: str | None = None,
        with_examples: bool | None = None,
        predicate: Callable[[Task], bool] | None = None,
    ) -> TaskCollection:
        names = {meta_dataset} if isinstance(meta_dataset, str) else set(meta_dataset or ())

        def keep(task: Task) -> bool:
            if names and task.meta_dataset not in names:
                return False
            if category is not None and category not in task.categories:
                return False
            if split is not None and task.split != split:
                return False
            if language is not None and task.languages and language not in task.languages:
                return False
            if with_examples is not None and bool(task.examples) != with_examples:
                return False
            return predicate(task) if predicate else True

        return TaskCollection(t for t in self._tasks if keep(t))

    def counts(self, with_examples: bool = True) -> dict[str, Any]:
        """Summary counts: tasks, instructions, examples, categories and languages."""
        categories: Counter[str] = Counter(c for t in self._tasks for c in t.categories)
        languages: Counter[str] = Counter(lang for t in self._tasks for lang in t.languages)
        out: dict[str, Any] = {
            "tasks": len(self._tasks),
            "instructions": sum(len(t.instructions) for t in self._tasks),
            "meta_datasets": dict(Counter(t.meta_dataset for t in self._tasks)),
            "splits": dict(Counter(t.split or "-" for t in self._tasks)),
            "categories": len(categories),
            "top_categories": dict(categories.most_common(10)),
            "languages": dict(languages.most_common()),
            "sources": len({t.source_key for t in self._tasks}),
        }
        if with_examples:
            out["examples"] = sum(len(t.examples) for t in self._tasks)
            out["tasks_with_examples"] = sum(1 for t in self._tasks if t.examples)
        return out
