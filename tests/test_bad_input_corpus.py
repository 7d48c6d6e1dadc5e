"""A corpus of bad input, generated in temporary folders: every case exits 2 with one line on stderr,
no traceback, and leaves every folder it was given unchanged.

Cases run in-process through ``instr_select.cli.main.main`` (a few seconds for all of them); the
subprocess cases at the end check real tracebacks and undecodable argv.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_index_fixtures import save_tiny_model, small_tasks

from instr_select.cli.main import main

Setup = Callable[[Path, dict], list[str]]
CASES: dict[str, Setup] = {}
EXPECT: dict[str, tuple[str, ...]] = {}  # case -> texts its one line must hold (the file, the field, the fix)


def case(name: str, expect: tuple[str, ...] = ()):
    def register(func: Setup) -> Setup:
        assert name not in CASES, name
        CASES[name] = func
        if expect:
            EXPECT[name] = expect
        return func

    return register


def snapshot(root: Path) -> dict[str, tuple[int, bytes | str]]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = (0, os.readlink(path))
        elif path.is_file():
            out[rel] = (path.stat().st_mode, path.read_bytes())
        else:
            out[rel] = (path.stat().st_mode, "dir")
    return out


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- fixtures: a tiny index and a mixture, copied into each case that needs them -------------------


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict:
    from instr_select.index import build_index
    from instr_select.tuning.mixture import MixtureConfig, build_records, save_mixture

    root = tmp_path_factory.mktemp("corpus")
    encoder = save_tiny_model(root / "enc", small_tasks())
    index = build_index(small_tasks(), encoder, root / "index")
    # another build of the same dimension: its encoder gives other vectors for the same instructions
    other = build_index(small_tasks(), save_tiny_model(root / "enc-other", small_tasks(), seed=1), root / "other")
    tasks = [
        {"task_id": f"t{i}", "instruction": f"Answer question {i}.", "examples": [{"input": "q", "output": "a"}]}
        for i in range(3)
    ]
    source = root / "tasks.jsonl"
    source.write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    from instr_select.loaders import load_source

    mixture = save_mixture(
        build_records(load_source("jsonl", path=source), MixtureConfig(max_per_task=2)), root / "mix", ["messages"]
    )
    return {"index": index, "other_index": other, "encoder": encoder, "mixture": mixture, "source": source}


def copy_index(tmp: Path, fx: dict) -> Path:
    return Path(shutil.copytree(fx["index"], tmp / "index"))


def rehash(index: Path) -> None:
    """Record the damaged files' hashes, so that the damage itself (not the hash) is what is found."""
    from instr_select.hashing import files_hash
    from instr_select.index.store import content_hashes, query_files

    manifest = json.loads((index / "manifest.json").read_text())
    manifest["hashes"] = content_hashes(index)
    manifest["encoder"]["files_hash"] = files_hash(query_files(index, manifest["encoder"]["query_path"]), index)
    (index / "manifest.json").write_text(json.dumps(manifest))


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


# ---- jsonl loader --------------------------------------------------------------------------------

