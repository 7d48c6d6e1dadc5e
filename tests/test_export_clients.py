"""The export folder drops into its clients as documented: datasets, TRL, LLaMA-Factory, axolotl.

A tiny byte-level BPE tokenizer and a one-layer Llama stand in for a real model (offline, seconds
on CPU); the separator rule and the loss masks are checked on their tokens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from instr_select.tasks import TaskCollection
from instr_select.tuning.export import AXOLOTL_FILE, FILE_NAMES, LLAMA_FACTORY_INFO
from instr_select.tuning.mixture import MixtureConfig, build_records, save_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared builders, with or without tests/__init__.py
from test_tuning_fixtures import toy_pool  # noqa: E402

datasets = pytest.importorskip("datasets")

CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|user|>\n{{ m['content'] }}\n"
    "{% else %}<|assistant|>\n{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    mix = build_records(toy_pool(), MixtureConfig(max_per_task=3, seed=0))
    out = tmp_path_factory.mktemp("export") / "mix"
    save_mixture(mix, out, formats=["alpaca", "messages", "prompt-completion", "hf"])
    return out, mix


@pytest.fixture(scope="module")
def tokenizer(export):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    _, mix = export
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([r["prompt"] + r["completion"] for r in mix.records] * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def test_every_config_loads_with_load_dataset(export):
    out, mix = export
    for config, columns in [
        ("records", {"prompt", "completion", "instruction", "input", "output", "task_id", "meta_dataset"}),
        ("alpaca", {"instruction", "input", "output", "task_id", "meta_dataset"}),
        ("messages", {"messages", "task_id", "meta_dataset"}),
        ("prompt-completion", {"prompt", "completion", "task_id", "meta_dataset"}),
    ]:
        ds = datasets.load_dataset(str(out), config, split="train")
        assert set(ds.column_names) == columns and len(ds) == len(mix.records), config
    default = datasets.load_dataset(str(out), split="train")  # the card's default config: records
    assert default["completion"] == [r["completion"] for r in mix.records]
    assert datasets.load_from_disk(str(out / "hf"))[0] == mix.records[0]


def test_one_separator_rule_in_every_format(export, tokenizer):
    out, mix = export
    records = datasets.load_dataset(str(out), "records", split="train")
    pairs = datasets.load_dataset(str(out), "prompt-completion", split="train")
    hf = datasets.load_from_disk(str(out / "hf"))
    assert records["completion"] == pairs["completion"] == hf["completion"] == [r["completion"] for r in mix.records]
    for row in pairs:
        assert row["prompt"].endswith("Output:") and row["completion"].startswith(" ")
        assert not row["completion"].startswith("  ")
        prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(row["prompt"] + row["completion"], add_special_tokens=False)["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids  # the answer never merges into "Output:"
        assert tokenizer.decode(full_ids[len(prompt_ids) :]) == row["completion"]
    alpaca = datasets.load_dataset(str(out), "alpaca", split="train")
    messages = datasets.load_dataset(str(out), "messages", split="train")
    for record, a, m in zip(mix.records, alpaca, messages, strict=True):
        assert a["output"] == m["messages"][1]["content"] == record["output"] == record["completion"][1:]


def _tiny_llama(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("config", ["prompt-completion", "messages"])
def test_trl_sft_trains_on_the_answer_only(export, tokenizer, tmp_path, config):
    pytest.importorskip("trl")
    from trl import SFTConfig, SFTTrainer

    out, mix = export
    train = datasets.load_dataset(str(out), config, split="train").remove_columns(["task_id", "meta_dataset"])
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        assistant_only_loss=config == "messages",
        max_length=256,
    )
    trainer = SFTTrainer(model=_tiny_llama(tokenizer), args=args, train_dataset=train, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    answers = {r["output"] for r in mix.records}
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        trained = tokenizer.decode([t for t, lab in zip(ids.tolist(), labels.tolist(), strict=True) if lab != -100])
        text = trained.removesuffix(tokenizer.eos_token)
        assert text.strip() and text.strip() in answers, (
            trained
        )  # the loss covers the answer (and EOS), never the prompt
        if config == "prompt-completion":
            assert text.startswith(" ")
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0


def test_llama_factory_dataset_info_follows_its_parser(export):
    """Checked against LLaMA-Factory 0.9.5's ``data/parser.py`` (DatasetAttr, get_dataset_list)."""
    out, _ = export
    info = json.loads((out / LLAMA_FACTORY_INFO).read_text())
    common = {"system", "tools", "images", "videos", "audios", "chosen", "rejected", "kto_tag"}
    columns_for = {"alpaca": common | {"prompt", "query", "response", "history"}, "sharegpt": common | {"messages"}}
    tag_names = {
        "role_tag",
        "content_tag",
        "user_tag",
        "assistant_tag",
        "observation_tag",
        "function_tag",
        "system_tag",
    }
    assert set(info) == {"instr_select", "instr_select_messages"}
    for name, entry in info.items():
        assert set(entry) <= {"file_name", "formatting", "columns", "tags", "split", "num_samples"}, name
        path = out / entry["file_name"]  # LLaMA-Factory joins dataset_dir and file_name
        assert path.is_file() and not Path(entry["file_name"]).is_absolute()
        formatting = entry.get("formatting", "alpaca")
        assert set(entry["columns"]) <= columns_for[formatting]
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            assert set(entry["columns"].values()) <= set(row)
        if formatting == "sharegpt":
            tags = entry["tags"]
            assert set(tags) <= tag_names
            for row in rows:  # its converter wants user, assistant, user, ... turns
                roles = [turn[tags["role_tag"]] for turn in row[entry["columns"]["messages"]]]
                assert roles == [tags["user_tag"], tags["assistant_tag"]]
                assert all(tags["content_tag"] in turn for turn in row["messages"])


