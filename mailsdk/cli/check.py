"""``mailsdk check``: what each configured relay shows, without sending anything."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Mapping
from typing import Any

import click

from mailsdk.cli._options import json_flag, timeout_option
from mailsdk.cli._shared import (
    EXIT_FAILED,
    build_transports,
    fail,
    load_settings,
    url_values,
)
from mailsdk.config import ConfigurationError
from mailsdk.ratelimit import RateLimitedTransport
from mailsdk.transports.http._oauth import OAuthHTTPTransport
from mailsdk.transports.smtp import SMTPTransport
from mailsdk.transports.smtp_probe import SMTPProbeReport, TLSSession


def _extensions(extensions: Mapping[str, str]) -> str:
    text = ", ".join(f"{name.upper()} {value}".strip() for name, value in extensions.items())
    return text or "(none)"


def _tls_lines(tls: TLSSession) -> list[str]:
    lines = [f"TLS        : {tls.version} ({tls.cipher or 'unknown cipher'})"]
    cert = tls.certificate
    if cert is None:
        lines.append("certificate: (not verified, so not shown)")
        return lines
    lines.append(f"certificate: subject {cert.subject}")
    lines.append(f"             issuer {cert.issuer}")
    if cert.not_after is not None:
        lines.append(f"             valid until {cert.not_after:%Y-%m-%d %H:%M:%S} UTC")
    return lines


def report_lines(report: SMTPProbeReport) -> list[str]:
    """The probe report as the aligned lines ``mailsdk check`` prints."""
    lines: list[str] = []
    if report.greeting is not None:
        lines.append(f"greeting   : {report.greeting}")
    implicit_tls = report.tls is not None and report.extensions_after_tls is None
    if implicit_tls and report.tls is not None:
        lines.extend(_tls_lines(report.tls))
    if "ehlo" in report.timings:
        label = "EHLO (TLS) :" if implicit_tls else "EHLO       :"
        lines.append(f"{label} {_extensions(report.extensions)}")
    if report.extensions_after_tls is not None:
        lines.append("STARTTLS   : ok")
        if report.tls is not None:
            lines.extend(_tls_lines(report.tls))
        lines.append(f"EHLO (TLS) : {_extensions(report.extensions_after_tls)}")
    timings = ", ".join(
        f"{name} {seconds * 1000:.0f} ms" for name, seconds in report.timings.items()
    )
    if timings:
        lines.append(f"timings    : {timings}")
    if report.error is not None:
        lines.append(f"FAILED     : {report.error}")
        return lines
    offered = " ".join(report.auth_mechanisms) or "none"
    if report.auth_used is not None:
        lines.append(f"AUTH       : {report.auth_used} accepted for {report.username!r}")
    else:
        why = "no secret given" if report.username else "the URL names no user"
        lines.append(f"AUTH       : not tried ({why}; relay offers {offered})")
    lines.append("result     : OK, nothing was sent")
    return lines


def report_json(report: SMTPProbeReport) -> dict[str, Any]:
    """The probe report as JSON-ready data (the error as its class and text)."""
    tls = report.tls
    return {
        "relay": report.relay,
        "ok": report.ok,
        "greeting": report.greeting,
        "extensions": dict(report.extensions),
        "extensions_after_tls": (
            None if report.extensions_after_tls is None else dict(report.extensions_after_tls)
        ),
        "tls": None if tls is None else dataclasses.asdict(tls),
        "auth_mechanisms": list(report.auth_mechanisms),
        "username": report.username,
        "auth_used": report.auth_used,
        "timings": report.timings,
        "error": None
        if report.error is None
        else {"error": type(report.error).__name__, "message": str(report.error)},
    }


@click.command("check")
@click.argument("urls", nargs=-1, metavar="[URL|NAME]...")
@timeout_option(10.0, "Seconds for connecting and each command.")
@json_flag("Print one JSON object per relay (a list), or the error, on standard output.")
@click.pass_context
def command(ctx: click.Context, urls: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Check each relay: connect, greeting, EHLO extensions, TLS version and certificate,
    AUTH. Sends nothing. Default: the relays of MAILSDK_URL.

    For provider URLs (sendgrid://, ses://, ...) only the configuration and the secret
    are checked; the provider's API is not called. Exits 0 when every relay passed, 3 when
    any failed, 1 for a bad URL or a missing secret.
    """
    settings = load_settings(ctx, timeout=timeout, **url_values(urls))
    try:
        parsed = settings.parsed_urls()
    except ConfigurationError as exc:
        fail(str(exc))
    transports = build_transports(settings)
    failed = 0
    results: list[dict[str, Any]] = []

    def echo(text: str) -> None:
        if not as_json:  # under --json, standard output holds the JSON only
            click.echo(text)

    for url, transport in zip(parsed, transports, strict=True):
        echo(url.display())
        if isinstance(transport, RateLimitedTransport):  # ?rate=: probe the relay itself
            transport = transport.transport
        if isinstance(transport, SMTPTransport):
            report = asyncio.run(transport.probe())
            for line in report_lines(report):
                echo(f"  {line}")
            if not report.ok:
                failed += 1
            results.append({"url": url.display(), "checked": "session", **report_json(report)})
            continue
        if isinstance(transport, OAuthHTTPTransport):
            line, ok = asyncio.run(transport.check_token())
            echo(f"  {line}")
            failed += 0 if ok else 1
            results.append({"url": url.display(), "checked": "token", "ok": ok, "detail": line})
            continue
        if url.record.network:
            echo(
                f"  configuration OK ({transport.name}); check does not call the "
                f"{url.scheme} API, so the key itself is not tried"
            )
        else:
            echo(f"  configuration OK ({transport.name}); nothing to connect to")
        results.append(
            {"url": url.display(), "checked": "configuration", "relay": transport.name, "ok": True}
        )
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
    if failed:
        noun = "relay" if len(parsed) == 1 else "relays"
        click.echo(f"{failed} of {len(parsed)} {noun} failed the check", err=True)
        sys.exit(EXIT_FAILED)
