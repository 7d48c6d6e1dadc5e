"""Models for tuning and scoring: load (registry, tiny, local or hub), save, prompts, generation, NLL.

Every path that trains, evaluates or scores goes through this module, so prompts, special
tokens and truncation are the same everywhere:

- decoder-only (SmolLM2, GPT-2 style): chat-template prompt + completion + eos, loss on the
  completion only (prompt labels -100);
- encoder-decoder (T5): source = prompt + ``</s>``, target = completion + ``</s>``.

Truncation and padding are the tokenizer's (``truncation_side`` / ``padding_side``), batches are
padded by transformers' ``DataCollatorForSeq2Seq``. ``smollm2-135m`` (the default) comes from
the model registry; ``tiny-t5`` / ``tiny-gpt2`` are small models built from a config with a
byte-level BPE tokenizer trained on given texts, deterministic and fast, for tests. The hub is
used only when ``HF_HUB_OFFLINE=0`` is set explicitly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instr_select.atomic import atomic_directory
from instr_select.errors import ConfigError, DataError
from instr_select.offline import ensure_offline, hub_allowed
from instr_select.tuning.precision import autocast, check_precision

if TYPE_CHECKING:
    import numpy as np

TINY_MODELS = ("tiny-t5", "tiny-gpt2")
DEFAULT_TUNING_MODEL = "smollm2-135m"  # SmolLM2-135M-Instruct from the model registry (pip package, no download)
MODEL_INFO_FILE = "instr_select_model.json"
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
DEFAULT_MAX_SOURCE_LENGTH = 512
DEFAULT_MAX_TARGET_LENGTH = 128


@dataclass
class TinySpec:
    """Sizes of the tiny models (kept small so CPU training takes seconds)."""

    vocab_size: int = 2048
    d_model: int = 128
    d_ff: int = 256
    num_layers: int = 2
    num_heads: int = 4
    max_positions: int = 1024


@dataclass
class ModelBundle:
    """A model with its tokenizer and what it is (recorded in every artifact that uses it).

    ``precision`` (``auto``, ``bf16`` or ``fp32``) is how this process runs the model for training and
    scoring (see :mod:`instr_select.tuning.precision`); it is not saved with the model.
    """

    model: Any
    tokenizer: Any
    is_encoder_decoder: bool
    name: str
    info: dict[str, Any] = field(default_factory=dict)
    precision: str = "auto"

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def max_source_length(self) -> int:
        return int(self.info.get("max_source_length", DEFAULT_MAX_SOURCE_LENGTH))

    @property
    def max_target_length(self) -> int:
        return int(self.info.get("max_target_length", DEFAULT_MAX_TARGET_LENGTH))


def format_prompt(instruction: str, input: str) -> str:
    """The one prompt format used for training, evaluation and scoring."""
    instruction, input = instruction.strip(), input.strip()
    if input:
        return f"{instruction}\n\nInput: {input}\nOutput:"
    return f"{instruction}\n\nOutput:"


def _train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """Byte-level BPE trained on ``texts``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def build_tiny(name: str, texts: Sequence[str], seed: int = 0, spec: TinySpec | None = None) -> ModelBundle:
    """A small T5 or GPT-2 built from a config, with a tokenizer trained on ``texts``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, T5Config, T5ForConditionalGeneration

    spec = spec or TinySpec()
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise ConfigError(f"model {name!r} trains its tokenizer on the mixture's texts, but none were given")
    tokenizer = _train_tokenizer(texts, spec.vocab_size)
    pad_id, eos_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    torch.manual_seed(seed)
    if name == "tiny-t5":
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=spec.d_model,
            d_kv=spec.d_model // spec.num_heads,
            d_ff=spec.d_ff,
            num_layers=spec.num_layers,
            num_decoder_layers=spec.num_layers,
            num_heads=spec.num_heads,
            feed_forward_proj="gated-gelu",
            tie_word_embeddings=True,
            dropout_rate=0.0,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
            decoder_start_token_id=pad_id,
        )
        model = T5ForConditionalGeneration(config)
    else:
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=spec.d_model,
            n_layer=spec.num_layers,
            n_head=spec.num_heads,
            n_inner=spec.d_ff,
            n_positions=spec.max_positions,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        )
        model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = pad_id
    model.generation_config.eos_token_id = eos_id
    info = {
        "kind": "tiny",
        "base": name,
        "seed": seed,
        "spec": spec.__dict__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer_texts": len(texts),
        "max_source_length": min(DEFAULT_MAX_SOURCE_LENGTH, spec.max_positions // 2),
        "max_target_length": DEFAULT_MAX_TARGET_LENGTH,
    }
    return ModelBundle(model, tokenizer, name == "tiny-t5", name, info)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _from_pretrained(source: str, local_only: bool) -> tuple[Any, Any, bool]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    quantization = getattr(config, "quantization_config", None)
    if quantization is not None and str(_get(quantization, "quant_method")).lower().endswith("gguf"):
        del config.quantization_config  # a GGUF dequantised to fp32 and saved: plain weights, trainable
    is_enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    auto = AutoModelForSeq2SeqLM if is_enc_dec else AutoModelForCausalLM
    model = auto.from_pretrained(source, config=config, local_files_only=local_only)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer, is_enc_dec


def _registry_causal_lm(name: str) -> bool:
    from instr_select.models.registry import find_spec

    spec = find_spec(name) if not Path(name).expanduser().exists() else None
    return spec is not None and spec.kind == "causal-lm"


def load_model(
    name_or_path: str | Path, texts: Sequence[str] | None = None, seed: int = 0, precision: str = "auto"
) -> ModelBundle:
    """``smollm2-135m`` (the default), ``tiny-t5``/``tiny-gpt2`` (needs ``texts``), a saved model directory,
    or a hub name; ``precision`` is the bundle's for scoring (and the default of training)."""
    ensure_offline()
    check_precision(precision)
    import torch

    name = str(name_or_path)
    if name in TINY_MODELS:
        bundle = build_tiny(name, texts or [], seed=seed)
    elif _registry_causal_lm(name):
        from instr_select.models import resolve_model

        path = resolve_model(name, kind="causal-lm")
        model, tokenizer, is_enc_dec = _from_pretrained(path, local_only=True)
        info = {
            "kind": "pretrained",
            "base": name,
            "path": path,
            "parameters": sum(p.numel() for p in model.parameters()),
            "max_source_length": DEFAULT_MAX_SOURCE_LENGTH,
            "max_target_length": DEFAULT_MAX_TARGET_LENGTH,
        }
        bundle = ModelBundle(model, tokenizer, is_enc_dec, name, info)
    else:
        path = Path(name).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise DataError(path, "is not a saved model (no config.json)", "pass a directory written by tune")
            try:
                model, tokenizer, is_enc_dec = _from_pretrained(str(path), local_only=True)
            except (OSError, ValueError, KeyError) as exc:
                raise DataError(
                    path, f"cannot be loaded as a model ({exc})", "pass a directory written by tune"
                ) from None
            info_file = path / MODEL_INFO_FILE
            info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {"kind": "local"}
            bundle = ModelBundle(model, tokenizer, is_enc_dec, info.get("base", path.name), info)
        elif name.startswith((".", "/", "~")) or path.is_absolute():
            raise DataError(path, "does not exist", "pass a model directory written by tune, or tiny-t5 / tiny-gpt2")
        else:
            bundle = _load_hub(name)
    if bundle.info.get("kind") != "tiny":
        bundle.info.setdefault("chat_template", bool(getattr(bundle.tokenizer, "chat_template", None)))
    if torch.cuda.is_available():
        bundle.model.to("cuda")
    bundle.model.eval()
    bundle.precision = precision
    return bundle


