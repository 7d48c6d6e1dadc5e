"""Task cards: what is embedded for a task beyond its instruction (its answer space, its category).

At the scale instr-select tunes, what a source task teaches first is its *answer format*: a source
with one-word labels helps a target with one-word labels, free-text generation hurts it (the
default transfer matrix, docs/transfer.md). An instruction often does not say which it is. A card
appends what the task's examples show:

    <instruction>
    Answer: one of "POS", "NEG".                      (a small label set)
    Answer: one of the given options.                 (options that change per example)
    Answer: a number.
    Answer: free text, about 12 words.
    Category: Sentiment Analysis.                     (NIV2 categories, BIG-bench content keywords)

Only the indexed side gets cards; a query stays the instruction a user wrote.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from instr_select.errors import ConfigError
from instr_select.tasks import Task

CARD_FIELDS = ("answer", "category")
CARDS_FORMAT = 2  # bump when a card's text changes for the same task
MAX_LABELS = 10  # more distinct answers than this in the examples read: not a label set
MAX_EXAMPLES = 100  # examples read per task (in file order)
# BIG-bench keywords that name a format, not content (also the held-out splits' relevance)
FORMAT_KEYWORDS = frozenset(
    {"zero-shot", "one-shot", "many-shot", "multiple choice", "free response", "json", "non-English"}
)
_NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?$")


@dataclass(frozen=True)
class AnswerSpace:
    """What a task's answers look like: ``label`` (a small set), ``options`` (given per example),
    ``number``, ``text`` (free), or ``unknown`` (no example)."""

    kind: str
    labels: tuple[str, ...] = ()
    words: float = 0.0  # median words of an answer

    def describe(self) -> str:
        if self.kind == "label":
            return "Answer: one of " + ", ".join(f'"{label}"' for label in self.labels) + "."
        if self.kind == "options":
            return "Answer: one of the given options."
        if self.kind == "number":
            return "Answer: a number."
        if self.kind == "text":
            count = max(round(self.words), 1)
            return f"Answer: free text, about {count} word{'s' if count > 1 else ''}."
        return ""


def answer_space(task: Task, max_examples: int = MAX_EXAMPLES, max_labels: int = MAX_LABELS) -> AnswerSpace:
    """The answer space of ``task`` from its first ``max_examples`` examples, else from the label set
    its data declares (``task.answer_choices``: a P3 template's, a JSONL's)."""
    examples = task.examples[:max_examples]
    answers = [example.output.strip() for example in examples if example.output.strip()]
    if not answers:
        choices = tuple(task.answer_choices)
        if not choices:
            return AnswerSpace("unknown")
        words = statistics.median(len(choice.split()) for choice in choices)
        return AnswerSpace("label" if len(choices) <= max_labels else "options", choices[:max_labels], words)
    words = statistics.median(len(answer.split()) for answer in answers)
    distinct = sorted(set(answers))
    if all(example.options for example in examples):
        fixed = {tuple(example.options) for example in examples}
        if len(fixed) == 1 and len(next(iter(fixed))) <= max_labels:
            return AnswerSpace("label", next(iter(fixed)), words)
        return AnswerSpace("options", (), words)
    if len(distinct) <= max_labels and len(answers) >= 2 * len(distinct) and words <= 3:
        return AnswerSpace("label", tuple(distinct), words)
    if all(_NUMBER.match(answer) for answer in answers):
        return AnswerSpace("number", (), words)
    return AnswerSpace("text", (), words)


def answer_words(task: Task) -> float | None:
    """The median words of ``task``'s answers (what answer fit compares), None when unknown."""
    space = answer_space(task)
    return None if space.kind == "unknown" else float(space.words)


def category_line(task: Task) -> str:
    kept = [c for c in task.categories if c not in FORMAT_KEYWORDS]
    return f"Category: {', '.join(kept)}." if kept else ""


def check_fields(fields: Sequence[str]) -> tuple[str, ...]:
    for name in fields:
        if name not in CARD_FIELDS:
            raise ConfigError(f"unknown card field {name!r} (choose from: {', '.join(CARD_FIELDS)})")
    return tuple(dict.fromkeys(fields))


def card(task: Task, instruction: str, fields: Sequence[str] = CARD_FIELDS) -> str:
    """``instruction`` followed by the card lines of ``fields`` (those that say something)."""
    fields = check_fields(fields)
    lines = [instruction]
    if "answer" in fields:
        lines.append(answer_space(task).describe())
    if "category" in fields:
        lines.append(category_line(task))
    return "\n".join(line for line in lines if line)


def card_lines(task: Task, fields: Sequence[str] = CARD_FIELDS) -> str:
    """The card of ``task`` without an instruction: what an index with cards embeds after each one."""
    return card(task, "", fields)


def carded(instruction: str, lines: str | None) -> str:
    """An instruction as a carded index embeds it."""
    return f"{instruction}\n{lines}" if lines else instruction
