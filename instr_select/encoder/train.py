"""Contrastive alignment of an instruction encoder with the sentence-transformers trainer."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from instr_select.atomic import atomic_directory, check_replaceable, recover
from instr_select.encoder.io import describe_base, load_encoder
from instr_select.encoder.pairs import (
    GROUPINGS,
    Group,
    insta_pairs,
    listed_groups,
    mnrl_pairs,
    positive_groups,
    require_pairs,
    shared_source_groups,
    split_dev,
)
from instr_select.encoder.vocab import PRE_TOKENIZERS
from instr_select.errors import ConfigError
from instr_select.locking import output_lock
from instr_select.offline import ensure_offline
from instr_select.provenance import command_line, library_versions
from instr_select.tasks import TaskCollection
from instr_select.textview import DEFAULT_TEXT_VIEW, text_view, view_tasks

log = logging.getLogger(__name__)
MARKER = "training_info.json"  # what makes an existing --out an encoder this command may replace
RECIPES = ("mnrl", "insta")
# MultipleNegativesRankingLoss directions: standard (anchor -> positives), symmetric (+ positive -> anchors),
# all (+ anchor -> anchors and positive -> positives, as in GTE's improved contrastive loss).
MNRL_DIRECTIONS = {
    "standard": ("query_to_doc",),
    "symmetric": ("query_to_doc", "doc_to_query"),
    "all": ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"),
}
ARCHITECTURES = ("static", "transformer")


@dataclass
class AlignConfig:
    """Alignment settings. ``epochs``/``learning_rate`` of None take the recipe's and architecture's defaults."""

    recipe: str = "mnrl"
    epochs: int | None = None  # mnrl: 3, insta: 5 (the published recipe)
    batch_size: int = 64
    learning_rate: float | None = None  # static: 0.02, transformer: 1e-4
    seed: int = 0
    dev_fraction: float = 0.2
    pairs_per_instruction: int = 4  # mnrl: positives drawn per instruction and epoch (4 > 2 on the nested dev)
    mnrl_directions: str = "standard"  # standard | symmetric | all (see MNRL_DIRECTIONS)
    group_by: str = "source"  # positives: instructions of one "task" or of one "source" dataset
    insta_subsample: float = 0.4
    insta_negative_below: float = 0.3
    architecture: str = "static"  # used only when no base model is given
    vocab_size: int = 8000
    dim: int = 256
    pre_tokenizer: str = "bert"  # WordPiece pre-tokenizer of a from-scratch base: "jinja" or "bert"
    warmup_ratio: float = 0.1
    text_view: str = DEFAULT_TEXT_VIEW  # what the encoder sees of each instruction (instr_select.textview)
    base_weight: float = 0.0  # keep this share of the base model: weights = w * base + (1 - w) * aligned
    max_seq_length: int | None = None  # truncate a transformer base's inputs (saved with the model); None: its own
    length_chunks: int = 4  # mnrl: embed each batch column in this many groups of similar length (less padding)
    task_groups: list[list[str]] | None = None  # extra positive groups, by task key (pairs.listed_groups)
    task_group_repeats: int = 1  # copies of each task group per epoch
    shared_source_repeats: int = 0  # copies of each cross-meta-dataset source group (pairs.shared_source_groups)

    def validate(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"--recipe {self.recipe!r} is unknown (choose one of: {', '.join(RECIPES)})")
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"--architecture {self.architecture!r} is unknown (choose {' or '.join(ARCHITECTURES)})")
        text_view(self.text_view)
        if self.pre_tokenizer not in PRE_TOKENIZERS:
            raise ConfigError(f"pre_tokenizer {self.pre_tokenizer!r} is unknown (choose {' or '.join(PRE_TOKENIZERS)})")
        if self.mnrl_directions not in MNRL_DIRECTIONS:
            raise ConfigError(
                f"mnrl_directions {self.mnrl_directions!r} is unknown (choose one of: {', '.join(MNRL_DIRECTIONS)})"
            )
        if self.group_by not in GROUPINGS:
            raise ConfigError(f"group_by {self.group_by!r} is unknown (choose {' or '.join(GROUPINGS)})")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be 1 or more, not {self.epochs}")
        if self.batch_size < 2:
            raise ConfigError(
                f"--batch-size must be 2 or more (in-batch negatives need a batch), not {self.batch_size}"
            )
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ConfigError(f"--lr must be positive, not {self.learning_rate}")
        if not 0 <= self.base_weight < 1:
            raise ConfigError(f"--base-weight must be in [0, 1), not {self.base_weight}")
        if not 0 <= self.dev_fraction < 1:
            raise ConfigError(f"dev_fraction must be in [0, 1), not {self.dev_fraction}")
        if self.pairs_per_instruction < 1:
            raise ConfigError(f"--positives must be 1 or more, not {self.pairs_per_instruction}")
        groups = self.task_groups
        if groups is not None and not (
            isinstance(groups, list)
            and all(isinstance(g, list) and len(g) >= 2 and all(isinstance(k, str) for k in g) for g in groups)
        ):
            raise ConfigError(
                'task_groups must be a list of task-key lists of 2 or more (e.g. [["bbh:snarks", "niv2:task363_sst2"]])'
            )
        if self.task_group_repeats < 1:
            raise ConfigError(f"task_group_repeats must be 1 or more, not {self.task_group_repeats}")
        shared = self.shared_source_repeats
        if isinstance(shared, bool) or not isinstance(shared, int) or shared < 0:
            raise ConfigError(f"shared_source_repeats must be a whole number >= 0, not {shared!r}")
        if self.length_chunks < 1:
            raise ConfigError(f"length_chunks must be 1 or more, not {self.length_chunks}")
        if self.max_seq_length is not None and self.max_seq_length < 8:
            raise ConfigError(f"max_seq_length must be 8 or more, not {self.max_seq_length}")
        if self.vocab_size < 100 or self.dim < 2:
            raise ConfigError("--vocab-size must be at least 100 and --dim at least 2")

    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else (5 if self.recipe == "insta" else 3)


def _progress_callback(progress: Callable[[str], None]):
    from transformers import TrainerCallback

    from instr_select.progress import enabled

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" in logs and not enabled():  # with a terminal, the bar shows the loss
                progress(
                    f"  epoch {logs.get('epoch', 0):.2f}  step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}"
                )

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            metrics = metrics or {}
            acc = next((v for k, v in metrics.items() if k.endswith("accuracy@1")), None)
            mrr = next((v for k, v in metrics.items() if k.endswith("mrr@10")), None)
            if acc is not None:
                progress(f"  dev after epoch {state.epoch:.0f}: Acc@1 {acc:.4f}  MRR@10 {mrr:.4f}")

    return Progress()


def _dev_evaluator(train_groups: list[Group], dev: list[tuple[str, str]]):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    corpus, members = {}, {}
    for group in train_groups:
        for text in group.texts:
            cid = f"d{len(corpus)}"
            corpus[cid] = text
            members.setdefault(group.key, set()).add(cid)
    queries = {f"q{i}": text for i, (text, _) in enumerate(dev)}
    relevant = {f"q{i}": members.get(key, set()) for i, (_, key) in enumerate(dev)}
    return InformationRetrievalEvaluator(
        queries,
        corpus,
        relevant,
        name="dev",
        accuracy_at_k=[1, 5],
        precision_recall_at_k=[5],
        map_at_k=[10],
        mrr_at_k=[10],
        ndcg_at_k=[10],
        write_csv=False,
        batch_size=256,
    )


def train_encoder(
    tasks: TaskCollection,
    base: Any = None,
    out: str | Path = "encoder",
    config: AlignConfig | None = None,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Align an encoder on ``tasks``' instructions; save it in sentence-transformers format at ``out``.

    ``base`` is a model, a local model directory, or None (a static encoder built from scratch on the
    training instructions). The dev split (held-out instructions) picks the best epoch. Returns ``out``.
    """
    config = config or AlignConfig()
    config.validate()
    out = check_replaceable(out, (MARKER,))
    with output_lock(out):
        recover(out)  # leftovers (checkpoints) of a killed run on the same --out
        return _train_locked(tasks, base, out, config, command, progress)


