"""``instr-select models``: the registry's models, whether they are installed, ready and verified."""

from __future__ import annotations

import json

import click

from instr_select.models import get_spec, list_models, model_status, resolve_model


@click.command()
@click.argument("names", nargs=-1)
@click.option("--prepare", is_flag=True, help="Materialise NAMES (default: every installed model) into the cache.")
@click.option("--verify", is_flag=True, help="Re-hash every cached file against its recorded sha256.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(names: tuple[str, ...], prepare: bool, verify: bool, as_json: bool) -> None:
    """List the known models: kind, size, license, installed, ready (in the cache), verified.

    Names are accepted wherever a model is: `--base-model`, `--encoder`, `--model`.
    The cache is $INSTR_SELECT_CACHE (default ~/.cache/instr-select).
    """
    specs = [get_spec(n) for n in names] if names else list_models()
    if prepare:
        for spec in specs:
            if names or model_status(spec).installed:
                click.echo(f"{spec.name}: {resolve_model(spec.name, verify=verify)}", err=True)
    rows = [model_status(spec, verify=verify) for spec in specs]
    if as_json:
        out = [
            {
                "name": s.spec.name,
                "kind": s.spec.kind,
                "description": s.spec.description,
                "size_mb": s.spec.size_mb,
                "license": s.spec.license,
                "hub_id": s.spec.hub_id or None,
                "installed": s.installed,
                "ready": s.ready,
                "verified": s.verified,
                "problem": s.problem or None,
                "path": s.path,
                "install": s.install,
            }
            for s in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"{'name':<14} {'kind':<20} {'size':>7}  {'license':<10} {'installed':<9} {'ready':<5} {'verified':<8} description"
    )
    for s in rows:
        verified = "-" if s.verified is None else ("yes" if s.verified else "NO")
        click.echo(
            f"{s.spec.name:<14} {s.spec.kind:<20} {s.spec.size_mb:>4} MB  {s.spec.license:<10} "
            f"{'yes' if s.installed else 'no':<9} {'yes' if s.ready else 'no':<5} {verified:<8} {s.spec.description}"
        )
    missing = [s for s in rows if not s.installed]
    for s in missing:
        click.echo(f"  {s.spec.name}: not installed ({s.install})")
    for s in rows:
        if s.problem:
            click.echo(f"  {s.spec.name}: {s.problem}")
