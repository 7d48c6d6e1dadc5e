"""The loader registry: a meta-dataset name maps to a function that reads its on-disk layout."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instr_select.errors import ConfigError, DataError
from instr_select.paths import resolve_data_dir
from instr_select.tasks import Task, TaskCollection

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What a load kept and, in lenient mode, what it skipped and why."""

    lenient: bool = False
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def collect(self, builders: Iterable[Callable[[], Task | None]]) -> TaskCollection:
        """Run each task builder; in lenient mode a bad task is skipped and recorded."""
        tasks = TaskCollection()
        for build in builders:
            try:
                task = build()
                if task is not None:
                    tasks.add(task)
            except DataError as exc:
                if not self.lenient:
                    raise
                self.skipped.append(str(exc))
        return tasks

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
            log.info(message)


LoadFunction = Callable[[Path, LoadReport, dict[str, Any]], TaskCollection]


@dataclass(frozen=True)
class LoaderSpec:
    """A registered loader: its name, what it reads, and where its data lives by default."""

    name: str
    description: str
    layout: str
    default_subdir: str | None
    load: LoadFunction
    options: dict[str, str] = field(default_factory=dict)
    path_must_exist: bool = True


_REGISTRY: dict[str, LoaderSpec] = {}


def register(spec: LoaderSpec) -> LoaderSpec:
    _REGISTRY[spec.name] = spec
    return spec


def loader_names() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


def get_loader(name: str) -> LoaderSpec:
    _ensure_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown source {name!r} (choose one of: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def parse_source(spec: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME=PATH`` -> (name, path or None)."""
    name, sep, path = spec.partition("=")
    return name.strip(), (path.strip() or None) if sep else None


def source_path(name: str, path: str | Path | None = None, data_dir: str | Path | None = None) -> Path:
    """The path a source reads: the explicit one, or its folder under the data directory."""
    spec = get_loader(name)
    if path is not None:
        resolved = Path(path)
    elif spec.default_subdir is None:
        raise ConfigError(f"source {name!r} needs a path: {name}=PATH")
    else:
        resolved = resolve_data_dir(data_dir) / spec.default_subdir
    if spec.path_must_exist and not resolved.exists():
        raise DataError(resolved, "does not exist", f"check the path given for source {name!r} or pass --data-dir")
    return resolved


def load_source(
    source: str,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    lenient: bool = False,
    report: LoadReport | None = None,
    **options: Any,
) -> TaskCollection:
    """Load one meta-dataset. ``source`` is a loader name or ``NAME=PATH``."""
    name, inline_path = parse_source(source)
    spec = get_loader(name)
    unknown = set(options) - set(spec.options)
    if unknown:
        allowed = ", ".join(sorted(spec.options)) or "none"
        raise ConfigError(f"source {name!r} has no option {sorted(unknown)[0]!r} (options: {allowed})")
    report = report if report is not None else LoadReport(lenient=lenient)
    report.lenient = report.lenient or lenient
    resolved = source_path(name, path or inline_path, data_dir)
    try:
        return spec.load(resolved, report, options)
    except DataError as exc:
        if exc.path is not None:
            raise
        # a check of the task model that the loader did not locate: name at least the source read
        raise DataError(resolved, f"{name} source: {exc.problem}", exc.fix, exc.line) from None


def load_sources(
    sources: Iterable[str], data_dir: str | Path | None = None, lenient: bool = False, report: LoadReport | None = None
) -> TaskCollection:
    """Load several meta-datasets into one collection."""
    report = report if report is not None else LoadReport(lenient=lenient)
    tasks, origin = TaskCollection(), {}
    for source in sources:
        for task in load_source(source, data_dir=data_dir, report=report):
            if task.key in origin:
                raise ConfigError(
                    f"sources {origin[task.key]!r} and {source!r} both hold task {task.key!r} "
                    "(load each meta-dataset once, or give the task another id in one of them)"
                )
            origin[task.key] = source
            tasks.add(task)
    return tasks


_loaded_builtin = False


def _ensure_builtin() -> None:
    global _loaded_builtin
    if not _loaded_builtin:
        _loaded_builtin = True
        from instr_select.loaders import bbh, bigbench, jsonl, niv2, promptsource, self_instruct  # noqa: F401