GOOD = {"task_id": "a", "instruction": "Classify the sentiment.", "examples": [{"input": "x", "output": "y"}]}
JSONL_ROWS = {
    "malformed": ["{not json"],
    "list-row": [[1, 2]],
    "string-row": ['"text"'],
    "no-task-id": [{"instruction": "x"}],
    "task-id-true": [{**GOOD, "task_id": True}],
    "task-id-dict": [{**GOOD, "task_id": {"a": 1}}],
    "task-id-float": [{**GOOD, "task_id": 1.5}],
    "task-id-empty": [{**GOOD, "task_id": ""}],
    "task-id-zero-width": [{**GOOD, "task_id": "\u200b"}],
    "task-id-surrogate": ['{"task_id": "a\\ud800", "instruction": "x"}'],
    "no-instruction": [{"task_id": "a"}],
    "instruction-int": [{"task_id": "a", "instruction": 5}],
    "instruction-list": [{"task_id": "a", "instruction": ["x"]}],
    "instruction-dict": [{"task_id": "a", "instruction": {"x": 1}}],
    "instructions-string": [{"task_id": "a", "instructions": "x"}],
    "instructions-ints": [{"task_id": "a", "instructions": [1]}],
    "instructions-empty": [{"task_id": "a", "instructions": []}],
    "instruction-blank": [{"task_id": "a", "instruction": "   "}],
    "instruction-zero-width": [{"task_id": "a", "instruction": "\u200b\u200c\ufeff"}],
    "instruction-control": [{"task_id": "a", "instruction": "\x01\x02\x7f"}],
    "instruction-surrogate": ['{"task_id": "a", "instruction": "x \\udc80 y"}'],
    "instruction-huge": [{"task_id": "a", "instruction": "w " * 60_000}],
    "duplicate-id": [GOOD, GOOD],
    "categories-int": [{**GOOD, "categories": 3}],
    "categories-dict": [{**GOOD, "categories": {"a": 1}}],
    "categories-ints": [{**GOOD, "categories": [1]}],
    "languages-int": [{**GOOD, "languages": 1}],
    "languages-string": [{**GOOD, "languages": "en"}],
    "metadata-string": [{**GOOD, "metadata": "x"}],
    "metadata-list": [{**GOOD, "metadata": [1]}],
    "source-dict": [{**GOOD, "source": {"a": 1}}],
    "source-list": [{**GOOD, "source": ["a"]}],
    "split-list": [{**GOOD, "split": ["train"]}],
    "examples-dict": [{**GOOD, "examples": {"input": "x"}}],
    "examples-ints": [{**GOOD, "examples": [1]}],
    "example-no-output": [{**GOOD, "examples": [{"input": "x"}]}],
    "example-output-dict": [{**GOOD, "examples": [{"input": "x", "output": {"a": 1}}]}],
    "example-input-dict": [{**GOOD, "examples": [{"input": {"a": 1}, "output": "y"}]}],
    "example-input-bool": [{**GOOD, "examples": [{"input": True, "output": "y"}]}],
    "example-options-string": [{**GOOD, "examples": [{"input": "x", "output": "a", "options": "abc"}]}],
    "example-options-dicts": [{**GOOD, "examples": [{"input": "x", "output": "a", "options": [{}]}]}],
    "deep-nesting": ['{"task_id": "a", "instruction": "x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    "nan-literal-ok-but-id-null": [{**GOOD, "task_id": None}],
}


def _jsonl_case(rows):
    def setup(tmp: Path, fx: dict) -> list[str]:
        return ["inspect", "jsonl", str(write_rows(tmp / "tasks.jsonl", rows))]

    return setup


for _name, _rows in JSONL_ROWS.items():
    case(f"jsonl-{_name}")(_jsonl_case(_rows))


@case("jsonl-not-utf8")
def _(tmp, fx):
    (tmp / "tasks.jsonl").write_bytes(b'{"task_id": "a", "instruction": "caf\xe9"}\n')
    return ["inspect", "jsonl", str(tmp / "tasks.jsonl")]


@case("jsonl-missing-file")
def _(tmp, fx):
    return ["inspect", "jsonl", str(tmp / "nowhere.jsonl")]


@case("jsonl-empty-folder")
def _(tmp, fx):
    (tmp / "empty").mkdir()
    return ["inspect", "jsonl", str(tmp / "empty")]


# ---- NIV2 ------------------------------------------------------------------------------------------

NIV2_GOOD = {
    "Definition": ["Answer the question."],
    "Categories": ["Question Answering"],
    "Source": ["squad"],
    "Input_language": ["English"],
    "Output_language": ["English"],
    "Domains": ["Wikipedia"],
    "Positive Examples": [{"input": "q", "output": "a"}],
    "Instances": [{"id": "1", "input": "q", "output": ["a"]}],
}
NIV2_CHANGES = {
    "instances-dict": {"Instances": {"a": 1}},
    "instance-no-output": {"Instances": [{"input": "q"}]},
    "instance-input-dict": {"Instances": [{"input": {"a": 1}, "output": "a"}]},
    "positive-examples-string": {"Positive Examples": "x"},
    "positive-examples-ints": {"Positive Examples": [1]},
    "input-language-int": {"Input_language": 5},
    "input-language-string": {"Input_language": "English"},
    "output-language-ints": {"Output_language": [1]},
    "categories-string": {"Categories": "QA"},
    "categories-int": {"Categories": 1},
    "domains-int": {"Domains": 1},
    "definition-int": {"Definition": 5},
    "definition-dict": {"Definition": {"a": 1}},
    "definition-ints": {"Definition": [1, {"a": 1}]},
    "definition-empty": {"Definition": [""]},
    "source-dict": {"Source": {"a": 1}},
    "source-ints": {"Source": [1]},
}


def _niv2_layout(tmp: Path, task: object, catalog: list | None = None) -> Path:
    root = tmp / "niv2"
    (root / "tasks").mkdir(parents=True)
    text = task if isinstance(task, str) else json.dumps(task)
    (root / "tasks" / "task001_squad_answer.json").write_text(text, encoding="utf-8")
    if catalog is not None:
        write_rows(root / "task_catalog.jsonl", catalog)
    return root


def _niv2_case(change):
    def setup(tmp: Path, fx: dict) -> list[str]:
        task = {**NIV2_GOOD, **change}
        return ["inspect", "niv2", str(_niv2_layout(tmp, task))]

    return setup


for _name, _change in NIV2_CHANGES.items():
    case(f"niv2-{_name}")(_niv2_case(_change))

CATALOG_ROWS = {
    "summary-int": {"task": "task002_x", "summary": 5},
    "summary-list": {"task": "task002_x", "summary": ["a"]},
    "categories-string": {"task": "task002_x", "summary": "Sum.", "categories": "QA"},
    "input-language-int": {"task": "task002_x", "summary": "Sum.", "input_language": 1},
    "task-int": {"task": 2, "summary": "Sum."},
    "domains-dict": {"task": "task002_x", "summary": "Sum.", "domains": {"a": 1}},
}


def _catalog_case(row):
    def setup(tmp: Path, fx: dict) -> list[str]:
        return ["inspect", "niv2", str(_niv2_layout(tmp, NIV2_GOOD, [row]))]

    return setup


for _name, _row in CATALOG_ROWS.items():
    case(f"niv2-catalog-{_name}")(_catalog_case(_row))


@case("niv2-catalog-duplicate")
def _(tmp, fx):
    row = {"task": "task002_x", "summary": "Sum."}
    return ["inspect", "niv2", str(_niv2_layout(tmp, NIV2_GOOD, [row, row]))]


@case("niv2-top-level-list")
def _(tmp, fx):
    return ["inspect", "niv2", str(_niv2_layout(tmp, [1, 2]))]


@case("niv2-deep-nesting")
def _(tmp, fx):
    return ["inspect", "niv2", str(_niv2_layout(tmp, "[" * 100_000 + "]" * 100_000))]


@case("niv2-task-not-utf8")
def _(tmp, fx):
    root = _niv2_layout(tmp, NIV2_GOOD)
    (root / "tasks" / "task001_squad_answer.json").write_bytes(b'{"Definition": ["caf\xe9"]}')
    return ["inspect", "niv2", str(root)]


@case("niv2-split-not-utf8")
def _(tmp, fx):
    root = _niv2_layout(tmp, NIV2_GOOD)
    (root / "splits" / "default").mkdir(parents=True)
    (root / "splits" / "default" / "train_tasks.txt").write_bytes(b"task001_squad_answer\xff\n")
    return ["inspect", "niv2", str(root)]


@case("niv2-empty-folder")
def _(tmp, fx):
    (tmp / "niv2").mkdir()
    return ["inspect", "niv2", str(tmp / "niv2")]


# ---- BIG-bench -------------------------------------------------------------------------------------

BB_GOOD = {
    "name": "t",
    "description": "Do the task.",
    "keywords": ["logic"],
    "examples": [{"input": "x", "target": "y"}],
}
BB_CHANGES = {
    "keywords-int": {"keywords": 5},
    "keywords-string": {"keywords": "logic"},
    "keywords-ints": {"keywords": [1]},
    "target-scores-mixed": {"examples": [{"input": "x", "target_scores": {"a": 1, "b": "high"}}]},
    "target-scores-bool": {"examples": [{"input": "x", "target_scores": {"a": True}}]},
    "target-scores-list": {"examples": [{"input": "x", "target_scores": ["a"]}]},
    "target-dict": {"examples": [{"input": "x", "target": {"a": 1}}]},
    "input-dict": {"examples": [{"input": {"a": 1}, "target": "y"}]},
    "no-target": {"examples": [{"input": "x"}]},
    "example-int": {"examples": [1]},
    "examples-dict": {"examples": {"a": 1}},
    "name-int": {"name": 5},
    "description-int": {"description": 5},
    "description-empty": {"description": "  "},
}


def _bigbench_case(change):
    def setup(tmp: Path, fx: dict) -> list[str]:
        root = tmp / "bigbench"
        root.mkdir()
        write_rows(root / "bigbench_tasks.jsonl", [{**BB_GOOD, **change}])
        return ["inspect", "bigbench", str(root)]

    return setup


for _name, _change in BB_CHANGES.items():
    case(f"bigbench-{_name}")(_bigbench_case(_change))


@case("bigbench-subtask-dir-dict")
def _(tmp, fx):
    root = tmp / "bigbench"
    root.mkdir()
    write_rows(root / "bigbench_subtasks.jsonl", [{**BB_GOOD, "task": "t", "subtask_dir": {"a": 1}}])
    return ["inspect", "bigbench", str(root)]


# ---- Self-Instruct ---------------------------------------------------------------------------------

SI_GOOD = {"id": "seed_1", "name": "n", "instruction": "Do it.", "instances": [{"input": "", "output": "x"}]}
SI_CHANGES = {
    "id-int": {"id": 5},
    "instruction-int": {"instruction": 5},
    "instances-dict": {"instances": {"a": 1}},
    "instance-no-output": {"instances": [{"input": "x"}]},
    "instance-output-dict": {"instances": [{"input": "x", "output": {}}]},
    "name-list": {"name": ["a"]},
}


def _self_instruct_case(change):
    def setup(tmp: Path, fx: dict) -> list[str]:
        root = tmp / "si"
        root.mkdir()
        write_rows(root / "seed_tasks.jsonl", [{**SI_GOOD, **change}])
        return ["inspect", "self_instruct", str(root)]

    return setup


for _name, _change in SI_CHANGES.items():
    case(f"self-instruct-{_name}")(_self_instruct_case(_change))


# ---- promptsource ----------------------------------------------------------------------------------

PS_TEMPLATE = """dataset: d
templates:
  abc: !Template
    answer_choices: yes ||| no
    id: abc
    jinja: 'Does {{premise}} entail {{hypothesis}}? ||| {{answer_choices[label]}}'
    metadata: !TemplateMetadata
      languages:
      - en
      metrics:
      - Accuracy
    name: t1
"""
PS_FILES = {
    "alias-bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefghijk", "bcdefghijkl", strict=True))
    + "templates: {t: {jinja: *l}}\n",
    "deep-nesting": "templates: " + "[" * 5000 + "]" * 5000 + "\n",
    "malformed": "templates: {abc: [\n",
    "templates-list": "templates: [1, 2]\n",
    "jinja-int": "templates:\n  abc:\n    jinja: 5\n",
    "jinja-dict": "templates:\n  abc:\n    jinja: {a: 1}\n",
    "languages-int": PS_TEMPLATE.replace("      languages:\n      - en\n", "      languages: 5\n"),
    "metrics-string": PS_TEMPLATE.replace("      metrics:\n      - Accuracy\n", "      metrics: Accuracy\n"),
    "metadata-string": "templates:\n  abc:\n    jinja: 'x ||| y'\n    metadata: hello\n",
    "answer-choices-dict": "templates:\n  abc:\n    jinja: 'x ||| y'\n    answer_choices: {a: 1}\n",
    "python-tag": "templates: !!python/object/apply:os.system ['echo hi']\n",
}


