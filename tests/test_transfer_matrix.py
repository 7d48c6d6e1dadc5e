"""The transfer matrix on a tiny model: cells, resume, two shards at once, merge, checks on read-back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bad_input_corpus import run_main, snapshot

from instr_select.errors import DataError
from instr_select.transfer import TransferMatrix, reliability
from instr_select.transfer.config import parse_shard, shard_cells

SOURCES = [
    "niv2:task363_sst2_polarity_classification sentiment",
    "niv2:task1344_glue_entailment_classification entailment",
    "niv2:task379_agnews_topic_classification topic",
]
TARGETS = ["bbh:navigate spatial", "niv2:task828_copa_commonsense_cause_effect commonsense"]
BUDGET = ["--model", "tiny-gpt2", "--max-steps", "2", "--batch-size", "4", "--eval-examples", "6"]
BUDGET += ["--examples-per-task", "8", "--extra-seed-sources", "2"]


def _files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.txt").write_text("\n".join(SOURCES) + "\n")
    (folder / "targets.txt").write_text("# kinds after the key\n" + "\n".join(TARGETS) + "\n")
    return folder / "sources.txt", folder / "targets.txt"


def _args(sources: Path, targets: Path, out: Path, data_dir: Path, *extra: str) -> list[str]:
    return (
        ["transfer", "--sources", str(sources), "--targets", str(targets), "--out", str(out)]
        + BUDGET
        + [
            "--data-dir",
            str(data_dir),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("transfer")
    sources, targets = _files(folder)
    out = folder / "matrix"
    proc = subprocess.run(
        [sys.executable, "-m", "instr_select.cli", "-q", *_args(sources, targets, out, data_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return folder, out, proc.stdout


def test_matrix_directory_holds_numbers_manifest_and_heatmap(one_process):
    _, out, stdout = one_process
    assert "matrix of 3 sources x 2 targets" in stdout
    matrix = TransferMatrix.load(out)
    assert matrix.sources[0] == "niv2:task363_sst2_polarity_classification" and matrix.seeds == [0, 1]
    assert matrix.nll.shape == (3, 2, 2) and np.isfinite(matrix.nll[:2]).all()
    assert np.isnan(matrix.nll[2, :, 1]).all() and np.isfinite(matrix.nll[2, :, 0]).all()  # one seed beyond N=2
    assert np.isfinite(matrix.untuned_nll).all() and np.isfinite(matrix.untuned_accuracy).all()  # both have options
    assert matrix.kinds["bbh:navigate"] == "spatial"
    manifest = matrix.manifest
    assert len(manifest["model_sha256"]) == 64 and manifest["budget"]["max_steps"] == 2
    assert manifest["target_examples"]["bbh:navigate"]["ids"] == sorted(
        manifest["target_examples"]["bbh:navigate"]["ids"]
    )
    assert len(manifest["target_examples"]["bbh:navigate"]["ids"]) == 6 and "torch" in manifest["versions"]
    assert "transfer" in manifest["command"] and manifest["reliability"]["nll"]["sources"] == 2
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "transfer.csv").read_text().splitlines()
    assert rows[0].startswith("source,target,seed") and len(rows) == 1 + 2 * (2 + 2 + 1)
    transfer = matrix.transfer("nll")
    assert np.allclose(transfer, matrix.untuned_nll[None, :] - np.nanmean(matrix.nll, axis=2))


def test_rerun_resumes_without_training(one_process, data_dir, capsys):
    folder, out, _ = one_process
    before = snapshot(out / "cells")
    code, stdout, _ = run_main(_args(folder / "sources.txt", folder / "targets.txt", out, data_dir), capsys)
    assert code == 0 and "matrix of 3 sources" in stdout
    assert snapshot(out / "cells") == before


def test_two_shards_at_once_merge_to_the_one_process_matrix(one_process, data_dir):
    folder, reference, _ = one_process
    out = folder / "sharded"
    env = {**os.environ, "INSTR_SELECT_LOCK_WAIT": "600"}
    command = [sys.executable, "-m", "instr_select.cli", "-q"]
    args = _args(folder / "sources.txt", folder / "targets.txt", out, data_dir)
    shards = [
        subprocess.Popen(
            [*command, *args, "--shard", f"{i}/2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for i in (1, 2)
    ]
    outputs = [shard.communicate(timeout=600) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], [err.decode() for _, err in outputs]
    cells = sorted(p.relative_to(out) for p in (out / "cells").rglob("*.json"))
    assert cells == sorted(p.relative_to(reference) for p in (reference / "cells").rglob("*.json"))
    if not (out / "manifest.json").is_file():  # both shards finished before seeing the other's cells
        merged = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=600)
        assert merged.returncode == 0, merged.stderr
    one, two = TransferMatrix.load(reference), TransferMatrix.load(out)
    assert one.manifest["model_sha256"] == two.manifest["model_sha256"]
    assert (one.sources, one.targets, one.seeds) == (two.sources, two.targets, two.seeds)
    for name in ("nll", "accuracy", "untuned_nll", "untuned_accuracy"):
        assert np.allclose(getattr(one, name), getattr(two, name), atol=1e-3, equal_nan=True), name


def test_shards_split_sources_whole():
    cells = [(s, k) for k in (0, 1) for s in "abcde"]
    parts = [shard_cells(cells, (i, 2)) for i in (1, 2)]
    assert sorted(parts[0] + parts[1]) == sorted(cells)
    assert {s for s, _ in parts[0]} == {"a", "c", "e"} and {s for s, _ in parts[1]} == {"b", "d"}
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) == (1, 1)


def test_read_back_is_checked(one_process, tmp_path):
    _, out, _ = one_process
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    arrays = dict(np.load(copy / "transfer.npz"))
    arrays["nll"] = arrays["nll"] + 1.0
    np.savez(copy / "transfer.npz", **arrays)
    with pytest.raises(DataError, match="does not match the sha256"):
        TransferMatrix.load(copy)
    manifest = json.loads((out / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(DataError, match="matrix format 2"):
        TransferMatrix.load(copy)


def test_split_half_reliability_by_hand():
    nll = np.zeros((3, 2, 2))
    nll[:, 0, 0], nll[:, 0, 1] = [1.0, 2.0, 3.0], [1.1, 2.2, 3.3]  # same order in both seeds
    nll[:, 1, 0], nll[:, 1, 1] = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]  # reversed
    matrix = TransferMatrix(
        ["a:1", "a:2", "a:3"], ["b:1", "b:2"], [0, 1], nll, np.full_like(nll, np.nan), np.zeros(2), np.full(2, np.nan)
    )
    result = reliability(matrix)
    assert result["within_target"] == {"b:1": pytest.approx(1.0), "b:2": pytest.approx(-1.0)}
    assert result["sources"] == 3 and result["pairs"] == 6


BAD = {
    "shard beyond its count": (["--shard", "3/2"], "--shard '3/2' must be I/N"),
    "shard zero of zero": (["--shard", "0/0"], "--shard '0/0' must be I/N"),
    "target with fewer examples than asked": (["--eval-examples", "100000"], "fewer than --eval-examples 100000"),
    "another budget": (["--max-steps", "3"], "made with other budget"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_line_and_leaves_finished_cells(name, one_process, data_dir, capsys):
    folder, out, _ = one_process
    extra, expected = BAD[name]
    before = snapshot(out)
    args = _args(folder / "sources.txt", folder / "targets.txt", out, data_dir)
    # later options win in click, so the bad value replaces the run's own
    code, _, err = run_main([*args, *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert snapshot(out) == before


def test_tasks_without_examples_are_refused(tmp_path, data_dir, capsys):
    from instr_select.loaders import load_source

    catalog_only = next(t for t in load_source("niv2", data_dir=data_dir) if not t.examples)
    sources, targets = _files(tmp_path)
    sources.write_text(f"{catalog_only.key}\n")
    code, _, err = run_main(_args(sources, targets, tmp_path / "m", data_dir), capsys)
    assert code == 2 and f"source {catalog_only.key} has no examples" in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_heatmap_colour_scale_clips_nothing() -> None:
    """The colour scale reaches the largest change (no cell saturates) and is linear up to the median."""
    import numpy as np

    from instr_select.transfer.heatmap import colour_scale

    values = np.array([[0.05, -0.3, np.nan], [2.5, -0.1, 0.0], [0.2, 0.4, -4.0]])
    limit, linear, ticks = colour_scale(values)
    assert limit == 4.0 and linear == pytest.approx(0.3)
    assert ticks == [-2, -1, -0.5, -0.2, 0.0, 0.2, 0.5, 1, 2]
    assert colour_scale(np.array([[np.nan, 0.0]]))[:2] == (1.0, 1.0)  # nothing moved: a unit scale