def test_axolotl_entries_match_its_documented_types(export):
    """Checked against axolotl 0.19's dataset docs: alpaca, chat_template, user_defined (SFTDataset schema)."""
    import yaml

    out, mix = export
    entries = yaml.safe_load((out / AXOLOTL_FILE).read_text())
    assert set(entries) == {"alpaca", "messages", "prompt-completion"}
    for fmt, (entry,) in entries.items():
        assert Path(entry["path"]).is_absolute() and Path(entry["path"]) == (out / FILE_NAMES[fmt]).resolve()
        assert entry["ds_type"] == "json"
    assert entries["alpaca"][0]["type"] == "alpaca"
    chat = entries["messages"][0]
    assert chat["type"] == "chat_template" and chat["roles_to_train"] == ["assistant"]
    first = json.loads((out / FILE_NAMES["messages"]).read_text().splitlines()[0])
    mapping = chat["message_property_mappings"]
    assert all(mapping["role"] in turn and mapping["content"] in turn for turn in first[chat["field_messages"]])
    user_defined = entries["prompt-completion"][0]["type"]
    allowed = {"system_prompt", "system_format", "field_system", "field_instruction", "field_input"}
    assert set(user_defined) <= allowed | {"field_output", "format", "no_input_format", "field"}
    rows = [json.loads(line) for line in (out / FILE_NAMES["prompt-completion"]).read_text().splitlines()]
    for row, record in zip(rows, mix.records, strict=True):  # axolotl: format(instruction) + output, as is
        prompt = user_defined["no_input_format"].format(instruction=row[user_defined["field_instruction"]])
        assert prompt + row[user_defined["field_output"]] == record["prompt"] + record["completion"]


def test_manifest_records_provenance(export):
    import shlex

    out, _ = export
    manifest = json.loads((out / "mixture.json").read_text())
    assert {"python", "instr-select", "datasets"} <= set(manifest["versions"])
    assert shlex.split(manifest["command"])  # pasteable: shlex.join quoting
    assert "README.md" in manifest["files"] and "axolotl.yaml" in manifest["files"]


CONFIGS = ("records", "alpaca", "messages", "prompt-completion")
LOAD_EVERY_CONFIG = """
import json, sys
import datasets
datasets.disable_progress_bars()
print(json.dumps({c: list(datasets.load_dataset(sys.argv[1], c, split="train")["task_id"]) for c in sys.argv[2:]}))
"""


def _two_mixtures():
    pool = toy_pool()
    first = build_records(TaskCollection([pool.get("bigbench:parity")]), MixtureConfig(max_per_task=5, seed=0))
    second = build_records(
        TaskCollection([pool.get("bbh:colors"), pool.get("niv2:task001_label")]), MixtureConfig(max_per_task=4, seed=1)
    )
    return first, second


def _task_ids(mix) -> list[str]:
    return [r["task_id"] for r in mix.records]


def test_two_exports_named_alike_load_as_what_they_hold_in_one_process(tmp_path):
    """An export folder called ``mix`` loads as its own rows, whatever ``mix`` was loaded before."""
    first, second = _two_mixtures()
    assert _task_ids(first) != _task_ids(second)
    plan = [(tmp_path / "A" / "mix", first), (tmp_path / "B" / "mix", second), (tmp_path / "A" / "mix", second)]
    for out, mix in plan:
        save_mixture(mix, out, formats=["alpaca", "messages", "prompt-completion"])
        for config in CONFIGS:
            loaded = datasets.load_dataset(str(out), config, split="train")
            assert list(loaded["task_id"]) == _task_ids(mix), (out, config)


def test_two_exports_named_alike_load_as_what_they_hold_in_two_processes(tmp_path):
    first, second = _two_mixtures()
    for out, mix in [
        (tmp_path / "A" / "mix", first),
        (tmp_path / "B" / "mix", second),
        (tmp_path / "A" / "mix", second),
    ]:
        save_mixture(mix, out, formats=["alpaca", "messages", "prompt-completion"])
        proc = subprocess.run(
            [sys.executable, "-c", LOAD_EVERY_CONFIG, str(out), *CONFIGS], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == {c: _task_ids(mix) for c in CONFIGS}
