"""build_default runs whatever the recipe says: an encoder base used as it is, and bad recipes."""

from __future__ import annotations

import json

import pytest
from test_index_fixtures import save_tiny_model, small_tasks

from instr_select.errors import DataError
from instr_select.index import InstructionIndex
from instr_select.index.default import build_default, read_recipe


def _jsonl(path, tasks):
    rows = [{"task_id": t.task_id, "instructions": t.instructions, "source": t.source} for t in tasks]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_packaged_recipe_is_readable():
    recipe, origin = read_recipe()
    assert origin == "instr_select.recipes/minilm.json" and {"sources", "encoder", "alignment"} <= set(recipe)


def test_packaged_recipes_by_name(tmp_path, monkeypatch):
    from instr_select.index.default import alignment_config

    recipe, origin = read_recipe("minilm")
    assert origin == "instr_select.recipes/minilm.json" and recipe["encoder"]["base"] == "minilm"
    alignment_config(recipe)[0].validate()  # every packaged recipe is a valid alignment
    static, _ = read_recipe("minilm-static")
    assert static["encoder"]["base"] == "minilm-static"
    alignment_config(static)[0].validate()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "minilm").write_text(json.dumps({**recipe, "description": "a local file wins"}))
    assert read_recipe("minilm")[0]["description"] == "a local file wins"
    with pytest.raises(DataError, match=r"no-such-recipe.*\(minilm, minilm-static\)"):
        read_recipe("no-such-recipe")


def test_pretrained_base_without_alignment(tmp_path):
    tasks = small_tasks()
    base = save_tiny_model(tmp_path / "base", tasks)
    recipe = tmp_path / "recipe.json"
    data = _jsonl(tmp_path / "tasks.jsonl", tasks)
    recipe.write_text(json.dumps({"sources": [f"jsonl={data}"], "encoder": {"base": str(base)}, "alignment": None}))
    report = build_default(out=tmp_path / "index", recipe=recipe)
    assert not report.up_to_date and report.tasks == len(tasks)
    index = InstructionIndex.load(tmp_path / "index")
    assert index.manifest.extra["recipe_hash"] == report.recipe_hash and len(index.texts) == report.instructions
    assert build_default(out=tmp_path / "index", recipe=recipe).up_to_date
    assert not list(tmp_path.glob(".index-encoder-*"))  # nothing trained
    manifest = tmp_path / "index" / "manifest.json"  # an index of the older format (no answer lengths) is rebuilt
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"format_version": 1}))
    assert not build_default(out=tmp_path / "index", recipe=recipe).up_to_date
    assert InstructionIndex.load(tmp_path / "index").manifest.format_version == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "not valid JSON"),
        ('{"sources": ["bbh"]}', "no 'encoder'"),
        ('{"sources": [], "encoder": {}, "alignment": null}', "no encoder base"),
    ],
)
def test_bad_recipe_is_one_line(tmp_path, text, match):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(text)
    with pytest.raises(DataError, match=match):
        build_default(out=tmp_path / "index", recipe=recipe)
