"""``query()``: the Python API mirroring ``instr-select query``, for use as a preprocessing step.

The default index is ``instr_select.paths.default_index_dir()`` (``INSTR_SELECT_INDEX``, else the
per-user cache), built by ``instr-select build-default``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import overload

from instr_select.errors import ConfigError, DataError
from instr_select.paths import default_index_dir
from instr_select.selection import Selection

_CACHE: dict[tuple[str, float], object] = {}


def open_index(index: str | Path | None = None):
    """Load an index once per process (cached by path and manifest time)."""
    from instr_select.index import InstructionIndex

    path = Path(index) if index is not None else default_index_dir()
    manifest = path / "manifest.json"
    if index is None and not manifest.is_file():
        raise DataError(
            path,
            "the default index is not built",
            "run `instr-select build-default --data-dir DIR` (or set INSTR_SELECT_INDEX, or pass --index DIR)",
        )
    key = (str(path.resolve()), manifest.stat().st_mtime if manifest.is_file() else 0.0)
    if key not in _CACHE:
        _CACHE[key] = InstructionIndex.load(path)
    return _CACHE[key]


def exclusion_for(index, target: str | None, data_dir: str | Path | None = None) -> tuple[set[str], set[str]]:
    """(source keys, task keys) to leave out for ``--exclude-source TARGET``."""
    if not target:
        return set(), set()
    record = index.find_task(target)
    if record is not None:
        return {record.source_key}, {record.key}
    meta, sep, task_id = target.partition(":")
    if not sep:
        raise ConfigError(
            f"--exclude-source {target!r} is not a task of the index; name it as META_DATASET:TASK_ID to look it up in the data"
        )
    from instr_select.loaders import load_source

    task = load_source(meta, data_dir=data_dir).find(target)
    if task is None:
        raise ConfigError(f"--exclude-source {target!r}: no such task in meta-dataset {meta!r}")
    return {task.source_key}, {task.key}


@overload
def query(
    instruction: str,
    index: str | Path | None = ...,
    k: int = ...,
    method: str = ...,
    aggregate: str | None = ...,
    meta_datasets: Sequence[str] | None = ...,
    exclude_source_of: str | None = ...,
    data_dir: str | Path | None = ...,
    guard: bool = ...,
    examples_only: bool = ...,
    answer_fit: float | None = ...,
) -> Selection: ...


@overload
def query(
    instruction: Sequence[str],
    index: str | Path | None = ...,
    k: int = ...,
    method: str = ...,
    aggregate: str | None = ...,
    meta_datasets: Sequence[str] | None = ...,
    exclude_source_of: str | None = ...,
    data_dir: str | Path | None = ...,
    guard: bool = ...,
    examples_only: bool = ...,
    answer_fit: float | None = ...,
) -> list[Selection]: ...


def query(
    instruction: str | Sequence[str],
    index: str | Path | None = None,
    k: int = 10,
    method: str = "dense",
    aggregate: str | None = None,
    meta_datasets: Sequence[str] | None = None,
    exclude_source_of: str | None = None,
    data_dir: str | Path | None = None,
    guard: bool = True,
    examples_only: bool = False,
    answer_fit: float | None = None,
) -> Selection | list[Selection]:
    """Rank the tasks of ``index`` (default: ``default_index_dir()``) for a target instruction.

    ``instruction`` is one string (returns a Selection) or a list of strings (returns one
    Selection per instruction, in order, encoded in one batch). ``guard``: when an instruction is
    itself an instruction of the index, leave out that task's source dataset (recorded in
    ``params["guard"]``). ``examples_only``: only tasks that ship examples; otherwise a UserWarning
    names the chosen tasks that have none (nothing to train on). ``answer_fit``: weight of the
    answer-length re-ranking (``instr_select.retrieval.answer_fit``; 0: off). ``aggregate`` and
    ``answer_fit`` left None take the defaults of ``instr_select.retrieval.defaults``.
    """
    from instr_select.retrieval.defaults import DEFAULT_AGGREGATE, resolve_answer_fit
    from instr_select.retrieval.retriever import Retriever, check_instruction

    aggregate = aggregate or DEFAULT_AGGREGATE
    single = isinstance(instruction, str)
    texts = [instruction] if single else list(instruction)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ConfigError("query() takes an instruction or a non-empty list of instruction strings")
    loaded = open_index(index)
    answer_fit = resolve_answer_fit(answer_fit, loaded)
    sources, keys = exclusion_for(loaded, exclude_source_of, data_dir)
    retriever = Retriever(loaded, method=method, aggregate=aggregate, answer_fit=answer_fit)
    ranked = retriever.search_many(
        texts, k, meta_datasets, exclude_sources=sources, exclude_keys=keys, guard=guard, examples_only=examples_only
    )
    selections = []
    for text, tasks in zip(texts, ranked, strict=True):
        hit = retriever.guard_hit(check_instruction(text)) if guard else None
        empty = [t.key for t in tasks if t.has_examples is False]
        if empty:
            warnings.warn(
                f"{len(empty)} of {len(tasks)} selected tasks have no examples to train on ({', '.join(empty[:5])}"
                f"{', ...' if len(empty) > 5 else ''}); pass examples_only=True to select k tasks with examples",
                UserWarning,
                stacklevel=2,
            )
        selections.append(
            make_selection(
                loaded,
                text,
                tasks,
                method,
                aggregate,
                k,
                meta_datasets,
                exclude_source_of,
                guard,
                hit,
                examples_only,
                answer_fit,
            )
        )
    return selections[0] if single else selections


def guard_record(guard: bool, hit) -> dict:
    """What the leakage guard did, for the JSON output and the selection's params."""
    if not guard:
        return {"on": False}
    return {"on": True, **(hit.to_dict() if hit is not None else {"recognised_as": None, "excluded_sources": []})}


def make_selection(
    index,
    instruction,
    tasks,
    method,
    aggregate,
    k,
    meta_datasets,
    target,
    guard=True,
    hit=None,
    examples_only=False,
    answer_fit=0.0,
) -> Selection:
    return Selection(
        selector=f"retrieval-{method}",
        tasks=tasks,
        query=instruction.strip(),
        target=target,
        params={
            "index": str(index.directory) if index.directory is not None else None,
            "encoder_hash": index.manifest.encoder.get("hash"),
            "k": k,
            "method": method,
            "aggregate": aggregate,
            "answer_fit": answer_fit,
            "meta_datasets": list(meta_datasets or []),
            "exclude_source_of": target,
            "guard": guard_record(guard, hit),
            "examples_only": examples_only,
        },
    )
