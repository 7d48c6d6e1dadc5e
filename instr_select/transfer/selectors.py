"""Each selector's score of every (source, target) pair of a transfer matrix; higher = ranked first.

- ``bm25``, ``instruction``, ``aligned``, ``hybrid``: an in-memory index of the sources' instructions
  (``InstructionIndex.from_tasks``) searched by a :class:`~instr_select.retrieval.Retriever` with the
  target's first instruction as the query, as ``compare`` does. The full ranking of all S sources
  becomes scores S - rank (so the retriever's own tie order is kept). No leakage guard and no
  exclusions: sources and targets of a matrix are disjoint by construction. ``instruction`` is the
  unaligned ``minilm``; ``aligned`` the default index's encoder (its ``encoder/`` folder) or a
  given encoder; ``hybrid`` the retriever's reciprocal-rank fusion of dense ``aligned`` and BM25;
  ``bm25`` runs on the ``minilm`` index's text view.
- ``uncertainty``: Active Instruction Tuning's prompt uncertainty of each source under the matrix's
  base model (``instr_select.uncertainty.scoring.score_tasks``, cached per task); the same score
  for every target (target-agnostic), higher uncertainty first.
- ``roe``: Retrieval-of-Experts (Jang et al. 2023): sentence embeddings (``minilm``, i.e.
  all-MiniLM-L6-v2) of up to 32 seeded target examples against up to 100 seeded examples per
  source; the score is the mean cosine over all pairs. An example is embedded as the model sees it
  in training, without the answer: the task's instruction and the rendered input with its options
  (P3: the template-rendered input), like the prompted P3 instances of the paper. The paper picks
  the expert most often holding a query's nearest instance; a full ranking needs a score per
  source, so the mean cosine is used.

- ``bm25+card``, ``instruction+card``, ``aligned+card``, ``hybrid+card``: the same with each source
  indexed by its task card (``instr_select.cards``: instruction, answer space, category); the
  query is still the target's instruction as written.

``random`` has no scores: it is scored by its exact expectation (:func:`metrics.random_expectation`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instr_select.errors import ConfigError
from instr_select.tasks import Example, Task

RETRIEVAL = ("bm25", "instruction", "aligned", "hybrid")
CARDED = tuple(f"{name}+card" for name in RETRIEVAL)
SELECTORS = ("random", *RETRIEVAL, "uncertainty", "roe", *CARDED)
SCORED = SELECTORS[1:]
SCORES_FORMAT = 1  # part of every cache key: bump when a selector's scores change for the same settings


def check_selectors(text: str | Sequence[str]) -> list[str]:
    """``"bm25,roe"`` (or a list of such strings) -> checked, de-duplicated names, in the given order."""
    parts = [text] if isinstance(text, str) else list(text)
    names = [p.strip() for part in parts for p in part.split(",") if p.strip()]
    if not names:
        raise ConfigError(f"no selector given (choose from: {', '.join(SELECTORS)})")
    for name in names:
        if name not in SELECTORS:
            raise ConfigError(f"unknown selector {name!r} in --selectors (choose from: {', '.join(SELECTORS)})")
    return list(dict.fromkeys(names))


@dataclass
class SelectorConfig:
    """What the selectors' scores depend on (besides the tasks); every field is part of the cache key."""

    instruction_encoder: str = "minilm"
    aggregate: str = "max"  # over a source's instructions (instr_select.retrieval.aggregate)
    answer_fit: float = 0.0  # weight of the answer-length re-ranking (instr_select.retrieval.answer_fit)
    card_fields: tuple[str, ...] = ("answer", "category")  # of the +card selectors (instr_select.cards)
    aligned_encoder: str | None = None  # an encoder folder or an index folder; None: the default index's
    base_model: str | None = None  # uncertainty's model: a saved folder or a registry name
    uncertainty_instances: int = 5  # as the default comparison: 5 x 5 forward passes a task
    uncertainty_perturbations: int = 5
    drop_prob: float = 0.2
    roe_model: str = "minilm"
    roe_target_examples: int = 32
    roe_source_examples: int = 100
    roe_with_instruction: bool = True
    seed: int = 0


def aligned_encoder_path(given: str | Path | None = None) -> Path:
    """An encoder folder: ``given`` (an encoder, or an index holding one), else the default index's."""
    from instr_select.index.store import ENCODER_DIR
    from instr_select.paths import default_index_dir

    folder = Path(given).expanduser() if given else default_index_dir()
    for candidate in (folder / ENCODER_DIR, folder):
        if (candidate / "modules.json").is_file():
            return candidate
    if given:
        raise ConfigError(f"--aligned-encoder {given}: neither a sentence-transformers folder nor an index holding one")
    raise ConfigError(
        f"the default index at {folder} has no encoder for 'aligned' and 'hybrid' (build it with "
        "`instr-select build-default`, pass --aligned-encoder ENCODER_OR_INDEX, or leave those selectors out)"
    )


