"""``mailsdk completion``: the shell completion script, from click itself."""

from __future__ import annotations

import click


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def command(shell: str) -> None:
    """Print the shell completion script for SHELL (click's own completion).

    \b
    bash: eval "$(mailsdk completion bash)"     (in ~/.bashrc)
    zsh:  eval "$(mailsdk completion zsh)"      (in ~/.zshrc)
    fish: mailsdk completion fish > ~/.config/fish/completions/mailsdk.fish
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # the three choices are built into click
    root = click.get_current_context().find_root().command
    click.echo(completion_class(root, {}, "mailsdk", "_MAILSDK_COMPLETE").source())