def _promptsource_case(text):
    def setup(tmp: Path, fx: dict) -> list[str]:
        folder = tmp / "ps" / "templates" / "d"
        folder.mkdir(parents=True)
        (folder / "templates.yaml").write_text(text, encoding="utf-8")
        return ["inspect", "promptsource", str(tmp / "ps")]

    return setup


for _name, _text in PS_FILES.items():
    case(f"promptsource-{_name}")(_promptsource_case(_text))


@case("promptsource-not-utf8")
def _(tmp, fx):
    folder = tmp / "ps" / "templates" / "d"
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_bytes(b"templates:\n  a:\n    jinja: 'caf\xe9'\n")
    return ["inspect", "promptsource", str(tmp / "ps")]


# ---- checks of the task model, located: each names the file, the field and the fix -------------------

ZW = "\u200b\u200c"  # zero-width characters only
INVISIBLE = "(write visible text)"
NIV2_FILE = "task001_squad_answer.json"
SURROGATE_DEFINITION = json.dumps({**NIV2_GOOD, "Definition": "x"}).replace('"x"', '"a \\ud800 b"')

LOCATED_NIV2 = {
    "definition-zero-width": ({**NIV2_GOOD, "Definition": [ZW]}, None, (NIV2_FILE, "'Definition'", INVISIBLE)),
    "definition-surrogate": (SURROGATE_DEFINITION, None, (NIV2_FILE, "'Definition'", "lone surrogate", "valid UTF-8")),
    "definition-huge": ({**NIV2_GOOD, "Definition": ["w " * 60_000]}, None, (NIV2_FILE, "'Definition'", "shorten")),
    "catalog-summary-zero-width": (
        NIV2_GOOD,
        [{"task": "task001_squad_answer", "summary": ZW}],
        ("task_catalog.jsonl, line 1", "'summary'", INVISIBLE),
    ),
    "catalog-only-summary-zero-width": (
        NIV2_GOOD,
        [{"task": "task002_x", "summary": ZW}],
        ("task_catalog.jsonl, line 1", "'summary'", INVISIBLE),
    ),
    "catalog-only-summary-blank": (
        NIV2_GOOD,
        [{"task": "task002_x", "summary": "  "}],
        ("task_catalog.jsonl, line 1", "'summary' is empty", "write the task's instruction"),
    ),
    "catalog-task-empty": (
        NIV2_GOOD,
        [{"task": "", "summary": "Sum."}],
        ("task_catalog.jsonl, line 1", "'task'", "task's id", "non-empty id"),
    ),
    "catalog-task-zero-width": (
        NIV2_GOOD,
        [{"task": ZW, "summary": "Sum."}],
        ("task_catalog.jsonl, line 1", "'task'", "task's id", INVISIBLE),
    ),
}


def _located_niv2_case(task, catalog):
    return lambda tmp, fx: ["inspect", "niv2", str(_niv2_layout(tmp, task, catalog))]


for _name, (_task, _catalog, _expect) in LOCATED_NIV2.items():
    case(f"located-niv2-{_name}", _expect)(_located_niv2_case(_task, _catalog))


@case("located-niv2-file-name-zero-width", ("tasks/" + ZW + ".json", "the file name", INVISIBLE))
def _(tmp, fx):
    root = _niv2_layout(tmp, NIV2_GOOD)
    (root / "tasks" / NIV2_FILE).rename(root / "tasks" / f"{ZW}.json")
    return ["inspect", "niv2", str(root)]


@case("located-niv2-split-option-unknown", ("niv2", "split", "'dev'", "train, test, excluded"))
def _(tmp, fx):
    return ["inspect", "niv2", str(_niv2_layout(tmp, NIV2_GOOD)), "-o", "split=dev"]


LOCATED_BIGBENCH = {
    "description-zero-width": ([{**BB_GOOD, "description": ZW}], ("bigbench_tasks.jsonl, line 1", "'description'")),
    "name-empty": ([{**BB_GOOD, "name": ""}], ("bigbench_tasks.jsonl, line 1", "'name'", "non-empty id")),
    "name-zero-width": ([{**BB_GOOD, "name": ZW}], ("bigbench_tasks.jsonl, line 1", "'name'", INVISIBLE)),
    "duplicate-name": (
        [BB_GOOD, {**BB_GOOD, "description": "Other."}],
        ("bigbench_tasks.jsonl, line 2", "'bigbench:t'", "first read from bigbench_tasks.jsonl, line 1", "unique id"),
    ),
}


def _located_bigbench_case(rows, file="bigbench_tasks.jsonl"):
    def setup(tmp: Path, fx: dict) -> list[str]:
        (tmp / "bigbench").mkdir()
        write_rows(tmp / "bigbench" / file, rows)
        return ["inspect", "bigbench", str(tmp / "bigbench")]

    return setup


for _name, (_rows, _expect) in LOCATED_BIGBENCH.items():
    case(f"located-bigbench-{_name}", _expect)(_located_bigbench_case(_rows))
case("located-bigbench-subtask-dir-zero-width", ("bigbench_subtasks.jsonl, line 1", "'subtask_dir'", INVISIBLE))(
    _located_bigbench_case([{**BB_GOOD, "task": "t", "subtask_dir": ZW}], "bigbench_subtasks.jsonl")
)
case("located-bigbench-subtask-duplicate", ("bigbench_subtasks.jsonl, line 2", "'bigbench:t/s'", "line 1"))(
    _located_bigbench_case([{**BB_GOOD, "task": "t", "subtask_dir": "s"}] * 2, "bigbench_subtasks.jsonl")
)


@case("located-bigbench-official-duplicate", ("b/task.json", "'bigbench:t'", "first read from", "a/task.json"))
def _(tmp, fx):
    for folder in ("a", "b"):
        (tmp / "bb" / "benchmark_tasks" / folder).mkdir(parents=True)
        (tmp / "bb" / "benchmark_tasks" / folder / "task.json").write_text(json.dumps(BB_GOOD))
    return ["inspect", "bigbench", str(tmp / "bb")]


@case("located-bigbench-official-subtask-folder", ("task.json", "subtask folder's name", INVISIBLE))
def _(tmp, fx):
    parent = tmp / "bb" / "benchmark_tasks" / "t"
    (parent / ZW).mkdir(parents=True)
    (parent / "task.json").write_text(json.dumps(BB_GOOD))
    (parent / ZW / "task.json").write_text(json.dumps(BB_GOOD))
    return ["inspect", "bigbench", str(tmp / "bb")]


LOCATED_SELF_INSTRUCT = {
    "instruction-zero-width": ([{**SI_GOOD, "instruction": ZW}], ("seed_tasks.jsonl, line 1", "'instruction'")),
    "instruction-blank": ([{**SI_GOOD, "instruction": " "}], ("seed_tasks.jsonl, line 1", "'instruction' is empty")),
    "id-empty": ([{**SI_GOOD, "id": ""}], ("seed_tasks.jsonl, line 1", "'id'", "non-empty id")),
    "id-zero-width": ([{**SI_GOOD, "id": ZW}], ("seed_tasks.jsonl, line 1", "'id'", INVISIBLE)),
    "duplicate-id": ([SI_GOOD, SI_GOOD], ("seed_tasks.jsonl, line 2", "'self_instruct:seed_1'", "unique id")),
}


