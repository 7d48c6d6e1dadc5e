"""The retrieval settings of ``instr-select query``, ``query()``, ``compare`` and the transfer selectors.

Chosen on the default transfer matrix's dev targets by the rule of
``scripts/sweep_transfer_retrieval.py`` (docs/retrieval.md#ranking-the-tasks-that-transfer):
a task scores the mean similarity of all its instructions, and the ranking is re-ranked by answer
fit (``answer_fit.py``) with this weight. ``Retriever`` itself defaults to neither (``max``, 0), so
the held-out evaluations measure an encoder as it is unless told otherwise.
"""

from __future__ import annotations

DEFAULT_AGGREGATE = "mean"
ANSWER_FIT = 0.5


def resolve_answer_fit(weight: float | None, index) -> float:
    """``weight`` as given; None: ``ANSWER_FIT`` when ``index`` records answer lengths, else 0."""
    if weight is not None:
        return weight
    return ANSWER_FIT if any(task.answer_words is not None for task in index.tasks) else 0.0
