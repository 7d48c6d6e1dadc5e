"""Text views: what the encoder and BM25 see of an instruction (its display text never changes).

P3 instructions are Jinja templates (``{% if label == 0 %} Why does {{premise}} entail ...``). The
``readable`` view reads them with jinja2's own lexer, keeps their words and drops the template
machinery: statements and comments go, an expression becomes its quoted strings and the words of
its names less filters, tests and calls (``{{answer_choices[label] | upper}}`` -> ``answer
choices label``), and the ``|||`` separating prompt and target becomes a space. Text
without Jinja is returned unchanged. A plain-language query ("Decide whether the second sentence
follows from the first.") then meets the template's words instead of its braces. The index records
its view in the manifest and applies it to every query, so index and query always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from instr_select.errors import ConfigError

# Jinja's own words for control and literals: template machinery, not words of the task.
_KEYWORDS = frozenset(
    [
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "endfor",
        "not",
        "and",
        "or",
        "in",
        "is",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
    ]
)
_ENVIRONMENT = None


def _lexer():
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from jinja2 import Environment

        _ENVIRONMENT = Environment()
    return _ENVIRONMENT.lexer


def _expression_words(tokens: list) -> list[str]:
    """The words of one ``{{ ... }}``: its strings, and its names less filters, tests, calls and keywords.

    A string used as a key (``answer["input_text"]``) reads like a name; the string arguments and
    keyword names of a filter or call (``join(", ")``, ``map(attribute="text")``) are machinery.
    """
    words: list[str] = []
    calls: list[bool] = []  # for each open parenthesis: does it open a call's arguments?
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if token.type == "lparen":
            calls.append(before is not None and before.type in ("name", "rparen", "rbracket"))
        elif token.type == "rparen" and calls:
            calls.pop()
        elif any(calls) and (token.type != "name" or (after is not None and after.type == "assign")):
            continue  # a call's string arguments and keyword names; its variables stay
        elif token.type == "string":
            key = before is not None and before.type == "lbracket"
            words.extend(str(token.value).replace("_", " ").split() if key else str(token.value).split())
        elif token.type == "name":
            if token.value in _KEYWORDS:
                continue
            if before is not None and (before.type == "pipe" or (before.type == "name" and before.value == "is")):
                continue  # a filter (``| trim``) or a test (``is defined``)
            if after is not None and after.type == "lparen":
                continue  # a call (``range(3)``, ``text.split(" ")``)
            words.extend(str(token.value).replace("_", " ").split())
    return words


def readable(text: str) -> str:
    """The words of a Jinja template (P3 style), read with jinja2's own lexer; any other text unchanged.

    Literal text is kept (``|||`` becomes a space); ``{% ... %}`` statements and ``{# ... #}``
    comments are dropped; an expression becomes its strings and the words of its names.
    A template Jinja cannot lex is read as plain text.
    """
    if "{{" not in text and "{%" not in text and "{#" not in text and "|||" not in text:
        return text
    from jinja2 import TemplateSyntaxError

    parts: list[str] = []
    try:
        expression: list | None = None
        for token in _lexer().tokenize(text):
            if token.type == "data":
                parts.append(token.value)
            elif token.type == "variable_begin":
                expression = []
            elif token.type == "variable_end":
                parts.append(" " + " ".join(_expression_words(expression or [])) + " ")
                expression = None
            elif expression is not None:
                expression.append(token)
    except TemplateSyntaxError:
        parts = [text]
    words = " ".join("".join(parts).replace("|||", " ").split())
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
