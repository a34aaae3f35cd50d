"""``mailsdk credentials``: keep relay secrets in the system keyring, not in URLs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mailsdk.cli._shared import Group, fail, load_settings
from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.preflight import check_url

if TYPE_CHECKING:
    from mailsdk.credentials import KeyringEntry


@click.group("credentials", cls=Group)
def command() -> None:
    """Keep relay secrets in the system keyring instead of in URLs.

    \b
    mailsdk credentials set smtp://reports@mail.example.com:587
    MAILSDK_URL=smtp://reports@mail.example.com:587 mailsdk send ...

    The secret is stored under service "mailsdk:<scheme>://<host>:<port>" and the URL's
    user name ("api-key" for provider URLs such as sendgrid://default). Without a usable
    keyring backend, set MAILSDK_PASSWORD_<SCHEME>_<HOST>_<PORT> instead.
    """


def _entry_orfail(url: str) -> tuple[TransportURL, KeyringEntry]:
    from mailsdk.credentials import keyring_entry

    try:
        parsed = check_url(url)  # scheme, options, extra: before keyring is asked
        return parsed, keyring_entry(parsed)
    except ConfigurationError as exc:
        fail(str(exc))


@command.command("set")
@click.argument("url")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the secret from standard input.")
def credentials_set(url: str, from_stdin: bool) -> None:
    """Store the secret for URL (prompted for without echo, or read with --stdin)."""
    from mailsdk.credentials import store_secret

    parsed, entry = _entry_orfail(url)
    if parsed.password is not None:
        fail(f"{parsed.display()}: give the URL without its secret; it is asked for")
    if from_stdin:
        secret = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        secret = click.prompt(
            f"Secret for {parsed.display()}", hide_input=True, confirmation_prompt=True
        )
    try:
        store_secret(parsed, secret)
    except ConfigurationError as exc:
        fail(str(exc))
    click.echo(f"stored the secret for {parsed.display()} in keyring ({entry.describe()})")


@command.command("delete")
@click.argument("url")
def credentials_delete(url: str) -> None:
    """Remove the secret for URL from keyring (exit 1 when there was none)."""
    from mailsdk.credentials import delete_secret

    parsed, entry = _entry_orfail(url)
    try:
        deleted = delete_secret(parsed)
    except ConfigurationError as exc:
        fail(str(exc))
    if not deleted:
        fail(f"keyring holds no secret for {parsed.display()} (service {entry.service!r})")
    click.echo(f"deleted the secret for {parsed.display()} from keyring")


@command.command("check")
@click.argument("url")
@click.pass_context
def credentials_check(ctx: click.Context, url: str) -> None:
    """Say where the secret for URL would come from (never the secret); exit 1 if none."""
    from mailsdk.config import needs_secret
    from mailsdk.credentials import ENV_PASSWORD, env_var_name

    try:
        parsed = check_url(url)  # scheme, options, extra: before keyring is asked
    except ConfigurationError as exc:
        fail(str(exc))
    if parsed.password is not None:
        click.echo(f"{parsed.display()}: the URL carries its secret")
        return
    if not needs_secret(parsed):
        click.echo(f"{parsed.display()}: needs no secret")
        return
    _, entry = _entry_orfail(url)
    try:
        # The order `send --url URL` uses, MAILSDK_PASSWORD included (URL is the one relay).
        _, source = load_settings(ctx).find_secrets([parsed], missing_ok=True)[0]
    except ConfigurationError as exc:
        fail(str(exc))
    if source is None:
        fail(
            f"no secret for {parsed.display()}: keyring has none under {entry.describe()}, "
            f"and neither {env_var_name(parsed)} nor {ENV_PASSWORD} is set. Store one with: "
            f"mailsdk credentials set '{parsed.display()}'"
        )
    where = "environment variable" if source.kind == "environment" else source.kind
    click.echo(f"{parsed.display()}: secret found in {where} {source.detail}")
