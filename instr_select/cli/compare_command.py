"""``instr-select compare``: which selector's tasks train the best model at the same budget."""

from __future__ import annotations

import click

from instr_select.cli.options import data_dir_option, precision_option
from instr_select.compare.config import DEFAULT_POOL, SELECTORS, Budget, CompareConfig, read_targets


@click.command()
@click.option("--target-task", "target_tasks", multiple=True, metavar="SOURCE:TASK", help="A target task (repeatable).")
@click.option("--targets", "targets_file", type=click.Path(dir_okay=False), help="File of SOURCE:TASK lines.")
@click.option(
    "--pool",
    multiple=True,
    metavar="SOURCE[@SPLIT]",
    help=f"Pool source, optionally one split of it (default: {' '.join(DEFAULT_POOL)}).",
)
@click.option("-k", "k", type=int, default=5, show_default=True, help="Tasks each selector picks.")
@click.option("--selectors", default=",".join(SELECTORS), show_default=True, help="Comma-separated selectors.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Number of seeds (0, 1, ...).")
@click.option(
    "--model",
    default=CompareConfig.model,
    show_default=True,
    help="Base model: a registry name (smollm2-135m), tiny-t5, tiny-gpt2, a local dir or hub name.",
)
@click.option(
    "--method",
    type=click.Choice(["full", "lora"]),
    default=Budget.method,
    show_default=True,
    help="Full fine-tuning or LoRA adapters.",
)
@precision_option()
@click.option("--examples-per-task", type=int, default=Budget.examples_per_task, show_default=True)
@click.option("--max-steps", type=int, default=Budget.max_steps, show_default=True, help="Training steps per cell.")
@click.option("--batch-size", type=int, default=Budget.batch_size, show_default=True)
@click.option(
    "--learning-rate", type=float, default=None, help="Default: the model's (tiny 1e-3, full 5e-5, LoRA 5e-4)."
)
@click.option(
    "--eval-examples", type=int, default=Budget.eval_examples, show_default=True, help="Target examples scored."
)
@click.option(
    "--max-source-length", type=int, default=Budget.max_source_length, show_default=True, help="Prompt tokens kept."
)
@click.option(
    "--uncertainty-candidates", type=int, default=200, show_default=True, help="Pool tasks scored per seed (0: all)."
)
@click.option("--uncertainty-instances", type=int, default=5, show_default=True, help="n instances per scored task.")
@click.option("--uncertainty-perturbations", type=int, default=5, show_default=True, help="k perturbed instructions.")
@click.option(
    "--base-encoder",
    default=None,
    help="Encoder for 'instruction': a folder or registry name such as minilm (default: built from the pool).",
)
@click.option(
    "--aligned-encoder", type=click.Path(), default=None, help="Encoder for 'aligned' (default: aligned on the pool)."
)
@click.option(
    "--matrix",
    type=click.Path(file_okay=False),
    default=None,
    help="A scored transfer matrix: add its targets where the selectors' top-k disagree most.",
)
@click.option("--matrix-targets", type=int, default=6, show_default=True, help="How many targets --matrix adds.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Run directory (resumable).")
@click.option("--report-only", is_flag=True, help="Only rebuild the report from the cells finished so far in OUT.")
@data_dir_option
def compare(
    target_tasks: tuple[str, ...],
    targets_file: str | None,
    pool: tuple[str, ...],
    k: int,
    selectors: str,
    seeds: int,
    model: str,
    method: str,
    precision: str,
    examples_per_task: int,
    max_steps: int,
    batch_size: int,
    learning_rate: float | None,
    eval_examples: int,
    max_source_length: int,
    uncertainty_candidates: int,
    uncertainty_instances: int,
    uncertainty_perturbations: int,
    base_encoder: str | None,
    aligned_encoder: str | None,
    matrix: str | None,
    matrix_targets: int,
    out: str,
    report_only: bool,
    data_dir: str | None,
) -> None:
    """Train on each selector's tasks at the same budget and score every target.

    Writes report.md, chart.png, results.json and one file per finished cell under OUT;
    re-running the same command continues from the finished cells.
    """
    from instr_select.compare.pipeline import rebuild_report, run_comparison

    if report_only:
        result = rebuild_report(out)
        click.echo(result.markdown)
        click.echo(f"report: {result.report_path}\nchart:  {result.chart_path}\njson:   {result.json_path}")
        return
    targets = list(target_tasks) + (read_targets(targets_file) if targets_file else [])
    if matrix:
        from instr_select.transfer.evaluation import disagreeing_targets

        targets += [t for t in disagreeing_targets(matrix, matrix_targets, k) if t not in targets]
    config = CompareConfig(
        targets=targets,
        pool=list(pool) or list(DEFAULT_POOL),
        k=k,
        selectors=[s.strip() for s in selectors.split(",") if s.strip()],
        seeds=seeds,
        model=model,
        budget=Budget(
            examples_per_task, max_steps, batch_size, learning_rate, eval_examples, max_source_length, method, precision
        ),
        uncertainty_instances=uncertainty_instances,
        uncertainty_perturbations=uncertainty_perturbations,
        uncertainty_candidates=uncertainty_candidates,
        base_encoder=base_encoder,
        aligned_encoder=aligned_encoder,
    )
    result = run_comparison(config, out, data_dir=data_dir)
    click.echo(result.markdown)
    click.echo(f"report: {result.report_path}\nchart:  {result.chart_path}\njson:   {result.json_path}")
