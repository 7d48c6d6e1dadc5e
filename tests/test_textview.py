"""Text views: Jinja templates seen as words, applied alike to indexed instructions and queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_index_fixtures import save_tiny_model, small_tasks

from instr_select.errors import ConfigError
from instr_select.index import InstructionIndex, build_index
from instr_select.retrieval import Retriever
from instr_select.tasks import Task, TaskCollection
from instr_select.textview import readable, text_view, view_tasks

TEMPLATE = '{% if label != -1 %}Given {{premise}} Does it follow that "{{ hypothesis }}"? {{"Yes"}} or no? ||| {{ answer_choices[label] }}{% endif %}'


def test_readable_keeps_the_words_of_a_template():
    assert readable(TEMPLATE) == 'Given premise Does it follow that " hypothesis "? Yes or no? answer choices label'
    assert readable("{# a comment #}Summarize: {{ article | trim }}") == "Summarize: article"
    plain = "Decide whether the second sentence follows from the first."
    assert readable(plain) is plain  # text without Jinja is returned as it is
    assert readable("{% set x = 1 %}") == "{% set x = 1 %}"  # nothing but machinery: keep the original


def test_readable_follows_the_template_language():
    # filters, tests, calls and keywords are machinery; variables are words, even when named like a filter
    assert readable("{{ title }}: {{ text | truncate(20) }}") == "title : text"
    assert (
        readable("{{ answer_choices | join(', ') }} {{ x if x is defined else 'none' }}") == "answer choices x x none"
    )
    assert readable('{{ answer["input_text"] }}') == "answer input text"  # a key reads like a name
    assert readable("{{ question.split('Solve')[0] }}") == "question"  # a call's string arguments go
    assert readable("{{ incoherent_first_sentence }}") == "incoherent first sentence"
    assert readable('Say {{ "\\"yes\\"" }} ||| {{ label }}') == 'Say "yes" label'  # strings are unescaped
    assert readable("{{ unclosed") == "{{ unclosed"  # not a template Jinja can lex: plain text


def test_unknown_view_is_a_config_error():
    with pytest.raises(ConfigError, match="text view 'html' is unknown"):
        text_view("html")


def test_view_tasks_changes_only_instructions():
    tasks = TaskCollection([Task("nli", "p3", [TEMPLATE], ["entailment"], source="rte")])
    viewed = view_tasks(tasks, "readable")
    assert viewed[0].instructions == [readable(TEMPLATE)]
    assert (viewed[0].key, viewed[0].categories, viewed[0].source_key) == ("p3:nli", ["entailment"], "rte")
    assert view_tasks(tasks, "raw") is tasks


def _tasks() -> TaskCollection:
    return TaskCollection([*small_tasks(), Task("p3_nli", "toy", [TEMPLATE], ["entailment"], source="p3nli")])


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("enc") / "model", view_tasks(_tasks(), "readable"))


@pytest.mark.parametrize("view", ["readable", "raw"])
def test_index_applies_its_view_to_instructions_and_queries(tmp_path, encoder_dir, view):
    out = build_index(_tasks(), encoder_dir, tmp_path / view, text_view=view)
    assert json.loads((out / "manifest.json").read_text())["text_view"] == view
    index = InstructionIndex.load(out)
    assert index.texts[-1] == TEMPLATE  # stored and shown as written
    assert index.search_texts[-1] == (readable(TEMPLATE) if view == "readable" else TEMPLATE)
    for method in ("dense", "bm25"):
        retriever = Retriever(index, method)
        as_template = retriever.search(TEMPLATE, k=3, guard=False)
        as_words = retriever.search(readable(TEMPLATE), k=3, guard=False)
        # the readable view maps the template and its words to one text: identical rankings and scores
        assert (as_template == as_words) is (view == "readable")
        assert as_template[0].matched_instruction in (TEMPLATE, *index.texts)


def test_view_defaults_to_the_encoders_training_view(tmp_path, encoder_dir):
    assert InstructionIndex.from_tasks(_tasks(), encoder_dir).manifest.text_view == "readable"  # no training info
    (encoder_dir / "training_info.json").write_text(json.dumps({"text_view": "raw"}))
    try:
        assert InstructionIndex.from_tasks(_tasks(), encoder_dir).manifest.text_view == "raw"
    finally:
        (encoder_dir / "training_info.json").unlink()


def test_manifest_without_a_view_reads_as_raw(tmp_path, encoder_dir):
    out = build_index(_tasks(), encoder_dir, tmp_path / "old", text_view="raw")
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["text_view"]  # an index written before text views existed
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert InstructionIndex.load(out).manifest.text_view == "raw"
