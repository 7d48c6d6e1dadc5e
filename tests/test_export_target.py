"""``export --target`` / ``--target-task`` through the retrieval API, on a tiny index of real BIG-bench tasks."""

from __future__ import annotations

import json

import pytest

from instr_select.cli.main import main
from instr_select.tasks import TaskCollection


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory, data_dir):
    from instr_select.encoder import build_static_encoder
    from instr_select.index import build_index
    from instr_select.loaders import load_source

    tasks = load_source("bigbench", data_dir=data_dir).filter(split="task", with_examples=True)
    pool = TaskCollection([*list(tasks)[:40], tasks.get("bigbench:navigate")])
    texts = [text for task in pool for text in task.instructions]
    encoder = build_static_encoder(texts, vocab_size=600, dim=32, seed=0)
    return build_index(pool, encoder, tmp_path_factory.mktemp("index") / "idx"), pool


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr()


def test_export_target_instruction(tiny_index, tmp_path, capsys, data_dir):
    index, pool = tiny_index
    out = tmp_path / "mix"
    argv = ["export", "--target", "Determine whether navigation instructions return to the starting point",
            "--index", str(index), "-k", "3", "--out", str(out), "--max-per-task", "4", "--format", "messages",
            "--data-dir", str(data_dir), "--weighting", "score"]  # fmt: skip
    code, captured = run(argv, capsys)
    assert code == 0, captured.err
    manifest = json.loads((out / "mixture.json").read_text())
    assert len(manifest["tasks"]) == 3 and manifest["query"].startswith("Determine whether navigation")
    assert manifest["selector"].startswith("retrieval") and manifest["hashes"].get("encoder_hash")
    keys = {f"{t['meta_dataset']}:{t['task_id']}" for t in manifest["tasks"]}
    assert keys <= {t.key for t in pool}
    scores = [t["score"] for t in manifest["tasks"]]
    assert scores == sorted(scores, reverse=True)
    assert manifest["tasks"][0]["examples"] == 4  # the top-scored task gets the full budget
    rows = [json.loads(line) for line in (out / "messages.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["examples"] and {r["task_id"] for r in rows} <= {
        t["task_id"] for t in manifest["tasks"]
    }


def test_export_target_task_leaves_out_its_source(tiny_index, tmp_path, capsys, data_dir):
    index, _ = tiny_index
    out = tmp_path / "mix"
    argv = ["export", "--target-task", "bbh:navigate", "--index", str(index), "-k", "5", "--out", str(out),
            "--max-per-task", "2", "--format", "alpaca", "--data-dir", str(data_dir)]  # fmt: skip
    code, captured = run(argv, capsys)
    assert code == 0, captured.err
    manifest = json.loads((out / "mixture.json").read_text())
    assert manifest["target"] == "bbh:navigate"
    assert "navigate" not in {t["task_id"] for t in manifest["tasks"]}  # same source as the target
    assert len(manifest["tasks"]) == 5


def test_export_target_bad_k(tiny_index, tmp_path, capsys):
    index, _ = tiny_index
    code, captured = run(
        ["export", "--target", "x", "--index", str(index), "-k", "0", "--out", str(tmp_path / "m")], capsys
    )
    assert code == 2 and captured.err.startswith("error: ") and not (tmp_path / "m").exists()