def _located_self_instruct_case(rows):
    def setup(tmp: Path, fx: dict) -> list[str]:
        (tmp / "si").mkdir()
        write_rows(tmp / "si" / "seed_tasks.jsonl", rows)
        return ["inspect", "self_instruct", str(tmp / "si")]

    return setup


for _name, (_rows, _expect) in LOCATED_SELF_INSTRUCT.items():
    case(f"located-self-instruct-{_name}", _expect)(_located_self_instruct_case(_rows))


@case("located-self-instruct-duplicate-across-files", ("user_oriented_instructions.jsonl, line 1", "seed_tasks.jsonl"))
def _(tmp, fx):
    (tmp / "si").mkdir()
    write_rows(tmp / "si" / "seed_tasks.jsonl", [SI_GOOD])
    write_rows(tmp / "si" / "user_oriented_instructions.jsonl", [SI_GOOD])
    return ["inspect", "self_instruct", str(tmp / "si")]


def _bbh_layout(tmp: Path, examples: list, description: str = "Task description: Navigate.", name: str = "navigate"):
    root = tmp / "bbh-repo"
    (root / "bbh").mkdir(parents=True)
    (root / "cot-prompts").mkdir()
    (root / "bbh" / f"{name}.json").write_text(json.dumps({"examples": examples}), encoding="utf-8")
    (root / "cot-prompts" / f"{name}.txt").write_text(f"canary\n-----\n{description}\n", encoding="utf-8")
    return root


BBH_EXAMPLE = {"input": "Go left.", "target": "Yes"}
LOCATED_BBH = {
    "description-zero-width": (
        lambda tmp: _bbh_layout(tmp, [BBH_EXAMPLE], ZW),
        ("cot-prompts/navigate.txt, line 3", "task description", INVISIBLE),
    ),
    "description-blank": (
        lambda tmp: _bbh_layout(tmp, [BBH_EXAMPLE], "Task description:  "),
        ("cot-prompts/navigate.txt, line 3", "task description", "is empty"),
    ),
    "example-input-dict": (
        lambda tmp: _bbh_layout(tmp, [{"input": {"a": 1}, "target": "Yes"}]),
        ("bbh/navigate.json", "examples[0].input", "write a string"),
    ),
    "example-target-list-of-dicts": (
        lambda tmp: _bbh_layout(tmp, [BBH_EXAMPLE, {"input": "x", "target": [{}]}]),
        ("bbh/navigate.json", "examples[1].target", "write a string"),
    ),
    "file-name-zero-width": (
        lambda tmp: _bbh_layout(tmp, [BBH_EXAMPLE], name=ZW),
        (f"bbh/{ZW}.json", "the file name", INVISIBLE),
    ),
}


def _readme_invisible(tmp: Path) -> Path:
    root = _bbh_layout(tmp, [BBH_EXAMPLE])
    (root / "bbh" / "README.md").write_text(f"# BBH\n\n## Navigate\n\n{ZW}\n", encoding="utf-8")
    return root


LOCATED_BBH["readme-paragraph-zero-width"] = (_readme_invisible, ("bbh/README.md", "'## Navigate'", INVISIBLE))

for _name, (_layout, _expect) in LOCATED_BBH.items():
    case(f"located-bbh-{_name}", _expect)(lambda tmp, fx, layout=_layout: ["inspect", "bbh", str(layout(tmp))])

LOCATED_PROMPTSOURCE = {
    "jinja-zero-width": (
        "templates:\n  abc:\n    jinja: 'x ||| y'\n  abd:\n    jinja: \"\\u200b\"\n",
        ("templates/d/templates.yaml", "template abd", "'jinja'", INVISIBLE),
    ),
    "jinja-surrogate": (
        'templates:\n  abc:\n    jinja: "a \\ud800 ||| b"\n',
        ("templates/d/templates.yaml", "template abc", "'jinja'", "lone surrogate"),
    ),
}
for _name, (_text, _expect) in LOCATED_PROMPTSOURCE.items():
    case(f"located-promptsource-{_name}", _expect)(_promptsource_case(_text))


@case("located-promptsource-folder-zero-width", (f"templates/{ZW}/templates.yaml", "the folder name", INVISIBLE))
def _(tmp, fx):
    folder = tmp / "ps" / "templates" / ZW
    folder.mkdir(parents=True)
    (folder / "templates.yaml").write_text("templates:\n  abc:\n    jinja: 'x ||| y'\n", encoding="utf-8")
    return ["inspect", "promptsource", str(tmp / "ps")]


@case("located-build-two-sources-one-task", ("both hold task 'jsonl:t0'", "load each meta-dataset once"))
def _(tmp, fx):
    again = Path(shutil.copy(fx["source"], tmp / "again.jsonl"))
    return ["build-index", f"jsonl={fx['source']}", f"jsonl={again}", "--out", str(tmp / "idx")]


# ---- options, checked before any work --------------------------------------------------------------