@functools.lru_cache(maxsize=16)
def _folder_hash(path: str) -> str:
    from instr_select.hashing import dir_hash

    return dir_hash(path)


def _model(name: str) -> dict[str, str]:
    """A model's path and content hash (a registry name resolves to its cache folder)."""
    from instr_select.models import resolve_model

    path = resolve_model(name)
    found = Path(path)
    return {"name": name, "path": str(found), "hash": _folder_hash(str(found)) if found.is_dir() else path}


def selector_settings(selector: str, config: SelectorConfig) -> dict[str, Any]:
    """What ``selector``'s scores depend on besides the tasks (models by content hash): the cache key.

    Cheap: nothing is loaded, but a missing model or encoder is reported here, before any work.
    """
    from instr_select.retrieval.retriever import HYBRID_DEPTH, RRF_K

    out: dict[str, Any] = {"selector": selector, "format": SCORES_FORMAT}
    if selector in CARDED:
        from instr_select.cards import CARDS_FORMAT, check_fields

        out["card"] = {"fields": list(check_fields(config.card_fields)), "format": CARDS_FORMAT}
        selector = selector.removesuffix("+card")
    if selector in RETRIEVAL:
        from instr_select.retrieval.aggregate import AGGREGATES

        if config.aggregate not in AGGREGATES:
            raise ConfigError(f"unknown aggregate {config.aggregate!r} (choose from: {', '.join(AGGREGATES)})")
        out["aggregate"] = config.aggregate
        if config.answer_fit:  # absent when off: scores cached before it existed stay valid
            from instr_select.retrieval.answer_fit import FIT_DEPTH, FIT_NEIGHBOURS, check_answer_fit

            out["answer_fit"] = {"weight": check_answer_fit(config.answer_fit), "depth": FIT_DEPTH,
                                 "neighbours": FIT_NEIGHBOURS}  # fmt: skip
    if selector in ("bm25", "instruction"):
        out["encoder"] = _model(config.instruction_encoder)
    elif selector in ("aligned", "hybrid"):
        path = aligned_encoder_path(config.aligned_encoder)
        out["encoder"] = {"path": str(path), "hash": _folder_hash(str(path))}
        if selector == "hybrid":
            out.update(rrf_k=RRF_K, depth=HYBRID_DEPTH)
    elif selector == "uncertainty":
        if not config.base_model:
            raise ConfigError("the uncertainty selector needs the matrix's base model (pass --base-model)")
        out["model"] = _model(config.base_model)
        out["score"] = asdict(_uncertainty_config(config))
    elif selector == "roe":
        out["model"] = _model(config.roe_model)
        out.update({k: v for k, v in asdict(config).items() if k.startswith("roe_") and k != "roe_model"})
        out["seed"] = config.seed
    elif selector not in SCORED:
        raise ConfigError(f"unknown selector {selector!r} (choose from: {', '.join(SCORED)})")
    return out


def _uncertainty_config(config: SelectorConfig):
    from instr_select.uncertainty.scoring import ScoreConfig

    return ScoreConfig(config.uncertainty_instances, config.uncertainty_perturbations, config.drop_prob, config.seed)


