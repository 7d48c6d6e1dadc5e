"""Options shared by several subcommands."""

from __future__ import annotations

import math
import os

import click

from instr_select.errors import ConfigError
from instr_select.textview import TEXT_VIEWS

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    envvar="INSTR_SELECT_DATA",
    help="Folder holding the meta-datasets (default: $INSTR_SELECT_DATA; in a source checkout, ../shared/data).",
)
lenient_option = click.option("--lenient", is_flag=True, help="Skip bad tasks and report how many and why.")


def text_view_option(default: str | None, help: str):
    return click.option(
        "--text-view",
        type=click.Choice(list(TEXT_VIEWS)),
        default=default,
        show_default=default is not None,
        help=help,
    )


def precision_option(what: str = "Training and scoring"):
    """``--precision auto|bf16|fp32`` (names from :data:`instr_select.tuning.precision.PRECISIONS`)."""
    from instr_select.tuning.precision import PRECISIONS

    return click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default="auto",
        show_default=True,
        help=f"{what} precision: bf16 autocast (weights stay fp32) or fp32; auto is bf16 on a GPU or CPU "
        "that computes bf16 natively (AVX512-BF16/AMX), else fp32.",
    )


quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress on stderr (also off when stderr is not a terminal)."
)

# ---- checks every command's options pass before any work starts --------------------------------
# Keyed by the option's parameter name, so every subcommand (and any later one) is covered by
# ``install_checks``, which the lazy group calls when it hands a command to click.

SEED_MAX = 2**32 - 1
# the marker file that makes an existing --out a folder this command may replace
OUT_MARKERS: dict[str, tuple[str, ...]] = {
    "build-index": ("manifest.json",),
    "train-encoder": ("training_info.json",),
    "tune": ("instr_select_model.json",),
    "export": ("mixture.json",),
    "eval-retrieval": ("results.json",),
}
PATH_OPTIONS = ("out", "save", "output", "report_path", "scores_out", "cache_dir")
MODEL_OPTIONS = ("encoder", "base_model", "model_name", "model_path", "model")


def _flag(param: click.Parameter) -> str:
    return param.opts[0] if getattr(param, "opts", None) else param.name or "option"


def _whole(minimum: int, allow: tuple[int, ...] = ()):
    def check(flag: str, value):
        if value is None or value in allow:
            return value
        if value < minimum:
            extra = f" (or {', '.join(map(str, allow))})" if allow else ""
            raise ConfigError(f"{flag} must be {minimum} or more{extra}, not {value}")
        return value

    return check


def _seed(flag: str, value):
    if value is not None and not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{flag} must be between 0 and {SEED_MAX}, not {value}")
    return value


def _finite(minimum: float | None = None, maximum: float | None = None, open_min: bool = True):
    def check(flag: str, value):
        if value is None:
            return value
        if not math.isfinite(value):
            raise ConfigError(f"{flag} must be a finite number, not {value}")
        if minimum is not None and (value <= minimum if open_min else value < minimum):
            raise ConfigError(f"{flag} must be {'above' if open_min else 'at least'} {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{flag} must be at most {maximum}, not {value}")
        return value

    return check


RULES = {
    "seed": _seed,
    "batch_size": _whole(1),
    "train_batch_size": _whole(1),
    "grad_accum": _whole(1),
    "max_new_tokens": _whole(1),
    "max_steps": _whole(1, allow=(-1,)),
    "max_source_length": _whole(1),
    "max_target_length": _whole(1),
    "max_examples": _whole(1),
    "max_examples_per_task": _whole(1),
    "eval_examples": _whole(1),
    "examples_per_task": _whole(1),
    "max_per_task": _whole(1),
    "positive_examples": _whole(0),
    "labels": _whole(0),
    "n": _whole(1),
    "iterations": _whole(1),
    "per_iteration": _whole(1),
    "held_out": _whole(1),
    "n_instances": _whole(1),
    "perturbations": _whole(1),
    "uncertainty_instances": _whole(1),
    "uncertainty_perturbations": _whole(1),
    "epochs": lambda flag, value: (_whole(1) if isinstance(value, int) else _finite(0.0))(flag, value),
    "learning_rate": _finite(0.0),
    "pu_threshold": _finite(),
    "pp_threshold": _finite(),
    "drop_prob": _finite(0.0, 1.0, open_min=False),
    "dev_fraction": _finite(0.0, 1.0, open_min=False),
    "vocab_size": _whole(16),
    "dim": _whole(1),
    "pairs_per_instruction": _whole(1),
    "pool_size": _whole(0),
    "niv2_max_queries": _whole(1),
}


