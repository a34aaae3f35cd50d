"""The ``mailsdk`` command invoked in-process, as the CLI tests run it."""

from __future__ import annotations

from click.testing import CliRunner, Result

from mailsdk.cli import cli


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke the command as a user would; exceptions other than exits fail the test."""
    return CliRunner().invoke(
        cli, list(args), input=input, env=env, prog_name="mailsdk", catch_exceptions=False
    )
