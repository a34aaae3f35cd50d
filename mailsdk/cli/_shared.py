"""What every ``mailsdk`` command shares: the group, exit codes, settings and error output."""

from __future__ import annotations

import dataclasses
import json
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
from mailsdk.options import SenderOptions
from mailsdk.result import SendResult
from mailsdk.sender import AsyncSender

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
EXIT_INTERRUPTED = 130
"""Stopped with Ctrl-C (SIGINT), as shells report it: 128 + 2."""

_ARGS_KEY = "mailsdk.args"
JSON_KEY = "mailsdk.json"
"""``ctx.meta`` key set by a command's ``--json`` flag: every outcome is then printed as JSON."""

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
    """The ``mailsdk`` group: usage errors exit 1 (here 2 means "permanently refused"),
    Ctrl-C exits 130, and a missing extra or an unexpected MailError is one line, not a
    traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a usage error exits 1."""
        # Remembered so that a usage error found before --json is parsed (an unknown
        # option) is still printed as JSON when --json was given.
        ctx.meta.setdefault(_ARGS_KEY, list(args))
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn what escapes it into one line and its exit code."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            if ctx.meta.get(JSON_KEY) or "--json" in ctx.meta.get(_ARGS_KEY, ()):
                ctx.meta[JSON_KEY] = True
                report(exc.format_message(), EXIT_BAD_INPUT, error="UsageError")
            raise
        except KeyboardInterrupt:
            # click would print "Aborted!" and exit 1, which scripts read as "bad input".
            report("interrupted", EXIT_INTERRUPTED, error="Interrupted")
        except ImportError as exc:
            from mailsdk.preflight import missing_extra_hint

            report(missing_extra_hint(exc), EXIT_BAD_INPUT, error="MissingExtra")
        except MailError as exc:
            report(describe(exc), exit_code_for(exc), error=type(exc).__name__)


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


def print_json(data: dict[str, Any]) -> None:
    """*data* as indented JSON on standard output."""
    click.echo(json.dumps(data, indent=2, default=str))


def report(text: str, code: int, *, error: str = "BadInput") -> NoReturn:
    """Print ``error: text`` on standard error (and, under ``--json``, a JSON object on
    standard output) and exit with *code*."""
    click.echo(f"error: {text}", err=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(JSON_KEY):
        print_json({"ok": False, "error": error, "message": text, "exit_code": code})
    sys.exit(code)


def fail(text: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Report bad input (options, files, configuration): nothing was sent."""
    report(text, code, error="BadInput" if code == EXIT_BAD_INPUT else "Failed")


def json_option(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Callback of an eager ``--json`` flag: later errors, usage errors included, print JSON."""
    if value:
        ctx.meta[JSON_KEY] = True
    return value


def load_settings(ctx: click.Context, **values: Any) -> MailSettings:
    """The settings from the group's --config/--env-file, the environment and *values*."""
    from mailsdk.settings import MailSettings

    opts = ctx.find_object(GlobalOptions) or GlobalOptions(None, Path(".env"))
    try:
        return MailSettings.load(config_file=opts.config_file, env_file=opts.env_file, **values)
    except ConfigurationError as exc:
        fail(str(exc))


def build_transports(settings: MailSettings) -> list[Transport]:
    """The configured relays, or exit 1 saying what is wrong with them.

    Everything that needs no secret is checked first (:mod:`mailsdk.preflight`), so a typo
    is reported as such and not after a keyring look-up.
    """
    from mailsdk.preflight import check_url

    try:
        for url in settings.parsed_urls():
            check_url(url)
        return settings.transports()
    except ConfigurationError as exc:
        fail(str(exc))


def url_values(urls: Sequence[str]) -> dict[str, Any]:
    """Settings overrides for the --url options given (none: the configured relays)."""
    return {"url": list(urls)} if urls else {}


def sender_options(settings: MailSettings, route: str | None = None) -> SenderOptions:
    """The SenderOptions of the configured relays (checked first, see
    :func:`build_transports`), or exit 1 saying what is wrong, an unknown *route* included
    (before anything is sent or queued)."""
    transports = build_transports(settings)
    try:
        routes = settings.route_transports()
        if route is not None and route not in routes:
            # Before anything is opened (the suppression list): nothing to close.
            known = ", ".join(routes) or "none configured"
            fail(
                f"unknown route {route!r} (routes: {known}); routes come from [routes] in "
                "mailsdk.toml or MAILSDK_ROUTE_<NAME>"
            )
        return SenderOptions.from_settings(settings, relays=transports, routes=routes or None)
    except ConfigurationError as exc:
        fail(str(exc))


ROUTE_HELP = "Send through this route ([routes] in mailsdk.toml, MAILSDK_ROUTE_<NAME>)."


def route_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--route``: route names are lower-cased, as the settings lower-case them."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("a route name must not be empty")
    return value.strip().lower()


def build_sender(settings: MailSettings, route: str | None = None) -> AsyncSender:
    """An AsyncSender from the configured :class:`~mailsdk.SenderOptions` (exit 1 if it
    lacks *route*).

    Commands drive it with ``asyncio.run``, which cancels the send and closes its
    connections inside the loop when Ctrl-C arrives.
    """
    return AsyncSender.from_options(sender_options(settings, route))


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
    data["refused"] = {
        addr: {
            "code": s.code,
            "text": s.text,
            "enhanced_code": s.enhanced_code,
            "permanent": s.permanent,
        }
        for addr, s in result.refused.items()
    }
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
