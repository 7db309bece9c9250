"""The commands for editors and shells: `orch schema` and `orch completion`."""

from __future__ import annotations

import click

from orchestrator.commands.group import cli

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
