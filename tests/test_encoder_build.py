"""Encoder construction, save/load round trip, hashing, pairs and the train-encoder command."""

from __future__ import annotations

import numpy as np
import pytest

from instr_select.encoder.pairs import insta_pairs, mnrl_pairs, positive_groups, split_dev
from instr_select.errors import DataError
from instr_select.tasks import Task, TaskCollection

THEMES = {
    "sentiment": ["review", "positive", "negative", "movie", "opinion", "sentiment"],
    "nli": ["premise", "hypothesis", "entailment", "contradiction", "follows", "sentence"],
    "qa": ["question", "context", "answer", "passage", "extract", "span"],
    "summary": ["article", "summarize", "summary", "short", "headline", "news"],
    "translate": ["translate", "french", "english", "language", "target", "source"],
    "topic": ["topic", "category", "sports", "business", "science", "label"],
}


def toy_tasks(per_task: int = 5, seed: int = 0) -> TaskCollection:
    """Six tasks whose instructions share a theme vocabulary plus common filler words."""
    rng = np.random.default_rng(seed)
    filler = ["the", "a", "given", "following", "text", "please", "write", "input", "output", "task"]
    tasks = []
    for name, words in THEMES.items():
        texts = []
        for _ in range(per_task):
            chosen = list(rng.choice(words, 4, replace=False)) + list(rng.choice(filler, 4, replace=False))
            rng.shuffle(chosen)
            texts.append(" ".join(chosen) + f" {{{{{words[0]}}}}}")
        tasks.append(Task(task_id=name, meta_dataset="toy", instructions=texts, source=name))
    return TaskCollection(tasks)


def corpus(tasks: TaskCollection) -> list[str]:
    return [t for task in tasks for t in task.instructions]


def test_static_init_is_deterministic_and_sensible():
    from instr_select.encoder import build_static_encoder
    from instr_select.encoder.build import lsa_token_embeddings

    tasks = toy_tasks()
    texts = corpus(tasks)
    a = build_static_encoder(texts, vocab_size=200, dim=8, seed=0)
    tokenizer = a[0].tokenizer
    w1, _ = lsa_token_embeddings(tokenizer, texts, 8, seed=0)
    w2, _ = lsa_token_embeddings(tokenizer, texts, 8, seed=0)
    assert np.array_equal(w1, w2)  # the initialisation is a function of the texts and the seed
    assert np.allclose(a[0].embedding.weight.detach().numpy(), w1)
    ea = a.encode(texts, normalize_embeddings=True)
    owner = np.repeat(np.arange(len(tasks)), 5)
    sims = ea @ ea.T
    np.fill_diagonal(sims, -np.inf)
    # Untrained but initialised from the corpus: nearest neighbour mostly shares the task.
    assert (owner[sims.argmax(1)] == owner).mean() >= 0.8


def test_save_load_round_trip_and_hash(tmp_path):
    from instr_select.encoder import build_static_encoder, encoder_hash, is_static_encoder, load_encoder

    model = build_static_encoder(corpus(toy_tasks()), vocab_size=200, dim=8)
    model.save(str(tmp_path / "m"))
    loaded = load_encoder(tmp_path / "m")
    texts = ["summarize the news article", "is the review positive"]
    assert np.allclose(model.encode(texts), loaded.encode(texts), atol=1e-6)
    assert is_static_encoder(tmp_path / "m")
    h = encoder_hash(tmp_path / "m")
    (tmp_path / "m" / "training_info.json").write_text("{}")
    assert encoder_hash(tmp_path / "m") == h  # provenance is not content
    loaded.save(str(tmp_path / "m2"))
    assert encoder_hash(tmp_path / "m2") == h
    other = build_static_encoder(corpus(toy_tasks(seed=1)), vocab_size=200, dim=8)
    other.save(str(tmp_path / "m3"))
    assert encoder_hash(tmp_path / "m3") != h


def test_transformer_encoder_round_trip(tmp_path):
    from instr_select.encoder import build_transformer_encoder, is_static_encoder, load_encoder

    model = build_transformer_encoder(corpus(toy_tasks()), vocab_size=200, dim=16, layers=1, heads=2, seed=0)
    model.save(str(tmp_path / "t"))
    loaded = load_encoder(tmp_path / "t")
    texts = ["translate into french", "answer the question"]
    assert model.encode(texts).shape == (2, 16)
    assert np.allclose(model.encode(texts), loaded.encode(texts), atol=1e-5)
    assert not is_static_encoder(tmp_path / "t")


