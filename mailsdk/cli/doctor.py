"""``mailsdk doctor``: a domain's MX, SPF, DKIM and DMARC records, each finding with its fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mailsdk.cli._options import json_flag, timeout_option
from mailsdk.cli._shared import EXIT_FAILED, fail, load_settings
from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.dkim import ascii_domain

_MARK = {"ok": "ok   ", "warn": "warn ", "error": "ERROR"}


@click.command("doctor")
@click.argument("domain")
@click.option("--selector", help="DKIM selector to check (default: MAILSDK_DKIM_SELECTOR).")
@click.option(
    "--dkim-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key whose public half must be published (default: the configured key).",
)
@click.option(
    "--relay",
    "relays",
    multiple=True,
    metavar="URL|NAME",
    help="Relay to check against SPF; repeat for more. Default: MAILSDK_URL's relays.",
)
@click.option(
    "--nameserver",
    metavar="HOST:PORT",
    help="Ask this DNS server (an IP address) instead of the system's resolvers.",
)
@timeout_option(5.0, "Seconds per DNS look-up.")
@json_flag("Print the report as one JSON object on standard output.")
@click.pass_context
def command(
    ctx: click.Context,
    domain: str,
    selector: str | None,
    dkim_key: Path | None,
    relays: tuple[str, ...],
    nameserver: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Check DOMAIN's mail records as receivers read them: MX; SPF (one record, at most 10
    DNS look-ups through its includes, and whether each relay is covered); the DKIM key at
    SELECTOR._domainkey (present, valid, and the public half of your signing key); DMARC
    (present, policy, alignment with DOMAIN as the From domain). Prints each finding with
    its fix. Exits 0 with no errors (warnings allowed), 3 with any, 1 for bad input.
    """
    from mailsdk.doctor import diagnose

    settings = load_settings(ctx, **({"url": list(relays)} if relays else {}))
    try:
        urls: list[TransportURL] = settings.parsed_urls() if settings.url else []
        signer = settings.dkim_signer()
    except ConfigurationError as exc:
        fail(str(exc))
    if signer is not None and not _related(signer.domain, domain):
        signer = None  # configured for another domain: says nothing about this one
    if dkim_key is not None and not (selector or signer):
        fail("--dkim-key needs --selector (or a configured MAILSDK_DKIM_SELECTOR)")
    try:
        report = diagnose(
            domain,
            selector=selector,
            dkim_key=dkim_key,
            signer=signer,
            relays=urls,
            nameserver=nameserver,
            timeout=timeout,
        )
    except ConfigurationError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.domain)
        for finding in report.findings:
            click.echo(f"  {_MARK[finding.level]} {finding.check:<16} {finding.message}")
            if finding.fix and finding.level != "ok":
                click.echo(f"  {'':5} {'':<16} fix: {finding.fix}")
        errors = sum(f.level == "error" for f in report.findings)
        warnings = sum(f.level == "warn" for f in report.findings)
        click.echo(f"{errors} error(s), {warnings} warning(s)")
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _related(one: str, other: str) -> bool:
    """True when one domain is the other or under it (compared in A-labels, the form the
    signer holds its domain in)."""
    one, other = (ascii_domain(name) or name.lower().rstrip(".") for name in (one, other))
    return one == other or one.endswith("." + other) or other.endswith("." + one)
