"""Text views: what the encoder and BM25 see of an instruction (its display text never changes).

P3 instructions are Jinja templates (``{% if label == 0 %} Why does {{premise}} entail ...``). The
``readable`` view keeps their words and drops the template machinery: statements and comments go,
an expression becomes its quoted strings and the words of its names (``{{answer_choices[label]}}``
-> ``answer choices label``), and the ``|||`` separating prompt and target becomes a space. Text
without Jinja is returned unchanged. A plain-language query ("Decide whether the second sentence
follows from the first.") then meets the template's words instead of its braces. The index records
its view in the manifest and applies it to every query, so index and query always agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from instr_select.errors import ConfigError

_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_STATEMENT = re.compile(r"\{%.*?%\}", re.S)
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
_STRING = re.compile(r"\"([^\"]*)\"|'([^']*)'")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Jinja filters and helpers: template machinery, not words of the task.
_MACHINERY = set(
    [
        "join",
        "lower",
        "upper",
        "trim",
        "replace",
        "list",
        "length",
        "first",
        "last",
        "int",
        "string",
        "title",
        "capitalize",
        "choice",
        "range",
        "if",
        "else",
        "not",
        "and",
        "or",
        "in",
        "is",
    ]
)


def _expression_words(match: re.Match[str]) -> str:
    inner = match.group(1)
    strings = [a or b for a, b in _STRING.findall(inner)]
    names = [w for w in _NAME.findall(_STRING.sub(" ", inner).replace("_", " ")) if w.lower() not in _MACHINERY]
    return " " + " ".join(strings + names) + " "


def readable(text: str) -> str:
    """The words of a Jinja template (P3 style); any other text unchanged."""
    if "{{" not in text and "{%" not in text and "{#" not in text and "|||" not in text:
        return text
    words = _COMMENT.sub(" ", text)
    words = _STATEMENT.sub(" ", words)
    words = _EXPRESSION.sub(_expression_words, words)
    words = " ".join(words.replace("|||", " ").split())
    return words or text


def raw(text: str) -> str:
    """The instruction exactly as stored."""
    return text


TEXT_VIEWS: dict[str, Callable[[str], str]] = {"readable": readable, "raw": raw}
DEFAULT_TEXT_VIEW = "readable"


def text_view(name: str) -> Callable[[str], str]:
    """The view function called ``name``; a ConfigError naming the choices otherwise."""
    try:
        return TEXT_VIEWS[name]
    except KeyError:
        raise ConfigError(f"text view {name!r} is unknown (choose one of: {', '.join(TEXT_VIEWS)})") from None


def view_all(texts: Iterable[str], name: str) -> list[str]:
    """``texts`` seen through the view ``name``."""
    view = text_view(name)
    return [view(t) for t in texts]


def view_tasks(tasks, name: str):
    """A TaskCollection whose instructions are seen through the view ``name`` (same tasks otherwise)."""
    from dataclasses import replace

    from instr_select.tasks import TaskCollection

    if name == "raw":
        return tasks
    view = text_view(name)
    return TaskCollection([replace(t, instructions=[view(i) for i in t.instructions]) for t in tasks])
