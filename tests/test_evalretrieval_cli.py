"""eval-retrieval on a tiny P3 copy and NIV2 catalog: TREC files ir-measures can read, metric names, errors."""

from __future__ import annotations

import json
import os

import pytest

THEMES = {
    "imdb": ["review", "positive", "negative", "movie", "opinion", "sentiment"],
    "snli": ["premise", "hypothesis", "entailment", "contradiction", "follows", "sentence"],
    "squad": ["question", "context", "answer", "passage", "extract", "span"],
    "cnn": ["article", "summarize", "summary", "short", "headline", "news"],
    "wmt": ["translate", "french", "english", "language", "target", "source"],
}


def _yaml(dataset: str, words: list[str]) -> str:
    lines = ["dataset: " + dataset, "templates:"]
    for i in range(5):
        text = " ".join(words[(i + j) % len(words)] for j in range(4)) + " {{" + words[0] + "}} ||| {{label}}"
        lines += [
            f"  id{i}: !Template",
            f"    id: id{i}",
            f"    jinja: '{text}'",
            f"    name: t{i}",
            "    answer_choices: null",
            "    metadata: !TemplateMetadata",
            "      languages: [en]",
            "      metrics: [Accuracy]",
            "      original_task: true",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_data(tmp_path):
    root = tmp_path / "data"
    for name, words in THEMES.items():
        folder = root / "promptsource" / "templates" / name
        folder.mkdir(parents=True)
        (folder / "templates.yaml").write_text(_yaml(name, words))
    niv2 = root / "niv2"
    niv2.mkdir()
    rows = []
    for i, (name, words) in enumerate(THEMES.items()):
        for j in range(2):
            rows.append(
                {
                    "task": f"task{i * 2 + j:03d}_{name}_{j}",
                    "summary": " ".join(words[j : j + 4]) + " task",
                    "categories": [name.title()],
                    "domains": [],
                    "input_language": ["English"],
                    "output_language": ["English"],
                }
            )
    (niv2 / "task_catalog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_eval_retrieval_writes_trec_files(cli, tiny_data, tmp_path):
    import ir_measures

    from instr_select.evaluation import SYSTEMS, read_back

    out = tmp_path / "eval"
    args = ["eval-retrieval", "--data-dir", str(tiny_data), "--out", str(out), "--epochs", "1", "--batch-size", "4"]
    result = cli(*args, "--vocab-size", "200", "--dim", "8", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report["results"]) == {"p3", "p3-dataset", "niv2"}
    assert report["queries"] == {"p3": 5, "p3-dataset": 5, "niv2": 10}
    for system in SYSTEMS:
        assert set(report["results"]["p3"][system]) == {"Success@1", "RR@10", "R@5"}
        assert set(report["results"]["niv2"][system]) == {"nDCG@10"}
        # dataset-level relevance only adds relevant tasks: never a lower Success@1
        assert report["results"]["p3-dataset"][system]["Success@1"] >= report["results"]["p3"][system]["Success@1"]
        benches = (("p3", ["Success@1", "RR@10", "R@5"]), ("p3-dataset", ["Success@1", "RR@10"]), ("niv2", ["nDCG@10"]))
        for bench, names in benches:
            run = out / f"{bench}.{system}.run"
            rows = list(ir_measures.read_trec_run(str(run)))
            assert rows and all(r.doc_id.startswith(("promptsource:", "niv2:")) for r in rows)
            again = read_back(out / f"{bench}.qrels", run, names)
            for name in names:  # the files give back exactly the reported numbers
                assert again[name] == pytest.approx(report["results"][bench][system][name], abs=1e-4)
    qrels = list(ir_measures.read_trec_qrels(str(out / "p3.qrels")))
    assert len(qrels) == 5
    # a held-out template is never in the index the queries ran against
    held = [json.loads(line) for line in (out / "p3.queries.jsonl").read_text().splitlines()]
    niv2_self = list(ir_measures.read_trec_run(str(out / "niv2.aligned.run")))
    queries = {
        json.loads(line)["id"]: json.loads(line)["task"]
        for line in (out / "niv2.queries.jsonl").read_text().splitlines()
    }
    assert all(r.doc_id != queries[r.query_id] for r in niv2_self)  # the query task is excluded
    assert all(q["task"].startswith("promptsource:") for q in held)
    assert (out / "results.md").read_text().startswith("| system |")
    ceiling = report["ceilings"]["p3"]
    assert ceiling["queries"] == 5 and 0 <= ceiling["success@1_ceiling"] <= 1
    assert set(ceiling["success@1_answerable"]) == set(SYSTEMS)
    assert (out / "encoders" / "aligned" / "training_info.json").is_file()


def test_eval_retrieval_bad_input(cli, tiny_data, tmp_path):
    result = cli("eval-retrieval", "--data-dir", str(tiny_data), "--out", str(tmp_path / "e"), "-k", "0")
    assert result.code == 2 and "-k must be 1 or more" in result.err and "Traceback" not in result.err
    result = cli("eval-retrieval", "--data-dir", str(tiny_data), "--p3", "none", "--niv2", "none")
    assert result.code == 2 and "nothing to evaluate" in result.err
    result = cli("eval-retrieval", "--data-dir", str(tiny_data), "--min-templates", "9", "--niv2", "none")
    assert result.code == 2 and "to hold one out" in result.err
    assert not (tmp_path / "e").exists()


def test_holdout_is_deterministic_and_leak_free(data_dir):
    from instr_select.evaluation import hold_out_templates
    from instr_select.loaders import load_source

    p3 = load_source("promptsource", data_dir=data_dir)
    train_a, queries_a = hold_out_templates(p3, seed=0)
    train_b, queries_b = hold_out_templates(p3, seed=0)
    assert [q.text for q in queries_a] == [q.text for q in queries_b]
    assert len(queries_a) == sum(1 for t in p3 if len(t.instructions) >= 4)
    for query in queries_a:
        task = train_a.get(query.task_key)
        assert query.text not in task.instructions
        assert len(task.instructions) == len(p3.get(query.task_key).instructions) - 1
    _, queries_c = hold_out_templates(p3, seed=1)
    assert [q.text for q in queries_c] != [q.text for q in queries_a]


def test_duplicated_elsewhere_bounds_success_at_1():
    from instr_select.evaluation import hold_out_templates
    from instr_select.evaluation.holdout import dataset_level, duplicated_elsewhere
    from instr_select.tasks import Task, TaskCollection

    shared = ["Fill the blank: {{text}}", "Which word fits? {{text}}", "Complete {{text}}", "Guess {{text}}"]
    tasks = TaskCollection(
        [
            Task(task_id="cbt/CN", meta_dataset="p3", instructions=list(shared), source="cbt"),
            Task(task_id="cbt/NE", meta_dataset="p3", instructions=list(shared), source="cbt"),
            Task(task_id="imdb", meta_dataset="p3", instructions=[f"Review {i}: {{{{text}}}}" for i in range(4)]),
        ]
    )
    train, queries = hold_out_templates(tasks, 4, seed=0)
    flags = dict(zip((q.task_key for q in queries), duplicated_elsewhere(train, queries), strict=True))
    # cbt/CN's held-out template is still a template of cbt/NE (and vice versa): unanswerable
    assert flags == {"p3:cbt/CN": True, "p3:cbt/NE": True, "p3:imdb": False}
    # at the level of datasets every subset of cbt is relevant, so the copy in cbt/NE is a hit
    by_dataset = dataset_level(queries, train)
    assert [sorted(q.relevant) for q in by_dataset] == [["p3:cbt/CN", "p3:cbt/NE"]] * 2 + [["p3:imdb"]]
    assert duplicated_elsewhere(train, by_dataset) == [False, False, False]


def test_candidate_table_for_an_installed_encoder(cli, data_dir, tmp_path):
    """--encoder prints the README's candidate table; its cells are the numbers written to results.json."""
    out = tmp_path / "cand"
    result = cli("eval-retrieval", "--encoder", "minilm-static", "--out", str(out), "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    rows = {line.split(" | ")[0].strip("| "): line for line in result.out.splitlines() if line.startswith("| ")}
    assert {"bm25", "minilm-static", "minilm-static + bm25 (hybrid)"} <= set(rows)
    report = json.loads((out / "results.json").read_text())
    scores = report["results"]["minilm-static"]
    for label, method in (("minilm-static", "dense"), ("bm25", "bm25")):
        cells = [c.strip() for c in rows[label].strip("| ").split(" | ")]
        assert cells[1] == f"{scores[method]['p3-dataset']['test']['Success@1']:.4f}"
        assert cells[3] == f"{scores[method]['niv2-category']['test']['nDCG@10']:.4f}"
        assert cells[4] == f"{scores[method]['bigbench-keyword']['test']['nDCG@10']:.4f}"
    assert scores["dense"] != scores["bm25"]  # the encoder changes the ranking
    assert report["queries"]["niv2-category"]["test"] > 100
    assert (out / "results.md").read_text().strip() in result.out


def test_candidate_mode_bad_input(cli, data_dir, tmp_path):
    result = cli("eval-retrieval", "--align", "--out", str(tmp_path / "a"), "--data-dir", str(data_dir))
    assert result.code == 2 and "--align needs --encoder" in result.err and len(result.err.strip().splitlines()) == 1
    result = cli(
        "eval-retrieval", "--encoder", "no-such-model", "--out", str(tmp_path / "b"), "--data-dir", str(data_dir)
    )
    assert result.code == 2 and "minilm-static" in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
    env = {**os.environ, "INSTR_SELECT_CACHE": str(tmp_path / "cache")}  # nothing materialised before the check
    result = cli("eval-retrieval", "--encoder", "mpnet-static", "--align", "--out", str(tmp_path / "c"), env=env)
    assert result.code == 2 and "no packaged alignment recipe for 'mpnet-static'" in result.err
    assert not (tmp_path / "cache" / "models").exists()
