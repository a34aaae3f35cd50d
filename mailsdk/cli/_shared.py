"""What every ``mailsdk`` command shares: the group, exit codes, settings and error output."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mailsdk.config import ConfigurationError
from mailsdk.errors import (
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
)
from mailsdk.result import SendResult
from mailsdk.sender import Sender

if TYPE_CHECKING:
    from mailsdk.settings import MailSettings
    from mailsdk.transports.base import Transport

EXIT_OK = 0
"""Sent: every recipient accepted."""
EXIT_BAD_INPUT = 1
"""Bad options, files, addresses or configuration; nothing was sent."""
EXIT_REFUSED = 2
"""The message, or some of its recipients, were refused for good."""
EXIT_FAILED = 3
"""Every relay failed."""
EXIT_UNKNOWN = 4
"""The connection was lost after the message was handed over: it may have been delivered."""

URL_HELP = (
    "Relay URL or relay name from the TOML file; repeat (or separate with commas) for a "
    "failover list. Default: MAILSDK_URL."
)


def exit_code_for(error: MailError) -> int:
    """The exit code for a send that ended with *error* (see :mod:`mailsdk.cli`)."""
    if isinstance(error, DeliveryUnknown):
        return EXIT_UNKNOWN
    if isinstance(error, (MessageError, ConfigurationError)) and error.relay is None:
        return EXIT_BAD_INPUT
    if isinstance(error, PermanentError):
        return EXIT_REFUSED
    if isinstance(error, DeliveryFailed) and error.errors:
        if any(isinstance(e, DeliveryUnknown) for e in error.errors):
            return EXIT_UNKNOWN  # at-least-once mode went on; the first relay may have it
        if all(isinstance(e, (PermanentError, MessageError)) for e in error.errors):
            return EXIT_REFUSED  # every relay refused this message for good
    return EXIT_FAILED


class Group(click.Group):
    """A click group whose usage errors exit 1: here 2 means "permanently refused"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a usage error exits 1."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command as click does; a usage error exits 1."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise


@dataclasses.dataclass
class GlobalOptions:
    """The group's own options, read by every command."""

    config_file: Path | None
    env_file: Path | None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mailsdk")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML configuration file (default: $MAILSDK_CONFIG, ./mailsdk.toml, "
    "[tool.mailsdk] in ./pyproject.toml).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="dotenv file with MAILSDK_* variables (a missing file is fine).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, env_file: Path | None) -> None:
    """Send email over SMTP or provider HTTP APIs.

    Relays come from --url, else MAILSDK_URL (environment or .env), else the TOML file.
    Secrets stay out of URLs: see `mailsdk credentials --help`. Exit codes: 0 sent,
    1 bad input, 2 permanently refused, 3 every relay failed, 4 delivery unknown.
    """
    ctx.obj = GlobalOptions(config_file=config_file, env_file=env_file)


def fail(text: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: text`` on standard error and exit with *code*."""
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


def load_settings(ctx: click.Context, **values: Any) -> MailSettings:
    """The settings from the group's --config/--env-file, the environment and *values*."""
    from mailsdk.settings import MailSettings

    opts = ctx.find_object(GlobalOptions) or GlobalOptions(None, Path(".env"))
    try:
        return MailSettings.load(config_file=opts.config_file, env_file=opts.env_file, **values)
    except ConfigurationError as exc:
        fail(str(exc))


def build_transports(settings: MailSettings) -> list[Transport]:
    """The configured relays, or exit 1 saying what is wrong with them."""
    try:
        return settings.transports()
    except ConfigurationError as exc:
        fail(str(exc))


def url_values(urls: Sequence[str]) -> dict[str, Any]:
    """Settings overrides for the --url options given (none: the configured relays)."""
    return {"url": list(urls)} if urls else {}


def build_sender(settings: MailSettings) -> Sender:
    """A Sender over the configured relays with the configured retry policy."""
    return Sender(
        build_transports(settings),
        retry=settings.retry_policy(),
        cooldown=settings.cooldown,
        strategy=settings.strategy,
    )


def describe(error: MailError) -> str:
    """The error, and for DeliveryFailed what each relay ended with (the attempts alone
    give codes, not the hints the errors carry)."""
    lines = [str(error)]
    if isinstance(error, DeliveryFailed):
        lines.extend(f"  {type(e).__name__}: {e}" for e in error.errors)
    return "\n".join(lines)


def print_result(result: SendResult) -> None:
    """A SendResult as aligned lines for a person."""
    click.echo(f"  message id : {result.message_id}")
    click.echo(f"  relay      : {result.relay}")
    click.echo(f"  accepted   : {', '.join(result.accepted)}")
    for addr, (code, text) in result.refused.items():
        click.echo(f"  refused    : {addr} ({code} {text})")
    for attempt in result.attempts:
        click.echo(f"  attempt    : {attempt.describe()}")


def result_json(result: SendResult) -> dict[str, Any]:
    """A SendResult as JSON-ready data."""
    data = dataclasses.asdict(result)
    data["ok"] = result.ok
    data["refused"] = {a: {"code": c, "text": t} for a, (c, t) in result.refused.items()}
    return data


def error_json(error: MailError) -> dict[str, Any]:
    """A MailError as JSON-ready data, with the exit code it leads to."""
    return {
        "ok": False,
        "error": type(error).__name__,
        "message": str(error),
        "relay": error.relay,
        "code": error.code,
        "enhanced_code": error.enhanced_code,
        "attempts": [dataclasses.asdict(a) for a in error.attempts],
        "exit_code": exit_code_for(error),
    }