@pytest.mark.parametrize("bad", ["missing", "file", "empty"])
def test_load_encoder_bad_paths(tmp_path, bad):
    from instr_select.encoder import load_encoder

    path = tmp_path / "model"
    if bad == "file":
        path.write_text("x")
    elif bad == "empty":
        path.mkdir()
    with pytest.raises(DataError) as info:
        load_encoder(path)
    assert str(path) in str(info.value)


def test_corrupt_model_dir_is_a_data_error(tmp_path):
    from instr_select.encoder import build_static_encoder, load_encoder

    build_static_encoder(corpus(toy_tasks()), vocab_size=200, dim=8).save(str(tmp_path / "m"))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot be loaded"):
        load_encoder(tmp_path / "m")


def test_mnrl_positives_share_a_group():
    tasks = toy_tasks()
    groups = positive_groups(tasks)
    pairs = mnrl_pairs(groups, per_instruction=2, seed=0)
    owner = {text: g.key for g in groups for text in g.texts}
    assert len(pairs["anchor"]) == sum(len(g.texts) for g in groups) * 2
    for a, p, key in zip(pairs["anchor"], pairs["positive"], pairs["group"], strict=True):
        assert a != p and owner[a] == owner[p] == key


def test_groups_follow_sources():
    tasks = TaskCollection(
        [
            Task(task_id="t1", meta_dataset="niv2", instructions=["define one", "summary one"], source="squad"),
            Task(task_id="t2", meta_dataset="niv2", instructions=["another squad task"], source="SQuAD"),
            Task(task_id="t3", meta_dataset="niv2", instructions=["alone"], source="other"),
        ]
    )
    groups = {g.key: g.texts for g in positive_groups(tasks)}
    assert groups["niv2:squad"] == ["define one", "summary one", "another squad task"]
    assert groups["niv2:other"] == ["alone"]
    by_task = {g.key: g.texts for g in positive_groups(tasks, by="task")}  # sibling tasks stay apart
    assert by_task == {
        "niv2:t1": ["define one", "summary one"],
        "niv2:t2": ["another squad task"],
        "niv2:t3": ["alone"],
    }


def test_pre_tokenizers_on_jinja_templates():
    from instr_select.encoder.vocab import train_wordpiece

    texts = [
        "Q: {{question}} Options: {{answer_choices | join(', ')}} ||| {{answer_choices[label]}}",
        "Is this ironic? {{text}} ||| {{answer_choices[label]}} {% if answer_start %}",
    ] * 3
    query = "{{answer_choices[label]}} ||| {{question}}"
    jinja = train_wordpiece(texts, vocab_size=200, pre_tokenizer="jinja").encode(query, add_special_tokens=False)
    bert = train_wordpiece(texts, vocab_size=200, pre_tokenizer="bert").encode(query, add_special_tokens=False)
    assert jinja.tokens == ["{{", "answer_choices", "[", "label", "]", "}}", "|||", "{{", "question", "}}"]
    assert "answer_choices" not in bert.tokens and bert.tokens.count("|") == 3


def test_dev_split_holds_out_instructions_not_in_training():
    split = split_dev(positive_groups(toy_tasks()), dev_fraction=0.5, seed=3)
    assert len(split.dev_queries) == 3
    train = set(split.train_texts)
    for text, key in split.dev_queries:
        assert text not in train and key.startswith("toy:")


def test_insta_pairs_proportions():
    from instr_select.encoder import build_static_encoder

    tasks = toy_tasks(per_task=6)
    groups = positive_groups(tasks)
    model = build_static_encoder(corpus(tasks), vocab_size=200, dim=8)
    embed = lambda texts: model.encode(texts, normalize_embeddings=True)  # noqa: E731
    columns, stats = insta_pairs(groups, embed, subsample=0.4, negative_below=0.3, seed=0)
    all_pairs = 6 * (6 * 5 // 2)
    assert stats["positive_pairs_all"] == all_pairs
    assert stats["positive_pairs"] == round(0.4 * all_pairs)
    owner = {text: g.key for g in groups for text in g.texts}
    labels = np.array(columns["label"])
    assert (labels == 1.0).sum() == round(0.4 * all_pairs)
    assert (labels == 0.0).sum() == 36  # one negative per instruction
    vectors = dict(zip(corpus(tasks), embed(corpus(tasks)), strict=True))
    below = 0
    for a, b, label in zip(columns["sentence1"], columns["sentence2"], labels, strict=True):
        if label == 1.0:
            assert owner[a] == owner[b]
        else:
            assert owner[a] != owner[b]
            below += float(vectors[a] @ vectors[b]) < 0.3
    assert below == 36 - stats["negatives_above_threshold"]
    assert below >= 30
