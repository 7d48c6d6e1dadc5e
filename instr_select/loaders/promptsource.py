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
from instr_select.loaders.files import instruction_text, read_text, task_id_text
from instr_select.loaders.options import integer
from instr_select.loaders.registry import LoaderSpec, LoadReport, register
from instr_select.tasks import Example, Task, TaskCollection

META = "promptsource"
log = logging.getLogger(__name__)
# Collections of several datasets: the subset names the real source.
_COLLECTIONS = {"glue", "super_glue", "blimp", "bigbench", "tydiqa", "xtreme", "kilt_tasks", "mdd"}
# Hub user namespaces: ``templates/<user>/<dataset>`` names a dataset, not a dataset and subset.
_NAMESPACES = {"Zaid", "craffel"}


MAX_ALIASES = 100  # YAML aliases allowed in one file (an alias bomb expands exponentially)
MAX_DEPTH = 100  # nesting depth of one YAML file


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads promptsource's custom tags as plain mappings, with bounded aliases and depth."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitError(f"more than {MAX_ALIASES} YAML aliases (an alias bomb?)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"YAML nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _LimitError(Exception):
    """A YAML file over the loader's limits."""


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
    except _LimitError as exc:
        raise DataError(path, str(exc), "write each template out in full") from None
    except RecursionError:
        raise DataError(path, "YAML is nested too deeply", "flatten the file") from None
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


def fixed_answer_choices(templates: list[dict[str, Any]]) -> list[str]:
    """The first template's answer choices that are plain text (no Jinja, so the same for every row)."""
    for template in templates:
        text = template.get("answer_choices")
        if isinstance(text, str) and "{" not in text:
            choices = [c for c in split_answer_choices(text) if c]
            if choices:
                return choices
    return []


def _task(path: Path, root: Path, render_examples: int, report: LoadReport) -> Task:
    data = read_templates(path)
    rel = task_id_text(path.parent.relative_to(root).as_posix(), "the folder name", path)
    dataset, _, subset = rel.partition("/")
    if dataset in _NAMESPACES and subset:
        dataset, subset = rel, ""
    templates = []
    for template_id, template in data["templates"].items():
        if (
            not isinstance(template, dict)
            or not isinstance(template.get("jinja"), str)
            or not template["jinja"].strip()
        ):
            raise DataError(path, f"template {template_id} has no 'jinja' text", "give every template its Jinja text")
        where = f"template {template_id}"
        template = {**template, "jinja": instruction_text(template["jinja"], f"{where}: 'jinja'", path)}
        metadata = template.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise DataError(path, f"{where}: 'metadata' must be a mapping")
        for key in ("languages", "metrics"):
            value = metadata.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DataError(path, f"{where}: metadata '{key}' must be a list of strings")
        for key in ("answer_choices", "name", "id"):
            if template.get(key) is not None and not isinstance(template[key], (str, int)):
                raise DataError(path, f"{where}: '{key}' must be text")
        templates.append(template)
    if not templates:
        raise DataError(path, "has no templates", "add at least one template")
    languages = sorted({lang for t in templates for lang in (t.get("metadata") or {}).get("languages") or []})
    task = Task(
        task_id=rel,
        meta_dataset=META,
        instructions=[t["jinja"] for t in templates],
        categories=[],
        source=subset if dataset in _COLLECTIONS and subset else dataset.rpartition("/")[2],
        languages=languages,
        answer_choices=fixed_answer_choices(templates),
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
        task.example_loader = lambda: render_dataset_examples(task, render_examples, report, path)
    return task


def template_environment():
    """jinja2's immutable sandbox: a template from a data file can read its row, never run code."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def render_template(jinja: str, answer_choices: str | None, row: dict[str, Any]) -> Example | None:
    """Render one promptsource template on one dataset row; None when the template skips it."""
    from jinja2.exceptions import SecurityError, TemplateSyntaxError

    env = template_environment()
    try:
        choices = split_answer_choices(env.from_string(answer_choices).render(**row)) if answer_choices else []
        parts = env.from_string(jinja).render(**row, answer_choices=choices).split("|||")
    except SecurityError as exc:
        raise DataError(
            None, f"'jinja' refused by the Jinja sandbox ({exc})", "a template may only read its row's fields"
        ) from None
    except TemplateSyntaxError as exc:
        where = f"line {exc.lineno} of the template: " if exc.lineno else ""
        raise DataError(None, f"'jinja' is not valid Jinja ({where}{exc.message})", "fix the template") from None
    if len(parts) < 2 or not parts[1].strip():
        return None
    return Example(input=parts[0].strip(), output=parts[1].strip(), options=tuple(choices))


def render_dataset_examples(task: Task, limit: int, report: LoadReport, path: Path | None = None) -> list[Example]:
    """Load the dataset behind a P3 task and render its first template on up to ``limit`` rows.

    ``path`` is the task's ``templates.yaml``, named by a template's error.
    """
    from instr_select.offline import ensure_offline

    ensure_offline()
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
        except DataError as exc:
            template = task.metadata["template_ids"][0] or task.metadata["template_names"][0] or "1"
            where = path if path is not None else f"promptsource task {task.task_id}"
            raise DataError(where, f"template {template}: {exc.problem}", exc.fix) from None
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