class SourceScorer:
    """Scores the sources for every target with any selector, building each index and model once."""

    def __init__(
        self,
        sources: Sequence[Task],
        targets: Sequence[Task],
        config: SelectorConfig | None = None,
        uncertainty_scorer: Any = None,
        uncertainty_cache: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.sources, self.targets = list(sources), list(targets)
        self.config = config or SelectorConfig()
        self.uncertainty_scorer = uncertainty_scorer  # a Scorer (tests); None: the base model's
        self.uncertainty_cache = uncertainty_cache
        self.progress = progress
        self._indexes: dict[str, Any] = {}

    def scores(self, selector: str) -> np.ndarray:
        """(S, T) scores of ``selector``, higher = ranked first (NaN: a source it cannot score)."""
        cards = selector in CARDED
        selector = selector.removesuffix("+card") if cards else selector
        if selector == "bm25":
            return self._retrieval(self._index(self.config.instruction_encoder, cards), "bm25")
        if selector == "instruction":
            return self._retrieval(self._index(self.config.instruction_encoder, cards), "dense")
        if selector in ("aligned", "hybrid"):
            index = self._index(str(aligned_encoder_path(self.config.aligned_encoder)), cards)
            return self._retrieval(index, "dense" if selector == "aligned" else "hybrid")
        if selector == "uncertainty":
            return self._uncertainty()
        if selector == "roe":
            return self._roe()
        raise ConfigError(f"unknown selector {selector!r} (choose from: {', '.join(SCORED)})")

    def _index(self, encoder: str, cards: bool = False) -> Any:
        if (encoder, cards) not in self._indexes:
            from instr_select.index import InstructionIndex
            from instr_select.models import resolve_model
            from instr_select.tasks import TaskCollection

            fields = self.config.card_fields if cards else ()
            self._indexes[encoder, cards] = InstructionIndex.from_tasks(
                TaskCollection(self.sources), resolve_model(encoder), cards=fields
            )
        return self._indexes[encoder, cards]

    def _retrieval(self, index: Any, method: str) -> np.ndarray:
        from instr_select.retrieval import Retriever

        count = len(self.sources)
        row = {task.key: i for i, task in enumerate(self.sources)}
        queries = [target.instructions[0] for target in self.targets]
        retriever = Retriever(index, method=method, aggregate=self.config.aggregate, answer_fit=self.config.answer_fit)
        rankings = retriever.search_many(queries, k=count, guard=False)
        out = np.full((count, len(self.targets)), np.nan)
        for column, ranking in enumerate(rankings):
            for chosen in ranking:
                out[row[chosen.key], column] = count - chosen.rank
        return out

    def _uncertainty(self) -> np.ndarray:
        from instr_select.uncertainty.scoring import score_tasks

        scorer = self.uncertainty_scorer
        if scorer is None:
            if not self.config.base_model:
                raise ConfigError("the uncertainty selector needs the matrix's base model (pass --base-model)")
            from instr_select.tuning.modeling import load_model
            from instr_select.uncertainty.backend import BundleScorer

            scorer = BundleScorer(load_model(self.config.base_model), where=str(self.config.base_model))
        scorable = [task for task in self.sources if task.examples]
        scores = score_tasks(
            scorer,
            scorable,
            _uncertainty_config(self.config),
            cache_dir=self.uncertainty_cache,
            progress=self.progress,
        )
        pu = {score.key: score.pu for score in scores}
        column = np.array([pu.get(task.key, np.nan) for task in self.sources], dtype=np.float64)
        return np.repeat(column[:, None], len(self.targets), axis=1)

    def _roe(self) -> np.ndarray:
        config = self.config
        return roe_scores(
            self.sources,
            self.targets,
            model=config.roe_model,
            target_examples=config.roe_target_examples,
            source_examples=config.roe_source_examples,
            seed=config.seed,
            with_instruction=config.roe_with_instruction,
            progress=self.progress,
        )


def source_scores(
    selector: str, sources: Sequence[Task], targets: Sequence[Task], config: SelectorConfig | None = None, **kwargs: Any
) -> np.ndarray:
    """(S, T) scores of one selector (see :class:`SourceScorer` for the keyword arguments)."""
    return SourceScorer(sources, targets, config, **kwargs).scores(selector)


def roe_text(task: Task, example: Example, with_instruction: bool = True) -> str:
    """An example as the model sees it in training, without the answer (instruction and rendered input)."""
    from instr_select.tuning.mixture import render_example, task_instruction

    record = render_example(task, example, task_instruction(task))
    parts = [record["instruction"], record["input"]] if with_instruction else [record["input"] or record["instruction"]]
    return "\n\n".join(part for part in parts if part)


def roe_examples(task: Task, count: int, seed: int, with_instruction: bool = True) -> list[str]:
    """Up to ``count`` of the task's examples (seeded by ``seed`` and the task key), as texts."""
    from instr_select.uncertainty.perturb import sample_indices

    examples = task.examples
    chosen = sample_indices(len(examples), count, seed=f"roe:{seed}:{task.key}")
    return [roe_text(task, examples[i], with_instruction) for i in chosen]


def roe_scores(
    sources: Sequence[Task],
    targets: Sequence[Task],
    model: str = "minilm",
    target_examples: int = 32,
    source_examples: int = 100,
    seed: int = 0,
    with_instruction: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """(S, T) mean cosine of every (target example, source example) pair; NaN where a task has none."""
    from instr_select.index.encoders import load_sentence_transformer
    from instr_select.models import resolve_model

    encoder = load_sentence_transformer(resolve_model(model))

    def centroids(tasks: Sequence[Task], count: int) -> np.ndarray:
        texts = [roe_examples(task, count, seed, with_instruction) for task in tasks]
        flat = [text for group in texts for text in group]
        vectors = np.asarray(
            encoder.encode(flat, batch_size=64, normalize_embeddings=True, show_progress_bar=progress),
            dtype=np.float64,
        ).reshape(len(flat), -1)
        out, start = np.full((len(tasks), vectors.shape[1]), np.nan), 0
        for i, group in enumerate(texts):
            if group:  # mean cosine over all pairs = dot product of the mean unit vectors
                out[i] = vectors[start : start + len(group)].mean(axis=0)
            start += len(group)
        return out

    return centroids(sources, source_examples) @ centroids(targets, target_examples).T