def _load_hub(name: str) -> ModelBundle:
    try:
        model, tokenizer, is_enc_dec = _from_pretrained(name, local_only=True)
    except Exception:
        if not hub_allowed():
            raise ConfigError(
                f"model {name!r} is not a local directory or cached, and the Hugging Face hub is unreachable offline "
                f"(pass a local path saved with save_pretrained, use tiny-t5 / tiny-gpt2, "
                f"or set HF_HUB_OFFLINE=0 where the hub can be reached)"
            ) from None
        try:
            model, tokenizer, is_enc_dec = _from_pretrained(name, local_only=False)
        except Exception as exc:
            raise ConfigError(
                f"model {name!r} could not be loaded from the hub ({type(exc).__name__}); pass a local model path"
            ) from None
    info = {
        "kind": "hub",
        "base": name,
        "max_source_length": DEFAULT_MAX_SOURCE_LENGTH,
        "max_target_length": DEFAULT_MAX_TARGET_LENGTH,
    }
    return ModelBundle(model, tokenizer, is_enc_dec, name, info)


def save_model(bundle: ModelBundle, out: str | Path, extra_files: dict[str, dict[str, Any]] | None = None) -> Path:
    """Save model, tokenizer and ``instr_select_model.json`` atomically; ``load_model(out)`` reads it."""
    out = Path(out)
    with atomic_directory(out) as tmp:
        bundle.model.save_pretrained(tmp)
        bundle.tokenizer.save_pretrained(tmp)
        info = {
            **bundle.info,
            "base": bundle.info.get("base", bundle.name),
            "is_encoder_decoder": bundle.is_encoder_decoder,
        }
        (tmp / MODEL_INFO_FILE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
        for file_name, data in (extra_files or {}).items():
            (tmp / file_name).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return out


@contextmanager
def cpu_threads(bundle: ModelBundle) -> Iterator[None]:
    """Tiny models on CPU run single-threaded (their ops are too small to split; threads only contend).

    ``INSTR_SELECT_THREADS`` overrides the count for every model; other models keep torch's setting.
    """
    import torch

    wanted = os.environ.get("INSTR_SELECT_THREADS")
    if wanted is None and bundle.info.get("kind") == "tiny" and bundle.device.type == "cpu":
        wanted = "1"
    if not wanted:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(wanted)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- tokenization shared by training and scoring ----


def chat_prompts(bundle: ModelBundle, prompts: Sequence[str]) -> list[str]:
    """Prompts as one user turn of the model's chat template (then the assistant's start), where it has one."""
    if not bundle.info.get("chat_template"):
        return list(prompts)
    tok = bundle.tokenizer
    return [
        tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]


def _tokenize(bundle: ModelBundle, texts: Sequence[str], max_length: int, side: str) -> list[list[int]]:
    tok = bundle.tokenizer
    tok.truncation_side = side
    return [
        list(s) for s in tok(list(texts), add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    ]


def encode_prompts(bundle: ModelBundle, prompts: Sequence[str]) -> list[list[int]]:
    """Chat-formatted prompts, cut on the left when too long (the input and the answer's start stay);
    T5 sources end with eos."""
    eos, limit = bundle.tokenizer.eos_token_id, bundle.max_source_length
    if bundle.is_encoder_decoder:
        ids = [s + [eos] for s in _tokenize(bundle, chat_prompts(bundle, prompts), max(limit - 1, 1), "left")]
    else:
        ids = _tokenize(bundle, chat_prompts(bundle, prompts), limit, "left")
    return [s or [eos] for s in ids]


def target_text(bundle: ModelBundle, target: str) -> str:
    """One spelling of an answer wherever it is trained or scored: a plain decoder-only prompt ends with
    ``Output:`` and the answer follows after one space; a chat turn or a T5 target starts bare."""
    bare = target.lstrip()
    plain_causal = not bundle.is_encoder_decoder and not bundle.info.get("chat_template")
    return " " + bare if plain_causal else bare


def encode_targets(bundle: ModelBundle, targets: Sequence[str]) -> list[list[int]]:
    """Targets end with eos (the chat template's end of turn) and are cut at ``max_target_length``."""
    eos, limit = bundle.tokenizer.eos_token_id, bundle.max_target_length
    texts = [target_text(bundle, t) for t in targets]
    return [s + [eos] for s in _tokenize(bundle, texts, max(limit - 1, 1), "right")]


def features(bundle: ModelBundle, prompts: Sequence[str], targets: Sequence[str]) -> list[dict[str, list[int]]]:
    """Model inputs with labels: T5 source/target; decoder-only prompt + target, the prompt masked (-100)."""
    src, tgt = encode_prompts(bundle, prompts), encode_targets(bundle, targets)
    if bundle.is_encoder_decoder:
        return [{"input_ids": s, "attention_mask": [1] * len(s), "labels": t} for s, t in zip(src, tgt, strict=True)]
    return [
        {"input_ids": s + t, "attention_mask": [1] * (len(s) + len(t)), "labels": [-100] * len(s) + t}
        for s, t in zip(src, tgt, strict=True)
    ]


def collator(bundle: ModelBundle) -> Any:
    """Right padding: input ids with pad, labels with -100 (transformers' ``DataCollatorForSeq2Seq``)."""
    from transformers import DataCollatorForSeq2Seq

    bundle.tokenizer.padding_side = "right"
    return DataCollatorForSeq2Seq(bundle.tokenizer, label_pad_token_id=-100, return_tensors="pt")


def generate(bundle: ModelBundle, prompts: Sequence[str], max_new_tokens: int = 32, batch_size: int = 16) -> list[str]:
    """Greedy decoding, batched, under the bundle's precision; returns the generated continuation only, stripped."""
    bundle.model.eval()
    outputs: list[str] = []
    with cpu_threads(bundle), autocast(bundle):
        for start in range(0, len(prompts), batch_size):
            outputs.extend(_generate_batch(bundle, prompts[start : start + batch_size], max_new_tokens))
    return outputs


def _generate_batch(bundle: ModelBundle, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    import torch

    tok, pad = bundle.tokenizer, bundle.tokenizer.pad_token_id
    # decoder-only models continue the prompt: pad on the left so every prompt ends at the same column
    left = not bundle.is_encoder_decoder
    batch = tok.pad(
        {"input_ids": encode_prompts(bundle, prompts)}, padding_side="left" if left else "right", return_tensors="pt"
    ).to(bundle.device)
    with torch.no_grad():
        out = bundle.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=pad,
            eos_token_id=tok.eos_token_id,
        )
    if left:
        out = out[:, batch["input_ids"].shape[1] :]
    return [text.strip() for text in tok.batch_decode(out, skip_special_tokens=True)]


def target_nll(bundle: ModelBundle, prompts: Sequence[str], targets: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """Mean token cross-entropy of each target (with its eos) given its prompt, the model run under the
    bundle's precision and the cross-entropy computed in fp32."""
    import numpy as np

    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    bundle.model.eval()
    result = np.zeros(len(prompts), dtype=np.float64)
    with cpu_threads(bundle):
        for start in range(0, len(prompts), batch_size):
            chunk = _nll_batch(bundle, prompts[start : start + batch_size], targets[start : start + batch_size])
            result[start : start + len(chunk)] = chunk
    return result


def _nll_batch(bundle: ModelBundle, prompts: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    batch = collator(bundle)(features(bundle, prompts, targets)).to(bundle.device)  # padded to the longest
    with torch.no_grad():
        with autocast(bundle):
            if bundle.is_encoder_decoder:
                labels = batch["labels"]
                logits = bundle.model(**batch).logits
            else:
                labels = batch.pop("labels")[:, 1:]
                logits = bundle.model(**batch).logits[:, :-1]
        losses = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
        counts = (labels != -100).sum(dim=1).clamp(min=1)
        return (losses.sum(dim=1) / counts).cpu().numpy()


def _cache_argument(model: Any) -> str:
    """The KV-cache argument of ``model.forward``: ``cache`` (transformers >= 5.25) or ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def options_nll(bundle: ModelBundle, prompt: str, options: Sequence[str]) -> np.ndarray:
    """Mean token NLL of each option given one prompt, as ``target_nll`` computes it; a decoder-only
    model reads the prompt once and scores every option from its key/value cache."""
    import numpy as np

    if bundle.is_encoder_decoder or len(options) < 2:
        return target_nll(bundle, [prompt] * len(options), list(options), batch_size=max(len(options), 1))
    import torch
    import torch.nn.functional as F

    bundle.model.eval()
    prompt_ids = encode_prompts(bundle, [prompt])[0]
    targets = encode_targets(bundle, options)
    device, pad = bundle.device, bundle.tokenizer.pad_token_id
    width = max(len(t) for t in targets)
    ids = torch.tensor([t + [pad] * (width - len(t)) for t in targets], device=device)
    labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets], device=device)
    mask = torch.tensor([[1] * (len(prompt_ids) + len(t)) + [0] * (width - len(t)) for t in targets], device=device)
    with torch.no_grad(), cpu_threads(bundle):
        with autocast(bundle):
            first = bundle.model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)
            name = _cache_argument(bundle.model)
            cache = getattr(first, name)
            cache.batch_repeat_interleave(len(targets))
            rest = bundle.model(input_ids=ids, attention_mask=mask, use_cache=False, **{name: cache}).logits
        logits = torch.cat([first.logits[:, -1:].expand(len(targets), -1, -1), rest[:, :-1]], dim=1)
        losses = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
        counts = (labels != -100).sum(dim=1).clamp(min=1)
        return np.asarray((losses.sum(dim=1) / counts).cpu().numpy(), dtype=np.float64)
