"""The retrieval settings of ``instr-select query`` and ``query()`` unless told otherwise.

Chosen on the default transfer matrix's dev targets by the rule of
``scripts/sweep_transfer_retrieval.py``, the aligned candidates averaged over three alignment seeds
(``scripts/transfer_alignment_seeds.py``; docs/retrieval.md#ranking-the-tasks-that-transfer):
``mean`` aggregation re-ranked by answer fit (``answer_fit.py``) with this weight. ``top2`` (the
mean of a task's two best instructions) ranks every source of that matrix exactly as ``mean``
(none has more than two instructions); between the two, the held-out splits' dev parts decided.
``Retriever`` itself defaults to neither (``max``, 0), and so do ``compare``, ``score-selectors``
and ``eval-retrieval``, whose documented numbers were measured that way.
"""

from __future__ import annotations

DEFAULT_AGGREGATE = "top2"
ANSWER_FIT = 0.5


def resolve_answer_fit(weight: float | None, index) -> float:
    """``weight`` as given; None: ``ANSWER_FIT`` when ``index`` records answer lengths, else 0."""
    if weight is not None:
        return weight
    return ANSWER_FIT if index.records_answer_lengths else 0.0
