"""Entry point: a click group whose subcommands are imported only when run.

``instr-select --help`` imports no heavy library; each subcommand imports what it needs.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from instr_select.errors import InstrSelectError
from instr_select.offline import ensure_offline

# command name -> (module, attribute, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "sources": ("instr_select.cli.data_commands", "sources", "List the meta-dataset loaders."),
    "inspect": ("instr_select.cli.data_commands", "inspect", "Count the tasks, instructions and examples of a source."),
    "train-encoder": (
        "instr_select.cli.encoder_commands",
        "train_encoder",
        "Align an instruction encoder to a meta-dataset's templates.",
    ),
    "build-index": (
        "instr_select.cli.index_commands",
        "build_index",
        "Embed every instruction of meta-datasets into an index.",
    ),
    "build-default": (
        "instr_select.cli.default_command",
        "build_default",
        "Build the default index (per-user cache) from the packaged recipe.",
    ),
    "query": ("instr_select.cli.query_command", "query", "Rank the tasks most related to an instruction."),
    "eval-retrieval": (
        "instr_select.cli.eval_commands",
        "eval_retrieval",
        "Leave-out retrieval evaluation (BM25, encoders, hybrid).",
    ),
    "export": ("instr_select.cli.export_command", "export", "Turn selected tasks into a training mixture."),
    "tune": ("instr_select.cli.tune_commands", "tune", "Instruction-tune a model on a mixture."),
    "evaluate": ("instr_select.cli.tune_commands", "evaluate", "Score a tuned model on a target task."),
    "select": (
        "instr_select.cli.select_commands",
        "select",
        "Select tasks by prompt uncertainty, perplexity or at random.",
    ),
    "taskmap": (
        "instr_select.cli.select_commands",
        "taskmap",
        "Plot prompt uncertainty against prediction probability.",
    ),
    "active": ("instr_select.cli.select_commands", "active", "Active instruction tuning loop with a learning curve."),
    "compare": ("instr_select.cli.compare_command", "compare", "Compare selectors on target tasks at the same budget."),
    "transfer": (
        "instr_select.cli.transfer_commands",
        "transfer",
        "Measure which source tasks help which targets (a transfer matrix).",
    ),
    "score-selectors": (
        "instr_select.cli.transfer_score_command",
        "score",
        "Score every selector's ranking of the sources against a transfer matrix.",
    ),
    "split-targets": (
        "instr_select.cli.transfer_score_command",
        "split_targets",
        "Split a transfer matrix's targets into dev and test, whole kinds at a time.",
    ),
    "models": ("instr_select.cli.models_command", "models", "List the pretrained models: installed, ready, verified."),
}


def add_command(name: str, module: str, attribute: str, help_text: str) -> None:
    """Register a lazily imported subcommand."""
    COMMANDS[name] = (module, attribute, help_text)


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        from instr_select.cli.options import install_checks

        return install_checks(getattr(importlib.import_module(module), attribute), cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or stage lines on stderr.")
@click.version_option(package_name="instr-select")
def cli(verbose: bool, quiet: bool) -> None:
    """Pick the tasks worth instruction-tuning on, from instructions alone."""
    from instr_select.progress import library_bars, set_quiet

    set_quiet(quiet)
    library_bars()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def _say(message: str) -> None:
    """One line on stderr, whatever characters it holds (lone surrogates are escaped)."""
    line = " ".join(message.split("\n")).strip()
    click.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=True)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; user errors print one line and exit 2, with no traceback."""
    ensure_offline()  # the API's entry points call it too; here it covers every command at once
    try:
        return cli.main(args=argv, prog_name="instr-select", standalone_mode=False)
    except InstrSelectError as exc:
        _say(f"error: {exc}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _say("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        _say(f"error: {exc.format_message()}{hint}")
        sys.exit(2 if exc.exit_code == 1 else exc.exit_code)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except RecursionError:
        _say("error: the input is nested too deeply to read (flatten it)")
        sys.exit(2)
    except OSError as exc:  # the file system refused: permissions, read-only folder, full disk, long name
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"error: {where}{exc.strerror or exc} (check the path and its permissions)")
        sys.exit(2)
