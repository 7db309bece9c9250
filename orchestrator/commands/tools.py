"""The commands for editors and shells: `orch schema` and `orch completion`."""

from __future__ import annotations

from collections.abc import Sequence

import click

from orchestrator.commands.group import cli, expand_targets, project_of, target_argument

SHELLS = ("bash", "zsh", "fish")


@cli.command("schema")
def schema_cmd() -> None:
    """Print the build plan's JSON Schema, for editors: with the YAML language server, a first
    line `# yaml-language-server: $schema=buildplan.schema.json` in buildplan.yaml completes
    and checks the plan as you type (write the file with `orch schema > buildplan.schema.json`)."""
    from orchestrator import jsontext
    from orchestrator.plan.schema import editor_schema

    click.echo(jsontext.dumps(editor_schema()))


@cli.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options and the plan's target
    names. bash: `eval "$(orch completion bash)"` in ~/.bashrc; zsh: the same in ~/.zshrc;
    fish: `orch completion fish > ~/.config/fish/completions/orch.fish`."""
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    if complete is None:  # click knows every shell of SHELLS
        raise click.UsageError(f"no completion for {shell}")
    click.echo(complete(cli, {}, "orch", "_ORCH_COMPLETE").source())


@cli.command("init")
@click.pass_context
def init_cmd(ctx: click.Context) -> None:
    """Write a commented buildplan.yaml for the Dockerfiles under this directory: the targets
    others build on as stages, the rest as services, each `test` stage as a test, and the
    schema line for editors. It never replaces a file."""
    from pathlib import Path

    from orchestrator.errors import UsageError
    from orchestrator.files import write_new
    from orchestrator.lint.command import lint
    from orchestrator.plan import scaffold
    from orchestrator.plan.load import load_plan_text
    from orchestrator.project import project_of_plan

    root = Path.cwd()
    target = root / "buildplan.yaml"
    if target.exists() or target.is_symlink():
        raise UsageError(
            "buildplan.yaml is there already: orch init never replaces a file",
            hint="edit it, or move it aside and run orch init again",
        )
    ignore = root / ".gitignore"
    patterns = ignore.read_text(errors="replace").splitlines() if ignore.is_file() else []
    paths = scaffold.discover(root, patterns)
    if not paths:
        raise UsageError(
            "no Dockerfile under this directory",
            hint="run orch init where the Dockerfiles are, at the top of the repository",
        )
    found = scaffold.names(paths, root.name)
    project = project_of_plan(load_plan_text(scaffold.draft(found), target))
    graph = project.graph
    stages = [n for n in graph.order if graph.downstream_closure([n]) != {n}]
    tests = {
        f.name: scaffold.test_stages([s.name for s in project.dockerfiles[f.name].stages])
        for f in found
    }
    notes: dict[str, list[str]] = {f.name: scaffold.loose_refs(project, f.name) for f in found}
    for finding in lint(project, [], use_hadolint=False).findings:
        if finding.rule == "OL108":
            notes.setdefault(finding.target, []).append(
                f"orch lint OL108: {finding.message}; {finding.fix}"
            )
    text = scaffold.render(
        found,
        stages=stages,
        tests=tests,
        notes=notes,
        upstream={f.name: list(graph.deps(f.name)) for f in found},
        prefix=root.name,
    )
    load_plan_text(text, target)  # what is written is a plan orch reads
    write_new(target, text)
    wrote = ["buildplan.yaml"]
    schema = root / "buildplan.schema.json"
    if not (schema.exists() or schema.is_symlink()):
        from orchestrator import jsontext
        from orchestrator.plan.schema import editor_schema

        write_new(schema, jsontext.dumps(editor_schema()) + "\n")
        wrote.append("buildplan.schema.json")
    services = len(found) - len(stages)
    click.echo(
        f"wrote {' and '.join(wrote)}: {len(stages)} stage{'s' * (len(stages) != 1)}, "
        f"{services} service{'s' * (services != 1)}"
        + (f", {sum(map(len, notes.values()))} to look at (# notes)" if any(notes.values()) else "")
        + "; next: orch plan",
        err=True,
    )


@cli.command("prune")
@target_argument("targets", many=True)
@click.option(
    "--keep",
    type=click.IntRange(1, 1000),
    default=3,
    show_default=True,
    help="Versions of each target to keep (the newest).",
)
@click.option(
    "--older-than",
    metavar="AGE",
    help="Instead of --keep: remove what was built longer ago, such as 7d, 12h or 2w (the "
    "newest version of each target always stays).",
)
@click.option("--dry-run", is_flag=True, help="List what would go and the space it frees.")
@click.option(
    "--registry-delete",
    is_flag=True,
    help="Delete past-the-bound versions in the registry too (they are listed otherwise).",
)
@click.option("-v", "--verbose", is_flag=True, help="Say what is kept, and why.")
@click.pass_context
def prune_cmd(
    ctx: click.Context,
    targets: tuple[str, ...],
    keep: int,
    older_than: str | None,
    dry_run: bool,
    registry_delete: bool,
    verbose: bool,
) -> None:
    """Remove the versioned images of the plan's targets past the newest --keep N (or
    --older-than AGE), never one a plan tag points at or a container uses, nor anything outside
    the plan's repositories; and run directories, logs and manifests past the same bound, and
    local cache versions that are no longer current. Safe while another orch run goes: a
    target it is building is left as it is."""
    run_prune(ctx, targets, keep, older_than, dry_run, registry_delete, verbose)


def run_prune(
    ctx: click.Context,
    targets: Sequence[str],
    keep: int,
    older_than: str | None,
    dry_run: bool,
    registry_delete: bool,
    verbose: bool = False,
) -> int:
    """`orch prune` (and `orch build --prune` after a run); exit 1 when something could not
    be removed."""
    import sys

    import anyio

    from orchestrator.engine.docker import Engine
    from orchestrator.errors import UsageError
    from orchestrator.prune.decide import duration
    from orchestrator.prune.sweep import prune, report

    bound = None
    if older_than is not None:
        try:
            bound = duration(older_than)
        except ValueError:
            raise UsageError(
                f"--older-than {older_than!r} is not an age",
                hint="write a number and a unit: 90s, 30m, 12h, 7d or 2w",
            ) from None
    project = project_of(ctx)
    names = expand_targets(project, targets)
    engine = Engine()

    async def go() -> object:
        await engine.check_async()
        return await prune(
            project,
            engine,
            names=names,
            keep=keep,
            older_than=bound,
            dry_run=dry_run,
            registry_delete=registry_delete,
        )

    swept = anyio.run(go)
    report(swept, dry_run=dry_run, out=sys.stdout, verbose=verbose)  # type: ignore[arg-type]
    if swept.problems:  # type: ignore[attr-defined]
        ctx.exit(1)
    return 0