def check_index_path(flag: str, value):
    """An index path that is a symbolic-link loop or unreachable is refused by name."""
    if value is None:
        return value
    try:
        os.stat(value)
    except FileNotFoundError:
        return value
    except OSError as exc:
        raise ConfigError(f"{flag} {value}: {exc.strerror or exc} (pass an index directory)") from None
    return value


def check_model_path(flag: str, value):
    """A local model folder: no pickled weights (pickle runs code), no truncated safetensors."""
    if not isinstance(value, str) or not value or not os.path.isdir(value):
        return value
    from instr_select.model_files import check_model_files

    check_model_files(value, flag)
    return value


def _out_check(command: str):
    def check(flag: str, value, overwrite: bool = False):
        if value is None:
            return value
        from instr_select.atomic import check_output_path, check_replaceable

        if command in OUT_MARKERS:
            check_replaceable(value, OUT_MARKERS[command], flag, overwrite)
        else:
            check_output_path(value, flag)
        return value

    return check


def _out_callback(check, previous):
    """The --out check; ``--overwrite`` is eager, so its value is known here already."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        if previous is not None:
            value = previous(ctx, param, value)
        return check(_flag(param), value, bool(ctx.params.get("overwrite")))

    return callback


def overwrite_option() -> click.Option:
    return click.Option(
        ["--overwrite"],
        is_flag=True,
        is_eager=True,  # parsed before --out, whose check it relaxes
        help="Replace --out even if it is a folder instr-select did not write (its files are deleted).",
    )


def _chain(rule, previous):
    def callback(ctx: click.Context, param: click.Parameter, value):
        if previous is not None:
            value = previous(ctx, param, value)
        if isinstance(value, tuple) and value and not isinstance(value[0], tuple):
            return tuple(rule(_flag(param), v) for v in value)
        return rule(_flag(param), value)

    return callback


def install_checks(command: click.Command, name: str) -> click.Command:
    """Attach the option checks to ``command`` (once); they run while click parses, before the command."""
    if getattr(command, "_instr_select_checked", False):
        return command
    if name in OUT_MARKERS and not any(param.name == "overwrite" for param in command.params):
        command.params.append(overwrite_option())
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag:
            continue
        rule = RULES.get(param.name or "")
        if param.name == "out":
            param.callback = _out_callback(_out_check(name), param.callback)
            continue
        if param.name in PATH_OPTIONS:
            rule = _out_check("")
        elif param.name == "index":
            rule = check_index_path
        elif param.name in MODEL_OPTIONS:
            rule = check_model_path
        elif param.name == "factory":
            rule = _factory
        if rule is not None:
            param.callback = _chain(rule, param.callback)
    if name in OUT_MARKERS and command.callback is not None:
        command.callback = _locked(command.callback)
    command._instr_select_checked = True  # type: ignore[attr-defined]
    return command


def _locked(callback):
    """Run a command holding the lock of its --out: a second run into it fails before any work.

    With ``--overwrite``, the command may replace its --out whoever wrote it.
    """
    import functools
    from contextlib import nullcontext

    @functools.wraps(callback)
    def run(*args, **kwargs):
        overwrite = kwargs.pop("overwrite", False)
        if kwargs.get("out") is None or os.environ.get("RANK", "0") != "0":
            return callback(*args, **kwargs)  # data-parallel: only the main process writes --out, and locks it
        from instr_select.atomic import overwrite_allowed
        from instr_select.locking import output_lock

        with output_lock(kwargs["out"]), overwrite_allowed(kwargs["out"]) if overwrite else nullcontext():
            return callback(*args, **kwargs)

    return run


def _factory(flag: str, value):
    if value is None:
        return value
    from instr_select.index.faiss_store import check_factory_syntax

    check_factory_syntax(value)
    return value
