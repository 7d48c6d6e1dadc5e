"""``instr-select query`` and ``build-index`` from the command line: output shapes, bad input, cold imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_index_fixtures import ENTAIL, save_tiny_model, small_tasks

from instr_select.index import build_index


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    encoder = save_tiny_model(root / "enc", small_tasks())
    return build_index(small_tasks(), encoder, root / "index")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_json_shape(cli, index_dir: Path) -> None:
    result = cli("query", "translate English to French", "--index", str(index_dir), "-k", "3", "--json")
    assert result.code == 0, result.err
    record = json.loads(result.out)
    assert set(record) == {"query_id", "query", "tasks", "results"} and record["query"] == "translate English to French"
    assert [r["rank"] for r in record["tasks"]] == [1, 2, 3] and record["results"] == record["tasks"]  # old name
    keys = {"rank", "task_id", "meta_dataset", "score", "matched_instruction", "categories"}
    assert all(set(r) == keys for r in record["results"])


def test_table_and_save(cli, index_dir: Path, tmp_path: Path) -> None:
    saved = tmp_path / "sel.json"
    result = cli("query", ENTAIL, "--index", str(index_dir), "-k", "2", "--save", str(saved), "--retriever", "bm25")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("query: ") and "rank" in lines[1] and len(lines) == 4
    assert "rte_a" not in result.out  # guard: the query is rte_a's own instruction
    selection = json.loads(saved.read_text())
    assert selection["selector"] == "retrieval-bm25" and len(selection["tasks"]) == 2


def test_queries_file(cli, index_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"id": "a", "instruction": "count the objects"}\n\n{"id": "b", "instruction": "write a poem"}\n'
    )
    result = cli("query", "--queries", str(queries), "--index", str(index_dir), "-k", "2", "--aggregate", "mean")
    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["query_id"] for r in records] == ["a", "b"] and all(len(r["tasks"]) == 2 for r in records)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "instruction is empty"),
        (["ok", "-k", "0"], "at least 1"),
        (["ok", "-k", "-2"], "at least 1"),
        (["ok", "--exclude-source", "nope"], "not a task of the index"),
        (["ok", "--meta-dataset", "niv2"], "not in the index"),
    ],
)
def test_bad_input_exits_2(cli, index_dir: Path, args: list[str], message: str) -> None:
    before = snapshot(index_dir)
    result = cli("query", *args, "--index", str(index_dir))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert snapshot(index_dir) == before


def test_one_megabyte_instruction(cli, index_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "big.jsonl"
    queries.write_text(json.dumps({"id": 1, "instruction": "x" * 1_000_000}) + "\n")
    result = cli("query", "--queries", str(queries), "--index", str(index_dir))
    assert result.code == 2 and "line 1" in result.err and "100,000" in result.err


@pytest.mark.parametrize(
    ("content", "message"),
    [("{bad json\n", "line 1"), ('{"id": 1, "instruction": "ok"}\n{"id": 2}\n', "line 2"), ("", "no queries")],
)
def test_malformed_queries_file(cli, index_dir: Path, tmp_path: Path, content: str, message: str) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(content)
    result = cli("query", "--queries", str(queries), "--index", str(index_dir))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


def test_missing_and_wrong_version_index(cli, index_dir: Path, tmp_path: Path) -> None:
    result = cli("query", "ok", "--index", str(tmp_path / "none"))
    assert result.code == 2 and "does not exist" in result.err
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(index_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 0
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = cli("query", "ok", "--index", str(copy))
    assert result.code == 2 and "format version 0" in result.err


def test_query_does_not_import_torch(index_dir: Path) -> None:
    code = (
        "import sys\nfrom instr_select.cli.main import main\n"
        f"main(['query', 'translate to French', '--index', {str(index_dir)!r}, '--json'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"results"' in proc.stdout and "HEAVY []" in proc.stdout


def test_build_index_cli_add_and_errors(cli, index_dir: Path, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "copy"
    import shutil

    shutil.copytree(index_dir, out)
    result = cli("build-index", "--out", str(out), "--add", "bbh", "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["meta_datasets"]["bbh"] == 27
    before = snapshot(out)
    result = cli("build-index", "--out", str(out), "--add", "bbh", "--data-dir", str(data_dir))
    assert result.code == 2 and "already in the index" in result.err
    result = cli("build-index", "bbh", "--out", str(out), "--encoder", str(tmp_path / "missing-encoder"))
    assert result.code == 2 and "Traceback" not in result.err
    assert snapshot(out) == before
