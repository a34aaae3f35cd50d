"""The ``mailsdk`` command line: send, check relays, keep secrets in keyring, capture mail.

One module per command group; each registers its click command below in one line.

Exit codes, for cron jobs and scripts (``send`` and ``send-many``):

====  =====================================================================================
0     sent: every recipient accepted
1     bad input: options, files, addresses or configuration (nothing was sent)
2     permanently refused: the message or some of its recipients
3     every relay failed (connection, TLS, AUTH, temporary refusals after retries)
4     delivery unknown: the connection was lost after the message was handed over
====  =====================================================================================

``check`` exits 0 when every relay passed and 3 when one did not, ``doctor`` 3 when a
record has an error; ``credentials`` exits 1
when a secret is missing or keyring is unusable. Usage errors exit 1 (click's default, 2,
would read as "refused").
"""

from __future__ import annotations

from mailsdk.cli import (
    check,
    completion,
    credentials,
    devserver,
    doctor,
    oauth,
    outbox,
    send,
    send_many,
    suppressions,
)
from mailsdk.cli._shared import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    cli,
    exit_code_for,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNKNOWN",
    "cli",
    "exit_code_for",
    "main",
]

cli.add_command(send.command)
cli.add_command(send_many.command)
cli.add_command(check.command)
cli.add_command(devserver.devserver_command)
cli.add_command(devserver.demo_command)
cli.add_command(credentials.command)
credentials.command.add_command(oauth.command)
cli.add_command(completion.command)
cli.add_command(outbox.group)
cli.add_command(suppressions.command)
cli.add_command(doctor.command)


def main() -> None:
    """Entry point of the ``mailsdk`` script (and ``python -m mailsdk``)."""
    # One name in help and in the completion variable (_MAILSDK_COMPLETE), however started.
    cli(prog_name="mailsdk")
