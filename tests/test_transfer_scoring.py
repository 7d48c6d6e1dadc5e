"""Selectors scored against a transfer matrix: metrics by hand, random's exact expectation, the report."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from instr_select.transfer.matrix import TransferMatrix
from instr_select.transfer.metrics import (
    METRICS,
    metric,
    ndcg,
    precision_at_k,
    random_draws,
    random_expectation,
    regret_at_k,
)
from instr_select.transfer.scoring import chart, markdown, score_selectors

REPO = Path(__file__).resolve().parent.parent


# --- metrics by hand ----------------------------------------------------------------------------
def test_ndcg_by_hand() -> None:
    truth = np.array([0.5, -0.2, 0.1])  # true ranks 1, 3, 2 -> gains 2^2-1 = 3, 2^0-1 = 0, 2^1-1 = 1
    predicted = np.array([0.1, 0.9, 0.5])  # order: source 1, 2, 0 -> gains 0, 1, 3
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 3 / math.log2(4)  # 2.1309
    ideal = 3 / math.log2(2) + 1 / math.log2(3) + 0 / math.log2(4)  # 3.6309
    assert ndcg(predicted, truth) == pytest.approx(dcg / ideal)  # 0.5869
    assert ndcg(truth, truth) == pytest.approx(1.0)
    assert ndcg(-truth, truth) == pytest.approx((0 + 1 / math.log2(3) + 3 / 2) / ideal)  # worst: gains 0, 1, 3


def test_ndcg_of_many_sources_does_not_overflow() -> None:
    n = 1000  # 2^(n - 1) still fits a float: the unscaled formula agrees
    truth = np.arange(n, dtype=float)[::-1]  # source i has true rank i + 1
    gains = np.exp2(n - np.arange(1, n + 1, dtype=float)) - 1
    discounts = 1 / np.log2(np.arange(2, n + 2))
    assert ndcg(-truth, truth) == pytest.approx(gains[::-1] @ discounts / (gains @ discounts))
    wide = np.arange(5000, dtype=float)  # 2^4999 would overflow
    assert ndcg(wide, wide) == pytest.approx(1.0) and 0.0 < ndcg(-wide, wide) < 1.0


def test_regret_and_precision_by_hand() -> None:
    truth = np.array([0.5, -0.2, 0.1, 0.3])  # sorted 0.5, 0.3, 0.1, -0.2: best 2 mean 0.4, worst 2 mean -0.05
    predicted = np.array([0.9, 0.0, 0.8, 0.1])  # top 2: sources 0 and 2, mean truth 0.3
    assert regret_at_k(predicted, truth, k=2) == pytest.approx((0.4 - 0.3) / (0.4 - -0.05))  # 0.2222
    assert precision_at_k(predicted, truth, k=2) == pytest.approx(0.5)  # true top 2 = {0, 3}
    assert regret_at_k(truth, truth, k=2) == 0.0 and precision_at_k(truth, truth, k=2) == 1.0
    assert regret_at_k(-truth, truth, k=2) == pytest.approx(1.0) and precision_at_k(-truth, truth, k=2) == 0.0
    # transfer that changes sign is fine; all equal -> 0; k above n is n (everything picked)
    assert regret_at_k(predicted, np.full(4, 0.2), k=2) == 0.0
    assert regret_at_k(predicted, truth, k=9) == 0.0 and precision_at_k(predicted, truth, k=9) == 1.0


def test_ties_break_by_source_order() -> None:
    truth = np.array([1.0, 1.0, 0.0])  # tied: source 0 takes true rank 1 (gain 3), source 1 rank 2 (gain 1)
    assert ndcg(np.zeros(3), truth) == pytest.approx(1.0)  # predicted ties: source order 0, 1, 2
    ideal = 3 + 1 / math.log2(3)
    assert ndcg(np.array([0.0, 1.0, 0.0]), truth) == pytest.approx((1 + 3 / math.log2(3)) / ideal)
    picks_source_1 = np.array([0.0, 1.0, 0.0])
    assert regret_at_k(picks_source_1, truth, k=1) == 0.0  # same true transfer as the best
    assert precision_at_k(picks_source_1, truth, k=1) == 0.0  # but not the source ranked first


def test_nan_truth_left_out_and_nan_scores_ranked_last() -> None:
    truth = np.array([0.5, np.nan, -0.2, 0.1])
    predicted = np.array([0.1, 100.0, 0.9, 0.5])
    assert ndcg(predicted, truth) == pytest.approx(ndcg(np.array([0.1, 0.9, 0.5]), np.array([0.5, -0.2, 0.1])))
    unscored = np.array([np.nan, 0.0, 0.2, 0.1])  # source 0 (the best) cannot be scored: last
    assert precision_at_k(unscored, truth, k=1) == 0.0 and regret_at_k(unscored, truth, k=1) == pytest.approx(
        (0.5 - -0.2) / 0.7
    )
    for name in METRICS:
        assert math.isnan(metric(name, np.ones(4), np.array([np.nan, np.nan, 1.0, np.nan])))  # one source left
        assert math.isnan(metric(name, np.full(4, np.nan), truth))  # nothing scored


@pytest.mark.parametrize(("n", "k"), [(4, 2), (4, 1), (5, 3), (4, 4)])
def test_random_expectation_matches_every_permutation(n: int, k: int) -> None:
    truth = np.random.default_rng(n + k).normal(size=n)
    truth[1] = truth[0]  # a tie, too
    values = {m: [] for m in METRICS}
    for perm in itertools.permutations(range(n)):
        predicted = np.empty(n)
        predicted[list(perm)] = -np.arange(n)
        for m in METRICS:
            values[m].append(metric(m, predicted, truth, k))
    expected = random_expectation(truth, k)
    for m in METRICS:
        assert expected[m][0] == pytest.approx(np.mean(values[m]), abs=1e-12)
        assert expected[m][1] == pytest.approx(np.std(values[m]), abs=1e-12)
    assert expected["precision"][0] == k / n


def test_random_precision_is_k_over_n_with_nan_sources_left_out() -> None:
    truth = np.array([0.3, np.nan, 0.1, 0.2, -0.5, 0.0, np.nan, 0.7, 0.4])  # 7 sources with a value
    assert random_expectation(truth, 3)["precision"][0] == 3 / 7


def test_random_draws_follow_the_expectation() -> None:
    truth = np.random.default_rng(3).normal(size=10)
    truth[4] = np.nan
    draws = random_draws(truth, k=3, draws=20000, seed=0)
    expected = random_expectation(truth, k=3)
    for m in METRICS:
        assert draws[m].shape == (20000,)
        assert draws[m].mean() == pytest.approx(expected[m][0], abs=4 * expected[m][1] / math.sqrt(20000))
        assert draws[m].std() == pytest.approx(expected[m][1], rel=0.05)
    assert np.array_equal(
        random_draws(truth, 3, 50, seed=(1, 2))["ndcg"], random_draws(truth, 3, 50, seed=(1, 2))["ndcg"]
    )


# --- a synthetic matrix ---------------------------------------------------------------------------
SOURCES = [f"niv2:task{i:03d}_source" for i in range(8)]
TARGETS = ["bbh:navigate", "bbh:snarks", "niv2:task999_target", "bbh:date_understanding", "niv2:task998_target"]


def synthetic_matrix(sources=SOURCES, targets=TARGETS, seed: int = 0) -> TransferMatrix:
    """NLL transfer drawn at random; accuracy transfer a monotone function of it (targets with options)."""
    rng = np.random.default_rng(seed)
    s, t = len(sources), len(targets)
    untuned_nll = rng.uniform(1.0, 2.0, t)
    transfer = rng.normal(0.0, 0.3, (s, t))
    noise = rng.normal(0.0, 0.01, (s, t, 2))
    nll = untuned_nll[None, :, None] - transfer[:, :, None] + noise - noise.mean(axis=2, keepdims=True)
    untuned_acc = np.array([0.5 if key.startswith("bbh:") else np.nan for key in targets])
    accuracy = np.repeat((untuned_acc[None, :] + 0.1 * np.tanh(transfer))[:, :, None], 2, axis=2)
    nll[0, 0, 1] = accuracy[0, 0, 1] = np.nan  # one seed not run
    return TransferMatrix(list(sources), list(targets), [0, 1], nll, accuracy, untuned_nll, untuned_acc)


def test_oracle_is_perfect_and_beats_random() -> None:
    matrix = synthetic_matrix()
    truth = matrix.transfer("nll")
    report = score_selectors(matrix, {"oracle": truth, "reverse": -truth}, k=5)
    assert report["views"]["accuracy"]["targets"] == ["bbh:navigate", "bbh:snarks", "bbh:date_understanding"]
    for view in ("nll", "accuracy"):
        rows = report["views"][view]["selectors"]
        oracle, reverse, random = rows["oracle"], rows["reverse"], rows["random"]
        assert oracle["per_target"]["ndcg"] == pytest.approx([1.0] * len(report["views"][view]["targets"]))
        assert oracle["summary"]["ndcg"]["mean"] == pytest.approx(1.0)
        assert oracle["summary"]["regret"]["mean"] == 0.0 and oracle["summary"]["precision"]["mean"] == 1.0
        assert reverse["summary"]["regret"]["mean"] == pytest.approx(1.0)
        assert oracle["vs_random"]["ndcg"]["mean"] > 0 and oracle["vs_random"]["ndcg"]["ci95"][0] > 0
        assert oracle["vs_random"]["regret"]["mean"] < 0 and oracle["vs_random"]["ndcg"]["wins"] == len(
            report["views"][view]["targets"]
        )
        assert oracle["vs_random"]["ndcg"]["p_random"] < 0.01 and reverse["vs_random"]["regret"]["p_random"] < 0.01
        assert random["summary"]["precision"]["mean"] == pytest.approx(5 / 8)
        assert random["summary"]["ndcg"]["sd_per_target"] > 0 and random["summary"]["ndcg"]["sd_of_mean"] > 0
    text = markdown(report)
    for view in ("nll", "accuracy"):
        rows = [line for line in text.splitlines() if line.startswith(f"| {view} (")]
        assert [row.split(" | ")[1] for row in rows] == ["random", "oracle", "reverse"]
    assert "Regret@5" in text and "lower is better" in text
    json.dumps(report)  # every value serialises


def test_score_selectors_refuses_bad_shapes() -> None:
    matrix = synthetic_matrix()
    with pytest.raises(ValueError, match="shape"):
        score_selectors(matrix, {"bad": np.zeros((3, 3))})


def test_chart_is_a_png(tmp_path) -> None:
    matrix = synthetic_matrix()
    truth = matrix.transfer("nll")
    report = score_selectors(
        matrix, {"oracle": truth, "noisy": truth + np.random.default_rng(1).normal(0, 1, truth.shape)}
    )
    path = chart(report, tmp_path / "chart.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    from PIL import Image

    assert Image.open(path).size == (1200, 500)


def save_matrix(matrix: TransferMatrix, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    matrix.manifest = {"model": "tiny-gpt2"}
    matrix.save(folder)
    return folder


# --- the CLI --------------------------------------------------------------------------------------
def _run_score(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from instr_select.cli.main import main

    code = 0
    try:
        main(["score-selectors", *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unknown_selector_is_one_line_before_anything_loads(monkeypatch, capsys, tmp_path) -> None:
    code, _, err = _run_score(monkeypatch, capsys, str(tmp_path / "no-matrix"), "--selectors", "bm25,oracle")
    assert code == 2
    assert err.count("\n") == 1 and "unknown selector 'oracle'" in err and "random, bm25" in err


def test_cli_random_only_writes_the_report(monkeypatch, capsys, tmp_path) -> None:
    folder = save_matrix(synthetic_matrix(), tmp_path / "matrix")
    code, out, err = _run_score(monkeypatch, capsys, str(folder), "--selectors", "random", "-q")
    assert code == 0, err
    assert "| nll (5 targets) | random |" in out
    for name in ("report.md", "results.json", "chart.png"):
        assert (folder / "selectors" / name).is_file()
    data = json.loads((folder / "selectors" / "results.json").read_text())
    assert len(data["views"]["nll"]["selectors"]["random"]["per_target"]["ndcg"]) == 5


def test_bench_runs_on_a_saved_matrix(tmp_path) -> None:
    folder = save_matrix(synthetic_matrix(), tmp_path / "matrix")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_transfer_scoring.py"), str(folder), "--selectors", "random"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "total" in proc.stdout and "120" in proc.stdout


def test_compare_takes_the_targets_where_selectors_disagree(tmp_path) -> None:
    from instr_select.errors import ConfigError
    from instr_select.transfer.evaluation import disagreeing_targets

    folder = save_matrix(synthetic_matrix(), tmp_path / "matrix")
    scores = folder / "selectors" / "scores"
    scores.mkdir(parents=True)
    first = np.tile(np.arange(8, 0, -1, dtype=float)[:, None], (1, 5))  # ranks the sources 0..7 on every target
    second = first.copy()
    second[:, 3] = np.arange(8, dtype=float)  # reversed on target 3: top 2 shares nothing
    second[:, 1] = [8, 1, 7, 2, 6, 3, 4, 5]  # target 1: top 2 {0, 2} against {0, 1}, Jaccard 1/3
    np.save(scores / "bm25.npy", first)
    with pytest.raises(ConfigError, match="fewer than two selectors"):
        disagreeing_targets(folder, 2, k=2)
    np.save(scores / "aligned.npy", second)
    assert disagreeing_targets(folder, 2, k=2) == [TARGETS[3], TARGETS[1]]
    with pytest.raises(ConfigError, match="between 1 and 5"):
        disagreeing_targets(folder, 6, k=2)


# --- dev and test targets -------------------------------------------------------------------------
def test_split_by_kind_keeps_kinds_together_and_is_seeded() -> None:
    from instr_select.transfer.split import split_by_kind

    targets = [f"bbh:t{i}" for i in range(10)]
    kinds = {t: ["a", "a", "b", "b", "b", "c", "d", "d", "e", "e"][i] for i, t in enumerate(targets)}
    split = split_by_kind(targets, kinds, dev_fraction=0.4, seed=3)
    assert sorted(split["dev"] + split["test"]) == sorted(targets)
    assert 1 <= len(split["dev"]) <= 4
    for kind in set(kinds.values()):
        sides = {"dev" if t in split["dev"] else "test" for t in targets if kinds[t] == kind}
        assert len(sides) == 1, kind
    assert split == split_by_kind(targets, kinds, dev_fraction=0.4, seed=3)
    assert {tuple(split_by_kind(targets, kinds, seed=s)["dev"]) for s in range(8)} != {tuple(split["dev"])}


def test_scores_per_split_are_the_split_columns(tmp_path) -> None:
    from instr_select.transfer.evaluation import score_matrix
    from instr_select.transfer.split import write_split

    matrix = synthetic_matrix()
    folder = save_matrix(matrix, tmp_path / "matrix")
    write_split({"format": 1, "dev": TARGETS[:2], "test": TARGETS[2:]}, tmp_path / "split.json")
    run = score_matrix(folder, ["random"], k=3, split=tmp_path / "split.json")
    whole = run.report["views"]["nll"]["selectors"]["random"]["per_target"]["ndcg"]
    dev = run.report["splits"]["dev"]["nll"]["selectors"]["random"]["per_target"]["ndcg"]
    test = run.report["splits"]["test"]["nll"]["selectors"]["random"]["per_target"]["ndcg"]
    assert dev == whole[:2] and test == whole[2:]
    assert run.report["splits"]["dev"]["accuracy"]["targets"] == ["bbh:navigate", "bbh:snarks"]
    assert "dev targets (2)" in run.markdown and "test targets (3)" in run.markdown


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": 1, "dev": ["bbh:navigate"], "test": ["bbh:nowhere"]}', "bbh:nowhere, which is not a target"),
        ('{"format": 1, "dev": ["bbh:navigate"], "test": ["bbh:navigate"]}', "in both dev and test"),
        ('{"format": 1, "dev": [], "test": ["bbh:navigate"]}', "field 'dev' must be a non-empty list"),
        ('{"format": 2, "dev": ["bbh:navigate"], "test": ["bbh:snarks"]}', "not a split of format 1"),
        ("not json", "not a readable JSON split"),
    ],
)
def test_bad_split_is_one_line_and_writes_nothing(monkeypatch, capsys, tmp_path, content, message) -> None:
    folder = save_matrix(synthetic_matrix(), tmp_path / "matrix")
    split = tmp_path / "split.json"
    split.write_text(content)
    code, _, err = _run_score(monkeypatch, capsys, str(folder), "--selectors", "random", "--split", str(split), "-q")
    assert code == 2 and err.count("\n") == 1 and message in err and "split.json" in err
    assert not (folder / "selectors").exists()


def test_split_targets_cli_writes_a_readable_split(monkeypatch, capsys, tmp_path) -> None:
    from instr_select.cli.main import main
    from instr_select.transfer.split import read_split

    targets = tmp_path / "targets.txt"
    targets.write_text("bbh:navigate spatial\nbbh:snarks sentiment\nniv2:task363_sst2 sentiment\nbbh:hyperbaton x\n")
    main(["split-targets", str(targets), "--out", str(tmp_path / "split.json"), "--seed", "1"])
    sides = read_split(tmp_path / "split.json", ["bbh:navigate", "bbh:snarks", "niv2:task363_sst2", "bbh:hyperbaton"])
    assert ("bbh:snarks" in sides["dev"]) == ("niv2:task363_sst2" in sides["dev"])
    assert "dev:" in capsys.readouterr().out