OPTION_CASES = {
    "build-seed-negative": ["build-index", "jsonl=X", "--out", "OUT", "--seed", "-1"],
    "build-seed-huge": ["build-index", "jsonl=X", "--out", "OUT", "--seed", str(2**40)],
    "build-factory-hnsw0": ["build-index", "jsonl=X", "--out", "OUT", "--factory", "HNSW0"],
    "build-factory-pq0": ["build-index", "jsonl=X", "--out", "OUT", "--factory", "PQ0"],
    "build-factory-unknown": ["build-index", "jsonl=X", "--out", "OUT", "--factory", "Bogus42"],
    "build-factory-empty": ["build-index", "jsonl=X", "--out", "OUT", "--factory", " "],
    "build-factory-empty-part": ["build-index", "jsonl=X", "--out", "OUT", "--factory", "IVF4,,Flat"],
    "build-factory-hnsw1": ["build-index", "jsonl=X", "--out", "OUT", "--factory", "HNSW1"],
    "train-seed-negative": ["train-encoder", "jsonl=X", "--out", "OUT", "--seed", "-1"],
    "train-lr-nan": ["train-encoder", "jsonl=X", "--out", "OUT", "--lr", "nan"],
    "train-lr-inf": ["train-encoder", "jsonl=X", "--out", "OUT", "--lr", "inf"],
    "train-lr-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--lr", "0"],
    "train-batch-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--batch-size", "0"],
    "train-epochs-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--epochs", "0"],
    "train-dev-fraction-big": ["train-encoder", "jsonl=X", "--out", "OUT", "--dev-fraction", "1.5"],
    "train-dev-fraction-nan": ["train-encoder", "jsonl=X", "--out", "OUT", "--dev-fraction", "nan"],
    "train-vocab-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--vocab-size", "0"],
    "train-dim-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--dim", "0"],
    "train-positives-zero": ["train-encoder", "jsonl=X", "--out", "OUT", "--positives", "0"],
    "tune-seed-negative": ["tune", "MIX", "--out", "OUT", "--seed", "-1"],
    "tune-lr-nan": ["tune", "MIX", "--out", "OUT", "--lr", "nan"],
    "tune-lr-inf": ["tune", "MIX", "--out", "OUT", "--lr", "inf"],
    "tune-lr-negative": ["tune", "MIX", "--out", "OUT", "--lr", "-0.1"],
    "tune-batch-zero": ["tune", "MIX", "--out", "OUT", "--batch-size", "0"],
    "tune-grad-accum-zero": ["tune", "MIX", "--out", "OUT", "--grad-accum", "0"],
    "tune-max-steps-zero": ["tune", "MIX", "--out", "OUT", "--max-steps", "0"],
    "tune-max-steps-minus-two": ["tune", "MIX", "--out", "OUT", "--max-steps", "-2"],
    "tune-max-source-zero": ["tune", "MIX", "--out", "OUT", "--max-source-length", "0"],
    "tune-max-target-zero": ["tune", "MIX", "--out", "OUT", "--max-target-length", "0"],
    "tune-epochs-nan": ["tune", "MIX", "--out", "OUT", "--epochs", "nan"],
    "tune-epochs-negative": ["tune", "MIX", "--out", "OUT", "--epochs", "-1"],
    "evaluate-seed-negative": ["evaluate", "--model", "tiny-t5", "--target", "bbh:x", "--seed", "-1"],
    "evaluate-max-new-tokens-zero": ["evaluate", "--model", "tiny-t5", "--target", "bbh:x", "--max-new-tokens", "0"],
    "evaluate-batch-zero": ["evaluate", "--model", "tiny-t5", "--target", "bbh:x", "--batch-size", "0"],
    "evaluate-max-examples-zero": ["evaluate", "--model", "tiny-t5", "--target", "bbh:x", "--max-examples", "0"],
    "export-k-zero": ["export", "--target", "x", "--out", "OUT", "-k", "0"],
    "export-seed-negative": ["export", "--target", "x", "--out", "OUT", "--seed", "-1"],
    "export-max-per-task-zero": ["export", "--target", "x", "--out", "OUT", "--max-per-task", "0"],
    "export-positive-examples-negative": ["export", "--target", "x", "--out", "OUT", "--positive-examples", "-1"],
    "query-k-zero": ["query", "x", "-k", "0"],
    "query-k-text": ["query", "x", "-k", "many"],
    "taskmap-labels-negative": ["taskmap", "--pool", "bbh", "--labels", "-1"],
    "taskmap-pu-nan": ["taskmap", "--pool", "bbh", "--pu-threshold", "nan"],
    "taskmap-pp-inf": ["taskmap", "--pool", "bbh", "--pp-threshold", "inf"],
    "select-seed-negative": ["select", "--pool", "bbh", "--seed", "-1"],
    "select-drop-prob-big": ["select", "--pool", "bbh", "--drop-prob", "2"],
    "select-max-new-tokens-zero": ["select", "--pool", "bbh", "--max-new-tokens", "0"],
    "select-batch-zero": ["select", "--pool", "bbh", "--batch-size", "0"],
    "select-k-zero": ["select", "--pool", "bbh", "-k", "0"],
    "select-n-instances-zero": ["select", "--pool", "bbh", "--n-instances", "0"],
    "compare-max-steps-zero": ["compare", "--target-task", "bbh:x", "--out", "OUT", "--max-steps", "0"],
    "compare-lr-nan": ["compare", "--target-task", "bbh:x", "--out", "OUT", "--learning-rate", "nan"],
    "active-iterations-zero": ["active", "--pool", "bbh", "--out", "OUT", "--iterations", "0"],
    "unknown-option": ["query", "x", "--no-such-option"],
    "unknown-command": ["no-such-command"],
}


def _option_case(argv):
    def setup(tmp: Path, fx: dict) -> list[str]:
        mapping = {"OUT": str(tmp / "out"), "MIX": str(fx["mixture"]), "jsonl=X": f"jsonl={fx['source']}"}
        return [mapping.get(a, a) for a in argv]

    return setup


for _name, _argv in OPTION_CASES.items():
    case(f"option-{_name}")(_option_case(_argv))


# ---- paths -----------------------------------------------------------------------------------------


def _foreign(tmp: Path) -> Path:
    folder = tmp / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    return folder


PATH_CASES = {
    "build-out-under-file": lambda tmp, fx: ["build-index", f"jsonl={fx['source']}", "--out", str(_file(tmp) / "idx")],
    "build-out-foreign": lambda tmp, fx: ["build-index", f"jsonl={fx['source']}", "--out", str(_foreign(tmp))],
    "build-out-is-file": lambda tmp, fx: ["build-index", f"jsonl={fx['source']}", "--out", str(_file(tmp))],
    "build-out-symlink-loop": lambda tmp, fx: ["build-index", f"jsonl={fx['source']}", "--out", str(_loop(tmp))],
    "train-out-under-file": lambda tmp, fx: ["train-encoder", f"jsonl={fx['source']}", "--out", str(_file(tmp) / "e")],
    "train-out-foreign": lambda tmp, fx: ["train-encoder", f"jsonl={fx['source']}", "--out", str(_foreign(tmp))],
    "train-out-an-index": lambda tmp, fx: ["train-encoder", f"jsonl={fx['source']}", "--out", str(copy_index(tmp, fx))],
    "tune-out-under-file": lambda tmp, fx: ["tune", str(fx["mixture"]), "--out", str(_file(tmp) / "m")],
    "tune-out-foreign": lambda tmp, fx: ["tune", str(fx["mixture"]), "--out", str(_foreign(tmp))],
    "tune-out-a-mixture": lambda tmp, fx: [
        "tune",
        str(fx["mixture"]),
        "--out",
        str(shutil.copytree(fx["mixture"], tmp / "m")),
    ],
    "export-out-under-file": lambda tmp, fx: ["export", "--target", "x", "--out", str(_file(tmp) / "mix")],
    "export-out-foreign": lambda tmp, fx: ["export", "--target", "x", "--out", str(_foreign(tmp))],
    "query-save-under-file": lambda tmp, fx: [
        "query",
        "x",
        "--index",
        str(fx["index"]),
        "--save",
        str(_file(tmp) / "s.json"),
    ],
    "query-index-symlink-loop": lambda tmp, fx: ["query", "x", "--index", str(_loop(tmp))],
    "query-index-missing": lambda tmp, fx: ["query", "x", "--index", str(tmp / "nowhere")],
    "query-index-a-file": lambda tmp, fx: ["query", "x", "--index", str(_file(tmp))],
    "query-index-foreign": lambda tmp, fx: ["query", "x", "--index", str(_foreign(tmp))],
    "select-output-under-file": lambda tmp, fx: ["select", "--pool", "bbh", "-o", str(_file(tmp) / "s.json")],
}


def _file(tmp: Path) -> Path:
    path = tmp / "plain.txt"
    path.write_text("a file")
    return path


def _loop(tmp: Path) -> Path:
    os.symlink(tmp / "loop-b", tmp / "loop-a")
    os.symlink(tmp / "loop-a", tmp / "loop-b")
    return tmp / "loop-a"


OVERWRITE_HINT = ("exists and was not written by instr-select", "pass --overwrite")
REFUSED_FOREIGN = {"build-out-foreign", "train-out-foreign", "tune-out-foreign", "export-out-foreign"}
for _name, _setup in PATH_CASES.items():
    case(f"path-{_name}", OVERWRITE_HINT if _name in REFUSED_FOREIGN else ())(_setup)


# ---- a damaged index -------------------------------------------------------------------------------


def _edit_jsonl(path: Path, edit: Callable[[list], list]) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in edit(rows)))


def _edit_manifest(index: Path, **changes) -> None:
    manifest = json.loads((index / "manifest.json").read_text())
    for key, value in changes.items():
        manifest[key] = value
    (index / "manifest.json").write_text(json.dumps(manifest))


def _set(rows: list, i: int, **changes) -> list:
    rows[i] = {**rows[i], **changes}
    return rows