def _train_locked(tasks, base, out: Path, config: AlignConfig, command, progress) -> Path:
    say = progress or log.info
    ensure_offline()
    started = time.time()
    tasks = view_tasks(tasks, config.text_view)  # the index applies the same view to instructions and queries
    groups = positive_groups(tasks, config.group_by)
    if config.task_groups:
        groups += listed_groups(tasks, config.task_groups, config.task_group_repeats)
    if config.shared_source_repeats:
        groups += shared_source_groups(tasks, config.shared_source_repeats)
    require_pairs(groups)
    split = split_dev(groups, config.dev_fraction, seed=config.seed)
    require_pairs(split.groups)
    model, base_info = _base_model(base, split.train_texts, config)
    if config.max_seq_length is not None and hasattr(model, "max_seq_length"):
        model.max_seq_length = config.max_seq_length
    say(
        f"base: {base_info['name']}; {len(split.groups)} groups, {len(split.train_texts)} training instructions, {len(split.dev_queries)} dev queries"
    )

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses

    torch.manual_seed(config.seed)
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if config.base_weight else None
    pair_stats: dict[str, int]
    if config.recipe == "mnrl":
        columns = mnrl_pairs(split.groups, config.pairs_per_instruction, config.seed)
        group_of = columns.pop("group")
        dataset = Dataset.from_dict(columns)
        from instr_select.encoder.losses import LengthChunkedMNRL
        from instr_select.encoder.sampler import NoDuplicateGroupsBatchSampler

        loss = LengthChunkedMNRL(
            model, length_chunks=config.length_chunks, directions=MNRL_DIRECTIONS[config.mnrl_directions]
        )
        sampler: Any = functools.partial(NoDuplicateGroupsBatchSampler, groups=group_of)
        pair_stats = {"pairs": len(dataset)}
    else:
        embed = lambda texts: model.encode(texts, batch_size=256, normalize_embeddings=True)  # noqa: E731
        columns, pair_stats = insta_pairs(
            split.groups, embed, config.insta_subsample, config.insta_negative_below, seed=config.seed
        )
        dataset = Dataset.from_dict(columns)
        loss = losses.CosineSimilarityLoss(model)
        sampler = "batch_sampler"
    say(f"recipe {config.recipe}: {pair_stats}")
    evaluator = _dev_evaluator(split.groups, split.dev_queries) if split.dev_queries else None
    base_dev = evaluator(model) if evaluator else {}
    if base_dev:
        say(
            f"  dev before training: Acc@1 {base_dev['dev_cosine_accuracy@1']:.4f}  MRR@10 {base_dev['dev_cosine_mrr@10']:.4f}"
        )

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.work-", dir=out.parent) as scratch:
        work = Path(scratch)  # checkpoints of the dev-based selection; the model goes to ``out`` atomically
        epochs = config.resolved_epochs()
        steps_per_epoch = max(1, -(-len(dataset) // config.batch_size))
        choose = evaluator is not None and epochs > 1  # the best epoch on dev; one epoch leaves no choice
        args = SentenceTransformerTrainingArguments(
            output_dir=str(work / "checkpoints"),
            num_train_epochs=epochs,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate or _default_lr(base_info),
            warmup_steps=int(config.warmup_ratio * epochs * steps_per_epoch),
            seed=config.seed,
            data_seed=config.seed,
            batch_sampler=sampler,
            eval_strategy="epoch" if choose else "no",
            save_strategy="epoch" if choose else "no",
            load_best_model_at_end=choose,
            metric_for_best_model="eval_dev_cosine_mrr@10" if choose else None,
            greater_is_better=True,
            save_total_limit=2,
            logging_steps=max(1, steps_per_epoch // 4),
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=loss,
            evaluator=evaluator if choose else None,
            callbacks=[_progress_callback(say)],
        )
        from instr_select.progress import use_bar

        use_bar(trainer, "aligning encoder")  # a bar on stderr (with the loss), keeping stdout clean
        result = trainer.train()
        if base_state is not None:
            interpolate_to_base(model, base_state, config.base_weight)
        history = [
            {
                k: v
                for k, v in entry.items()
                if k in ("epoch", "loss", "eval_dev_cosine_accuracy@1", "eval_dev_cosine_mrr@10")
            }
            for entry in trainer.state.log_history
        ]
        best_dev = evaluator(model) if evaluator else {}
        info = {
            "format": 1,
            "kind": "instr-select aligned encoder",
            "recipe": config.recipe,
            "text_view": config.text_view,
            "config": asdict(config) | {"epochs": epochs},
            "base": base_info,
            "sources": sorted({t.meta_dataset for t in tasks}),
            "tasks": len(tasks),
            "groups": len(split.groups),
            "training_instructions": len(split.train_texts),
            "dev_queries": len(split.dev_queries),
            "pairs": pair_stats,
            "dev_before": {k: round(float(v), 4) for k, v in base_dev.items()},
            "dev_best": {k: round(float(v), 4) for k, v in best_dev.items()},
            "best_checkpoint": trainer.state.best_model_checkpoint and Path(trainer.state.best_model_checkpoint).name,
            "history": history,
            "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
            "seconds": round(time.time() - started, 1),
            "versions": library_versions("sentence-transformers", "transformers", "torch", "datasets"),
            "command": command or command_line(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with atomic_directory(out, markers=(MARKER,)) as staged:
            model.save(str(staged))
            (staged / MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
    if best_dev:
        say(f"saved {out} (best dev Acc@1 {best_dev['dev_cosine_accuracy@1']:.4f}, {info['seconds']} s)")
    return out


def interpolate_to_base(model, base_state: dict[str, Any], base_weight: float) -> None:
    """Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): every float weight moves back towards the base."""
    import torch

    with torch.no_grad():
        state = model.state_dict()
        for name, value in state.items():
            if name in base_state and value.is_floating_point():
                value.copy_(base_weight * base_state[name] + (1 - base_weight) * value)


def _base_model(base: Any, texts: list[str], config: AlignConfig):
    from instr_select.encoder.build import build_static_encoder, build_transformer_encoder

    if base is None:
        if config.architecture == "transformer":
            model = build_transformer_encoder(
                texts,
                vocab_size=config.vocab_size,
                dim=min(config.dim, 256),
                seed=config.seed,
                pre_tokenizer=config.pre_tokenizer,
            )
        else:
            model = build_static_encoder(
                texts,
                vocab_size=config.vocab_size,
                dim=config.dim,
                seed=config.seed,
                pre_tokenizer=config.pre_tokenizer,
            )
        info = getattr(model, "_instr_select_init", {})
        return model, {"name": f"scratch-{info.get('architecture', config.architecture)}", **info}
    if isinstance(base, (str, Path)):
        return load_encoder(base), describe_base(base)
    return base, {"name": "in-memory model", **getattr(base, "_instr_select_init", {})}


def _default_lr(base_info: dict[str, Any]) -> float:
    return 0.02 if base_info.get("architecture") == "static" or base_info.get("static") else 1e-4
