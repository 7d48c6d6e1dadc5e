"""Each selector's scores over a matrix's sources, with tiny encoders and a toy scorer (offline, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from test_index_fixtures import tiny_static_model
from test_transfer_scoring import save_matrix, synthetic_matrix
from test_uncertainty_scoring import ToyScorer

from instr_select.errors import ConfigError
from instr_select.tasks import Example, Task, TaskCollection
from instr_select.transfer.selectors import (
    SelectorConfig,
    SourceScorer,
    aligned_encoder_path,
    check_selectors,
    roe_scores,
    roe_text,
    selector_settings,
)


def task(task_id: str, instruction: str, inputs: list[str]) -> Task:
    examples = [Example(input=text, output="yes") for text in inputs]
    return Task(task_id, "toy", [instruction], source=task_id, _examples=examples)


SOURCES = [
    task("translate", "Translate the sentence from English to French.", ["the cat sleeps", "a dog runs"]),
    task("sentiment", "Classify the sentiment of the review as positive or negative.", ["great film", "bad plot"]),
    task("math", "Solve the arithmetic problem and give the number.", ["2 plus 3", "7 times 6", "9 minus 1"]),
    task("entail", "Decide whether the second sentence follows from the first.", ["premise one hypothesis"]),
    task("empty", "Write a poem about the sea.", []),
]
TARGETS = [
    task("t_translate", "Translate this English sentence into French.", ["the bird sings"]),
    task("t_math", "Solve this math problem: multiply the numbers.", ["3 times 4", "5 plus 5"]),
]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, str]:
    texts = [t.instructions[0] for t in SOURCES + TARGETS]
    texts += [roe_text(t, e) for t in SOURCES + TARGETS for e in t.examples]
    folder = tmp_path_factory.mktemp("encoders")
    paths = {}
    for name, seed in (("base", 0), ("aligned", 1)):
        tiny_static_model(texts, dim=16, normalize=True, seed=seed).save(str(folder / name))
        paths[name] = str(folder / name)
    return paths


def config(encoders: dict[str, str], **changes) -> SelectorConfig:
    return SelectorConfig(
        instruction_encoder=encoders["base"], aligned_encoder=encoders["aligned"], roe_model=encoders["base"], **changes
    )


def test_retrieval_selectors_rank_every_source(encoders) -> None:
    scorer = SourceScorer(SOURCES, TARGETS, config(encoders))
    for name in ("bm25", "instruction", "aligned", "hybrid"):
        scores = scorer.scores(name)
        assert scores.shape == (len(SOURCES), len(TARGETS))
        for column in scores.T:  # a full ranking: S - rank for ranks 1..S
            assert sorted(column.tolist()) == list(range(len(SOURCES)))
    bm25 = scorer.scores("bm25")
    assert bm25[:, 0].argmax() == 0 and bm25[:, 1].argmax() == 2  # the shared words win
    assert len(scorer._indexes) == 2  # bm25 and instruction share one index, aligned and hybrid the other


def test_retrieval_scores_follow_the_retriever(encoders) -> None:
    from instr_select.index import InstructionIndex
    from instr_select.retrieval import Retriever

    scores = SourceScorer(SOURCES, TARGETS, config(encoders)).scores("instruction")
    index = InstructionIndex.from_tasks(TaskCollection(SOURCES), encoders["base"])
    ranking = Retriever(index, method="dense").search(TARGETS[1].instructions[0], k=len(SOURCES), guard=False)
    assert [s.key for s in ranking] == [SOURCES[i].key for i in np.argsort(-scores[:, 1], kind="stable")]


def test_uncertainty_is_target_agnostic_and_cached(tmp_path, encoders) -> None:
    from instr_select.uncertainty.scoring import ScoreConfig, score_tasks

    toy = ToyScorer()
    cfg = config(encoders, uncertainty_instances=2, uncertainty_perturbations=3)
    scores = SourceScorer(SOURCES, TARGETS, cfg, uncertainty_scorer=toy, uncertainty_cache=tmp_path).scores(
        "uncertainty"
    )
    expected = score_tasks(ToyScorer(), SOURCES[:4], ScoreConfig(2, 3, 0.2, 0), progress=False)
    assert scores[:4, 0] == pytest.approx([s.pu for s in expected])
    assert np.isnan(scores[4]).all()  # no examples: cannot be scored
    assert np.array_equal(scores[:, 0], scores[:, 1], equal_nan=True)
    calls = toy.generate_calls
    again = SourceScorer(SOURCES, TARGETS, cfg, uncertainty_scorer=toy, uncertainty_cache=tmp_path)
    assert np.array_equal(again.scores("uncertainty"), scores, equal_nan=True) and toy.generate_calls == calls


def test_roe_is_the_mean_cosine_over_example_pairs(encoders) -> None:
    from sentence_transformers import SentenceTransformer

    scores = roe_scores(SOURCES, TARGETS, model=encoders["base"], target_examples=32, source_examples=100)
    assert scores.shape == (5, 2) and np.isnan(scores[4]).all()  # "empty" has no examples
    model = SentenceTransformer(encoders["base"], device="cpu")
    source = model.encode([roe_text(SOURCES[2], e) for e in SOURCES[2].examples], normalize_embeddings=True)
    target = model.encode([roe_text(TARGETS[1], e) for e in TARGETS[1].examples], normalize_embeddings=True)
    assert scores[2, 1] == pytest.approx(float((source @ target.T).mean()), abs=1e-5)
    assert roe_text(SOURCES[0], SOURCES[0].examples[0]) == SOURCES[0].instructions[0] + "\n\nthe cat sleeps"
    one = roe_scores(SOURCES[:3], TARGETS, model=encoders["base"], source_examples=1, seed=3)
    assert not np.allclose(one, scores[:3])  # one seeded example per source, not the mean of all


def test_check_selectors_and_settings(tmp_path, monkeypatch, encoders) -> None:
    assert check_selectors("bm25, roe,bm25") == ["bm25", "roe"]
    with pytest.raises(ConfigError, match=r"unknown selector 'oracle' in --selectors \(choose from: random, bm25"):
        check_selectors("bm25,oracle")
    with pytest.raises(ConfigError, match="no selector"):
        check_selectors(" , ")
    base = selector_settings("roe", config(encoders))
    assert selector_settings("roe", config(encoders, roe_source_examples=50)) != base
    assert selector_settings("roe", config(encoders)) == base
    with pytest.raises(ConfigError, match="base model"):
        selector_settings("uncertainty", config(encoders))
    # the aligned encoder: an encoder folder, an index holding one, else the default index's
    index = tmp_path / "index"
    tiny_static_model(["some words here"], dim=8).save(str(index / "encoder"))
    assert aligned_encoder_path(str(index)) == index / "encoder"
    assert aligned_encoder_path(encoders["aligned"]).name == "aligned"
    monkeypatch.setenv("INSTR_SELECT_INDEX", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="build-default"):
        aligned_encoder_path(None)
    with pytest.raises(ConfigError, match="--aligned-encoder"):
        aligned_encoder_path(str(tmp_path))


def test_score_matrix_end_to_end_and_cached(tmp_path, data_dir, encoders) -> None:
    from instr_select.transfer.evaluation import score_matrix

    sources = [
        "niv2:task033_winogrande_answer_generation",
        "niv2:task050_multirc_answerability",
        "niv2:task1344_glue_entailment_classification",
        "niv2:task1345_glue_qqp_question_paraprashing",
        "niv2:task073_commonsenseqa_answer_generation",
        "niv2:task1355_sent_comp_summarization",
    ]
    targets = ["bbh:navigate", "bbh:causal_judgement", "niv2:task039_qasc_find_overlapping_words"]
    folder = save_matrix(synthetic_matrix(sources, targets), tmp_path / "matrix")
    cfg = config(encoders, roe_target_examples=4, roe_source_examples=4)
    names = ["random", "bm25", "instruction", "aligned", "hybrid", "roe"]
    first = score_matrix(folder, names, k=3, data_dir=data_dir, config=cfg)
    assert not any(first.timings[n]["cached"] for n in names[1:])
    second = score_matrix(folder, names, k=3, data_dir=data_dir, config=cfg)
    assert all(second.timings[n]["cached"] for n in names[1:]) and "load tasks" not in second.timings
    assert second.markdown == first.markdown
    assert [line.split(" | ")[1] for line in first.markdown.splitlines() if line.startswith("| nll")] == names
    for name in names[1:]:
        assert (folder / "selectors" / "scores" / f"{name}.npy").is_file()
    third = score_matrix(folder, ["roe"], k=3, data_dir=data_dir, config=config(encoders, roe_target_examples=2))
    assert not third.timings["roe"]["cached"]  # other settings: scored again


def test_score_key_counts_models_by_content() -> None:
    from instr_select.transfer.evaluation import score_key

    a = {"selector": "roe", "model": {"name": "minilm", "path": "/a", "hash": "h"}, "seed": 0}
    b = {"selector": "roe", "model": {"name": "./m", "path": "/b", "hash": "h"}, "seed": 0}
    assert score_key(["s"], ["t"], a) == score_key(["s"], ["t"], b)
    assert score_key(["s"], ["t"], a) != score_key(["s"], ["u"], a) != score_key(["s"], ["t"], {**a, "seed": 1})


def test_uncertainty_on_the_matrix_base_model(tmp_path, data_dir) -> None:
    from instr_select.errors import DataError
    from instr_select.hashing import dir_hash
    from instr_select.transfer.evaluation import score_matrix
    from instr_select.tuning.evaluate import load_tasks
    from instr_select.tuning.modeling import load_model, save_model
    from instr_select.uncertainty.backend import tokenizer_texts

    sources = ["niv2:task1344_glue_entailment_classification", "niv2:task050_multirc_answerability"]
    targets = ["bbh:navigate", "bbh:snarks"]
    matrix = synthetic_matrix(sources, targets)
    folder = tmp_path / "matrix"
    folder.mkdir()
    texts = tokenizer_texts(load_tasks(sources + targets, data_dir), 4)
    save_model(load_model("tiny-gpt2", texts=texts, seed=0), folder / "base-model")
    matrix.manifest = {"model": "tiny-gpt2", "model_sha256": dir_hash(folder / "base-model")}
    matrix.save(folder)
    cfg = SelectorConfig(uncertainty_instances=2, uncertainty_perturbations=2)
    run = score_matrix(folder, ["uncertainty"], k=1, data_dir=data_dir, config=cfg, uncertainty_cache=tmp_path / "u")
    scores = np.load(folder / "selectors" / "scores" / "uncertainty.npy")
    assert scores.shape == (2, 2) and np.isfinite(scores).all() and (scores[:, 0] == scores[:, 1]).all()
    assert run.report["settings"]["uncertainty"]["model"]["path"] == str(folder / "base-model")
    matrix.manifest["model_sha256"] = "0" * 64  # the folder is not the model the matrix was made with
    matrix.save(folder)
    with pytest.raises(DataError, match="model_sha256"):
        score_matrix(folder, ["uncertainty"], data_dir=data_dir, config=cfg, uncertainty_cache=tmp_path / "u")