def _drop(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


INDEX_DAMAGE: dict[str, Callable[[Path], None]] = {
    "tasks-unknown-key": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: _set(r, 0, extra=1)),
    "tasks-missing-key": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: [_drop(r[0], "start"), *r[1:]]),
    "tasks-list-row": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: [[1, 2], *r[1:]]),
    "tasks-string-count": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: _set(r, 0, count="3")),
    "tasks-start-out-of-range": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: _set(r, 1, start=10**6)),
    "tasks-negative-start": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: _set(r, 0, start=-1)),
    "tasks-categories-ints": lambda ix: _edit_jsonl(ix / "tasks.jsonl", lambda r: _set(r, 0, categories=[1])),
    "tasks-not-json": lambda ix: (ix / "tasks.jsonl").write_text("{oops\n"),
    "tasks-deep": lambda ix: (ix / "tasks.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n"),
    "instructions-no-text": lambda ix: _edit_jsonl(ix / "instructions.jsonl", lambda r: [_drop(r[0], "text"), *r[1:]]),
    "instructions-text-int": lambda ix: _edit_jsonl(ix / "instructions.jsonl", lambda r: _set(r, 0, text=5)),
    "instructions-not-utf8": lambda ix: (ix / "instructions.jsonl").write_bytes(b'{"text": "\xff"}\n'),
    "manifest-encoder-string": lambda ix: _edit_manifest(ix, encoder="minilm"),
    "manifest-encoder-null": lambda ix: _edit_manifest(ix, encoder=None),
    "manifest-counts-null": lambda ix: _edit_manifest(ix, counts=None),
    "manifest-counts-string": lambda ix: _edit_manifest(ix, counts={"instructions": "129"}),
    "manifest-factory-int": lambda ix: _edit_manifest(ix, factory=5),
    "manifest-factory-hnsw0": lambda ix: _edit_manifest(ix, factory="IDMap2,HNSW0"),
    "manifest-dim-string": lambda ix: _edit_manifest(ix, dim="16"),
    "manifest-dim-true": lambda ix: _edit_manifest(ix, dim=True),
    "manifest-text-view-unknown": lambda ix: _edit_manifest(ix, text_view="fancy"),
    "manifest-history-dict": lambda ix: _edit_manifest(ix, history={}),
    "manifest-hashes-list": lambda ix: _edit_manifest(ix, hashes=[1]),
    "manifest-unknown-field": lambda ix: _edit_manifest(ix, surprise=1),
    "manifest-not-utf8": lambda ix: (ix / "manifest.json").write_bytes(b'{"kind": "\xff"}'),
    "manifest-deep": lambda ix: (ix / "manifest.json").write_text("[" * 100_000 + "]" * 100_000),
    "vectors-nan": lambda ix: np.save(ix / "vectors.npy", np.full_like(np.load(ix / "vectors.npy"), np.nan)),
    "vectors-truncated": lambda ix: (ix / "vectors.npy").write_bytes((ix / "vectors.npy").read_bytes()[:200]),
    "vectors-wrong-dim": lambda ix: np.save(ix / "vectors.npy", np.load(ix / "vectors.npy")[:, :4].copy()),
    "static-matrix-short": lambda ix: np.save(
        ix / "static" / "static_embedding.npy", np.load(ix / "static" / "static_embedding.npy")[:3].copy()
    ),
    "static-matrix-missing": lambda ix: (ix / "static" / "static_embedding.npy").unlink(),
    "faiss-missing": lambda ix: (ix / "faiss.index").unlink(),
    "bm25-missing": lambda ix: shutil.rmtree(ix / "bm25"),
}
# damage whose hash is then recorded again: the structural check (not the hash) must find it
REHASHED = {k for k in INDEX_DAMAGE if k.startswith(("tasks-", "instructions-", "vectors-", "static-"))} - {
    "static-matrix-missing"
}


def _index_case(name, damage):
    def setup(tmp: Path, fx: dict) -> list[str]:
        index = copy_index(tmp, fx)
        damage(index)
        if name in REHASHED:
            rehash(index)
        extra = ["--retriever", "bm25"] if name == "bm25-missing" else []
        return ["query", "decide whether the sentence follows", "--index", str(index), "--json", *extra]

    return setup


for _name, _damage in INDEX_DAMAGE.items():
    case(f"index-{_name}")(_index_case(_name, _damage))


@case("index-vectors-from-another-build")
def _(tmp, fx):
    index = copy_index(tmp, fx)
    vectors = np.load(index / "vectors.npy")
    np.save(index / "vectors.npy", np.ascontiguousarray(vectors[::-1]))  # same shape, other rankings
    return ["query", "translate english to french", "--index", str(index)]


@case("index-corrupt-faiss")
def _(tmp, fx):
    index = copy_index(tmp, fx)
    (index / "faiss.index").write_bytes(b"garbage")
    return ["query", "translate english to french", "--index", str(index)]


@case("index-static-symlink-out")
def _(tmp, fx):
    index = copy_index(tmp, fx)
    elsewhere = Path(shutil.move(index / "static", tmp / "elsewhere"))
    os.symlink(elsewhere, index / "static")
    return ["query", "translate english to french", "--index", str(index)]


@case("index-tasks-symlink-passwd")
def _(tmp, fx):
    index = copy_index(tmp, fx)
    (tmp / "secret").write_text("root:x:0:0\n")
    (index / "tasks.jsonl").unlink()
    os.symlink(tmp / "secret", index / "tasks.jsonl")
    return ["query", "translate english to french", "--index", str(index)]


@case("index-add-to-damaged")
def _(tmp, fx):
    index = copy_index(tmp, fx)
    (index / "faiss.index").write_bytes(b"garbage")
    return ["build-index", "--add", f"jsonl={fx['source']}", "--out", str(index)]


@case("build-factory-pq8-too-few-vectors")
def _(tmp, fx):
    return ["build-index", f"jsonl={fx['source']}", "--out", str(tmp / "idx"), "--factory", "PQ8"]


@case("build-factory-pq-not-dividing-dim")
def _(tmp, fx):
    return ["build-index", f"jsonl={fx['source']}", "--encoder", str(fx["encoder"]), "--out", str(tmp / "idx"),
            "--factory", "PQ7"]  # fmt: skip


@case("build-empty-jsonl", ("empty.jsonl", "hold no tasks"))
def _(tmp, fx):
    (tmp / "empty.jsonl").write_text("")
    return ["build-index", f"jsonl={tmp / 'empty.jsonl'}", "--out", str(tmp / "idx")]


@case("build-blank-lines-jsonl")
def _(tmp, fx):
    (tmp / "blank.jsonl").write_text("\n\n  \n")
    return ["build-index", f"jsonl={tmp / 'blank.jsonl'}", "--out", str(tmp / "idx")]


@case("build-add-empty-jsonl", ("empty.jsonl", "hold no tasks"))
def _(tmp, fx):
    (tmp / "empty.jsonl").write_text("")
    return ["build-index", "--add", f"jsonl={tmp / 'empty.jsonl'}", "--out", str(copy_index(tmp, fx))]


@case("train-encoder-empty-jsonl", ("empty.jsonl", "hold no tasks"))
def _(tmp, fx):
    (tmp / "empty.jsonl").write_text("")
    return ["train-encoder", f"jsonl={tmp / 'empty.jsonl'}", "--out", str(tmp / "enc")]


@case("export-tasks-empty-file", ("empty.jsonl", "the selection is empty", "META_DATASET:TASK_ID per line"))
def _(tmp, fx):
    (tmp / "empty.jsonl").write_text("")
    return ["export", "--tasks", str(tmp / "empty.jsonl"), "--out", str(tmp / "mix")]


@case("export-tasks-json-without-tasks", ("sel.json", "the selection is empty"))
def _(tmp, fx):
    (tmp / "sel.json").write_text(json.dumps({**SELECTION, "tasks": []}))
    return ["export", "--tasks", str(tmp / "sel.json"), "--out", str(tmp / "mix")]


# ---- an index whose manifest does not describe its files -------------------------------------------


