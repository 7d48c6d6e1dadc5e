"""P3 prompt templates (promptsource).

Layout read: ``templates/<dataset>[/<subset>]/templates.yaml`` (the folder given may be the
repository root, its ``promptsource/`` package folder or ``templates/`` itself). The YAML uses
promptsource's tags ``!Template`` and ``!TemplateMetadata``. A task is ``dataset[/subset]``;
its instructions are its templates' Jinja text, placeholders such as ``{{premise}}`` kept.

Examples are rendered through a template only with ``render_examples=N`` (N > 0), because the
underlying dataset must be fetched with ``datasets.load_dataset``; offline the tasks are
instruction-only and a note says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from instr_select.errors import DataError
from instr_select.loaders.files import read_text
from instr_select.loaders.options import integer
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection

META = "promptsource"
log = logging.getLogger(__name__)
# Collections of several datasets: the subset names the real source.
_COLLECTIONS = {"glue", "super_glue", "blimp", "bigbench", "tydiqa", "xtreme", "kilt_tasks", "mdd"}
# Hub user namespaces: ``templates/<user>/<dataset>`` names a dataset, not a dataset and subset.
_NAMESPACES = {"Zaid", "craffel"}


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads promptsource's custom tags as plain mappings."""


def _mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_TemplateLoader.add_constructor("!Template", _mapping)
_TemplateLoader.add_constructor("!TemplateMetadata", _mapping)


def templates_root(path: Path) -> Path:
    for candidate in (path / "templates", path / "promptsource" / "templates", path):
        if candidate.is_dir() and any(candidate.glob("**/templates.yaml")):
            return candidate
    raise DataError(
        path, "holds no templates/<dataset>/templates.yaml", "point the promptsource source at a promptsource checkout"
    )


def read_templates(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(read_text(path), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DataError(path, f"malformed YAML: {getattr(exc, 'problem', exc)}", "fix the YAML syntax", line) from None
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        raise DataError(
            path, "missing required field 'templates'", "a promptsource file maps template ids to templates"
        )
    return data


def split_answer_choices(text: str | None) -> list[str]:
    return [c.strip() for c in text.split("|||")] if text else []


def _task(path: Path, root: Path, render_examples: int, report: LoadReport) -> Task:
    data = read_templates(path)
    rel = path.parent.relative_to(root).as_posix()
    dataset, _, subset = rel.partition("/")
    if dataset in _NAMESPACES and subset:
        dataset, subset = rel, ""
    templates = []
    for template_id, template in data["templates"].items():
        if not isinstance(template, dict) or not str(template.get("jinja", "")).strip():
            raise DataError(path, f"template {template_id} has no 'jinja' text", "give every template its Jinja text")
        templates.append(template)
    if not templates:
        raise DataError(path, "has no templates", "add at least one template")
    languages = sorted({lang for t in templates for lang in (t.get("metadata") or {}).get("languages") or []})
    task = Task(
        task_id=rel,
        meta_dataset=META,
        instructions=[str(t["jinja"]) for t in templates],
        categories=[],
        source=subset if dataset in _COLLECTIONS and subset else dataset.rpartition("/")[2],
        languages=languages,
        metadata={
            "dataset": dataset,
            "subset": subset or None,
            "template_names": [str(t.get("name", "")) for t in templates],
            "template_ids": [str(t.get("id", "")) for t in templates],
            "answer_choices": [t.get("answer_choices") for t in templates],
            "original_task": [bool((t.get("metadata") or {}).get("original_task")) for t in templates],
            "metrics": sorted({m for t in templates for m in (t.get("metadata") or {}).get("metrics") or []}),
        },
    )
    if render_examples > 0:
        task.example_loader = lambda: render_dataset_examples(task, render_examples, report)
    return task


def render_template(jinja: str, answer_choices: str | None, row: dict[str, Any]) -> Example | None:
    """Render one promptsource template on one dataset row; None when the template skips it."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    choices = split_answer_choices(env.from_string(answer_choices).render(**row)) if answer_choices else []
    parts = env.from_string(jinja).render(**row, answer_choices=choices).split("|||")
    if len(parts) < 2 or not parts[1].strip():
        return None
    return Example(input=parts[0].strip(), output=parts[1].strip(), options=tuple(choices))


def render_dataset_examples(task: Task, limit: int, report: LoadReport) -> list[Example]:
    """Load the dataset behind a P3 task and render its first template on up to ``limit`` rows."""
    try:
        import datasets

        subset = task.metadata.get("subset")
        rows = datasets.load_dataset(task.metadata["dataset"], subset, split=f"train[:{limit}]")
    except Exception as exc:  # network or dataset errors: the task stays instruction-only
        report.note(f"promptsource: could not load dataset for {task.task_id} ({type(exc).__name__}); instruction-only")
        return []
    examples = []
    for row in rows:
        try:
            example = render_template(task.instructions[0], task.metadata["answer_choices"][0], dict(row))
        except Exception as exc:  # a template that does not fit a row is skipped, as promptsource does
            log.debug("template failed on a row of %s: %s", task.task_id, exc)
            continue
        if example is not None:
            examples.append(example)
    return examples


def load(path: Path, report: LoadReport, options: dict[str, Any]) -> TaskCollection:
    root = templates_root(path)
    render = integer(options.get("render_examples", 0), "render_examples")
    files = sorted(root.glob("**/templates.yaml"))
    tasks = report.collect((lambda f=f: _task(f, root, render, report)) for f in files)
    if render <= 0:
        report.note("promptsource: tasks are instruction-only (render_examples=N loads datasets from the hub)")
    return tasks


register(
    LoaderSpec(
        name=META,
        description="P3 / promptsource prompt templates, one task per dataset[/subset]",
        layout="templates/<dataset>[/<subset>]/templates.yaml",
        default_subdir="promptsource",
        load=load,
        options={"render_examples": "N > 0 renders N examples per task from the hub dataset (network)"},
    )
)