def _faiss_file_hnsw(index: Path) -> None:
    """faiss.index rebuilt as HNSW over the same vectors, its hash recorded: the manifest still says Flat."""
    import faiss

    from instr_select.index.faiss_store import new_index

    faiss.write_index(new_index(np.load(index / "vectors.npy"), "IDMap2,HNSW32"), str(index / "faiss.index"))
    rehash(index)


def _encoder_of_other_build(index: Path, fx: dict, entry: bool) -> None:
    """static/ and encoder/ copied from another build; ``entry``: its manifest's encoder entry as well."""
    for name in ("static", "encoder"):
        shutil.rmtree(index / name)
        shutil.copytree(fx["other_index"] / name, index / name)
    if entry:
        _edit_manifest(index, encoder=json.loads((fx["other_index"] / "manifest.json").read_text())["encoder"])


MANIFEST_DISAGREES: dict[str, tuple[Callable[[Path, dict], None], tuple[str, ...]]] = {
    "factory-hnsw-file-flat": (
        lambda ix, fx: _edit_manifest(ix, factory="HNSW32"),
        ("faiss.index", "manifest.json says factory 'HNSW32'", "Flat"),
    ),
    "factory-idmap-hnsw-file-flat": (
        lambda ix, fx: _edit_manifest(ix, factory="IDMap2,HNSW32"),
        ("faiss.index", "'IDMap2,HNSW32'", "HNSWFlat32"),
    ),
    "factory-ivf-file-flat": (
        lambda ix, fx: _edit_manifest(ix, factory="IDMap2,IVF4,Flat"),
        ("faiss.index", "'IDMap2,IVF4,Flat'"),
    ),
    "factory-flat-file-hnsw": (
        lambda ix, fx: _faiss_file_hnsw(ix),
        ("faiss.index", "holds an HNSW index", "'IDMap2,Flat'"),
    ),
    "factory-without-idmap-file-idmap": (
        lambda ix, fx: _edit_manifest(ix, factory="Flat"),
        ("faiss.index", "holds an id-map index", "'Flat'"),
    ),
    "static-encoder-of-other-build": (
        lambda ix, fx: _encoder_of_other_build(ix, fx, entry=False),
        ("index/static", "encoder files do not match"),
    ),
    "static-encoder-of-other-build-with-its-entry": (
        lambda ix, fx: _encoder_of_other_build(ix, fx, entry=True),
        ("index/static", "does not reproduce the index's vectors", "another build"),
    ),
    "static-encoder-of-other-build-rehashed": (
        lambda ix, fx: (_encoder_of_other_build(ix, fx, entry=False), rehash(ix)),
        ("index/static", "does not reproduce the index's vectors", "another build"),
    ),
}


def _manifest_disagrees_case(change):
    def setup(tmp: Path, fx: dict) -> list[str]:
        index = copy_index(tmp, fx)
        change(index, fx)
        return ["query", "decide whether the sentence follows", "--index", str(index)]

    return setup


for _name, (_change, _expect) in MANIFEST_DISAGREES.items():
    case(f"index-manifest-disagrees-{_name}", _expect)(_manifest_disagrees_case(_change))


@case("index-add-to-hnsw-claiming-flat", ("faiss.index", "holds an HNSW index"))
def _(tmp, fx):
    index = copy_index(tmp, fx)
    _faiss_file_hnsw(index)
    return ["build-index", "--add", f"jsonl={fx['source']}", "--out", str(index)]


# ---- queries files and query text ------------------------------------------------------------------

QUERY_FILES = {
    "duplicate-ids": ['{"id": "a", "instruction": "x"}', '{"id": "a", "instruction": "y"}'],
    "duplicate-after-number": ['{"id": 1, "instruction": "x"}', '{"id": "1", "instruction": "y"}'],
    "id-true": ['{"id": true, "instruction": "x"}'],
    "id-list": ['{"id": [1], "instruction": "x"}'],
    "id-null": ['{"id": null, "instruction": "x"}'],
    "id-dict": ['{"id": {}, "instruction": "x"}'],
    "id-float": ['{"id": 1.5, "instruction": "x"}'],
    "id-blank": ['{"id": " ", "instruction": "x"}'],
    "instruction-int": ['{"id": "a", "instruction": 5}'],
    "instruction-zero-width": ['{"id": "a", "instruction": "\\u200b\\u2060"}'],
    "instruction-control": ['{"id": "a", "instruction": "\\u0001\\u0002"}'],
    "instruction-surrogate": ['{"id": "a", "instruction": "hello \\ud83d"}'],
    "instruction-huge": [json.dumps({"id": "a", "instruction": "w" * 100_001})],
    "deep": ["[" * 100_000 + "]" * 100_000],
    "not-object": ["[1]"],
    "empty": [""],
}


def _queries_case(lines):
    def setup(tmp: Path, fx: dict) -> list[str]:
        (tmp / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return ["query", "--queries", str(tmp / "q.jsonl"), "--index", str(fx["index"])]

    return setup


for _name, _lines in QUERY_FILES.items():
    case(f"queries-{_name}")(_queries_case(_lines))


@case("queries-not-utf8")
def _(tmp, fx):
    (tmp / "q.jsonl").write_bytes(b'{"id": "a", "instruction": "\xff"}\n')
    return ["query", "--queries", str(tmp / "q.jsonl"), "--index", str(fx["index"])]


QUERY_TEXTS = {
    "zero-width": "\u200b\u200b",
    "control": "\x01\x02",
    "whitespace": " \t ",
    "huge": "w" * 100_001,
    "surrogate": "hello \udcff",
    "bidi-only": "\u202e\u202c",
}
for _name, _text in QUERY_TEXTS.items():
    case(f"query-text-{_name}")(lambda tmp, fx, t=_text: ["query", t, "--index", str(fx["index"])])


# ---- selections given to export --------------------------------------------------------------------

SELECTION = {
    "selector": "dense",
    "format": 1,
    "tasks": [{"rank": 1, "task_id": "navigate", "meta_dataset": "bbh", "score": 0.5}],
}
SELECTION_CHANGES = {
    "score-high": {"score": "high"},
    "score-nan": {"score": float("nan")},
    "score-null": {"score": None},
    "score-bool": {"score": True},
    "rank-first": {"rank": "first"},
    "rank-zero": {"rank": 0},
    "task-id-int": {"task_id": 5},
    "categories-ints": {"categories": [1]},
    "unknown-field": {"colour": "red"},
}


def _selection_case(change):
    def setup(tmp: Path, fx: dict) -> list[str]:
        data = {**SELECTION, "tasks": [{**SELECTION["tasks"][0], **change}]}
        (tmp / "sel.json").write_text(json.dumps(data))
        out = shutil.copytree(fx["mixture"], tmp / "mix")
        return ["export", "--tasks", str(tmp / "sel.json"), "--out", str(out)]

    return setup


for _name, _change in SELECTION_CHANGES.items():
    case(f"selection-{_name}")(_selection_case(_change))

SELECTION_FILES = {
    "tasks-dict": json.dumps({**SELECTION, "tasks": {"a": 1}}),
    "task-not-object": json.dumps({**SELECTION, "tasks": [5]}),
    "format-2": json.dumps({**SELECTION, "format": 2}),
    "not-json": "{oops",
    "duplicate-task": json.dumps({**SELECTION, "tasks": SELECTION["tasks"] * 2}),
    "deep": '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "empty-tasks": json.dumps({**SELECTION, "tasks": []}),
    "line-without-colon": "navigate\n",
}


def _selection_file_case(text):
    def setup(tmp: Path, fx: dict) -> list[str]:
        (tmp / "sel.json").write_text(text)
        out = shutil.copytree(fx["mixture"], tmp / "mix")
        return ["export", "--tasks", str(tmp / "sel.json"), "--out", str(out)]

    return setup


for _name, _text in SELECTION_FILES.items():
    case(f"selection-{_name}")(_selection_file_case(_text))


@case("selection-not-utf8")
def _(tmp, fx):
    (tmp / "sel.txt").write_bytes(b"bbh:navigate\xff\n")
    return ["export", "--tasks", str(tmp / "sel.txt"), "--out", str(shutil.copytree(fx["mixture"], tmp / "mix"))]


@case("compare-targets-not-utf8")
def _(tmp, fx):
    (tmp / "targets.txt").write_bytes(b"bbh:navigate\xff\n")
    return ["compare", "--targets", str(tmp / "targets.txt"), "--out", str(tmp / "run")]


# ---- mixtures given to tune: checked against what mixture.json says they are ------------------------


def _edit_records(mixture: Path, edit: Callable[[list], list], rehash_records: bool = False) -> None:
    """records.jsonl edited; ``rehash_records``: mixture.json's mixture_hash updated to match."""
    from instr_select.tuning.mixture import records_hash

    _edit_jsonl(mixture / "records.jsonl", edit)
    if rehash_records:
        rows = [json.loads(line) for line in (mixture / "records.jsonl").read_text().splitlines()]
        _edit_mixture(mixture, mixture_hash=records_hash(rows))


def _edit_mixture(mixture: Path, **changes) -> None:
    manifest = json.loads((mixture / "mixture.json").read_text())
    (mixture / "mixture.json").write_text(json.dumps({**manifest, **changes}))


def _format_1_records(rows: list) -> list:
    return [{**row, "completion": row["completion"].lstrip()} for row in rows]


RECORDS_FILE = "records.jsonl, line 1"
MIXTURE_DAMAGE: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "record-prompt-int-completion-null": (
        lambda mix: _edit_records(mix, lambda r: [{"prompt": 5, "completion": None}, *r[1:]]),
        (RECORDS_FILE, "field 'prompt' must be a string, not a number", "re-run"),
    ),
    "record-completion-null": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, completion=None)),
        (RECORDS_FILE, "field 'completion' must be a string, not null"),
    ),
    "record-instruction-list": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, instruction=["x"])),
        (RECORDS_FILE, "field 'instruction' must be a string, not a list"),
    ),
    "record-input-dict": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, input={"a": 1})),
        (RECORDS_FILE, "field 'input' must be a string, not an object"),
    ),
    "record-output-bool": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, output=True)),
        (RECORDS_FILE, "field 'output' must be a string, not a boolean"),
    ),
    "record-task-id-int": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, task_id=7)),
        (RECORDS_FILE, "field 'task_id' must be a string"),
    ),
    "record-meta-dataset-missing": (
        lambda mix: _edit_records(mix, lambda r: [_drop(r[0], "meta_dataset"), *r[1:]]),
        (RECORDS_FILE, "lacks field 'meta_dataset'"),
    ),
    "record-a-list": (
        lambda mix: _edit_records(mix, lambda r: [[1, 2], *r[1:]]),
        (RECORDS_FILE, "JSON object"),
    ),
    "records-of-format-1": (
        lambda mix: _edit_records(mix, _format_1_records, rehash_records=True),
        (RECORDS_FILE, "field 'completion' does not start with ' '", "mixture format 2"),
    ),
    "records-edited": (
        lambda mix: _edit_records(mix, lambda r: _set(r, 0, output="edited", completion=" edited")),
        ("records.jsonl", "does not match the 'mixture_hash' in mixture.json"),
    ),
    "format-3": (lambda mix: _edit_mixture(mix, format=3), ("mixture.json", "mixture format 3 is unknown")),
    "format-float": (lambda mix: _edit_mixture(mix, format=2.0), ("mixture.json", "mixture format 2.0 is unknown")),
    "format-string": (lambda mix: _edit_mixture(mix, format="2"), ("mixture.json", "mixture format '2' is unknown")),
    "format-true": (lambda mix: _edit_mixture(mix, format=True), ("mixture.json", "mixture format True is unknown")),
    "format-missing": (
        lambda mix: (mix / "mixture.json").write_text(json.dumps({"mixture_hash": "x"})),
        ("mixture.json", "mixture format None is unknown"),
    ),
    "mixture-hash-missing": (
        lambda mix: _edit_mixture(mix, mixture_hash=None),
        ("mixture.json", "'mixture_hash'"),
    ),
}


def _mixture_case(damage):
    def setup(tmp: Path, fx: dict) -> list[str]:
        mixture = Path(shutil.copytree(fx["mixture"], tmp / "mix"))
        damage(mixture)
        return ["tune", str(mixture), "--model", "tiny-t5", "--out", str(tmp / "model"), "--max-steps", "1"]

    return setup


for _name, (_damage, _expect) in MIXTURE_DAMAGE.items():
    case(f"tune-mixture-{_name}", _expect)(_mixture_case(_damage))


# ---- model folders: pickles are never loaded, truncated weights are named ---------------------------


def _pickled(tmp: Path) -> Path:
    folder = tmp / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "t5"}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04cposix\nsystem\n(S'echo pwned'\ntR.")
    return folder


def _truncated(tmp: Path, fx: dict) -> Path:
    folder = Path(shutil.copytree(fx["encoder"], tmp / "enc"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


MODEL_CASES = {
    "evaluate-pickled": lambda tmp, fx: ["evaluate", "--model", str(_pickled(tmp)), "--target", "bbh:navigate"],
    "tune-pickled": lambda tmp, fx: [
        "tune",
        str(fx["mixture"]),
        "--model",
        str(_pickled(tmp)),
        "--out",
        str(tmp / "o"),
    ],
    "train-base-pickled": lambda tmp, fx: [
        "train-encoder",
        f"jsonl={fx['source']}",
        "--base-model",
        str(_pickled(tmp)),
        "--out",
        str(tmp / "o"),
    ],
    "build-encoder-pickled": lambda tmp, fx: [
        "build-index",
        f"jsonl={fx['source']}",
        "--encoder",
        str(_pickled(tmp)),
        "--out",
        str(tmp / "o"),
    ],
    "build-encoder-truncated": lambda tmp, fx: [
        "build-index",
        f"jsonl={fx['source']}",
        "--encoder",
        str(_truncated(tmp, fx)),
        "--out",
        str(tmp / "o"),
    ],
    "train-base-truncated": lambda tmp, fx: [
        "train-encoder",
        f"jsonl={fx['source']}",
        "--base-model",
        str(_truncated(tmp, fx)),
        "--out",
        str(tmp / "o"),
    ],
}
for _name, _setup in MODEL_CASES.items():
    case(f"model-{_name}")(_setup)


# ---- the test --------------------------------------------------------------------------------------


def test_null_optional_lists_are_empty(tmp_path: Path) -> None:
    """NIV2 ``Instances`` / ``Positive Examples`` null mean none: a correct result, not an error."""
    from instr_select.loaders import load_source

    root = _niv2_layout(tmp_path, {**NIV2_GOOD, "Instances": None, "Positive Examples": None})
    task = load_source("niv2", path=root)[0]
    assert task.examples == [] and task.metadata["positive_examples"] == []


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 150, len(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, fixtures: dict, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = CASES[name](tmp_path, fixtures)
    watched = [tmp_path, fixtures["index"], fixtures["mixture"]]
    before = [snapshot(folder) for folder in watched]
    code, out, err = run_main(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (name, code, out, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, (name, err)
    assert lines[0].startswith("error: "), lines[0]
    for text in EXPECT.get(name, ()):
        assert text in lines[0], (name, text, lines[0])
    assert [snapshot(folder) for folder in watched] == before, f"{name} changed a folder it was given"
