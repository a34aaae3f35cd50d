"""Send invoices rendered from Jinja2 templates in examples/templates/ (the templates extra).

Run it (the relay URL comes from ``--url`` or the ``MAILSDK_URL`` variable)::

    pip install 'mailsdk[templates]'
    MAILSDK_URL=console:// python examples/templated_invoices.py \\
        --from "Example Ltd <billing@example.com>"

Each invoice is rendered from ``invoice.subject.j2``, ``invoice.txt.j2`` and
``invoice.html.j2`` (which extends ``layout.html.j2``): the HTML is autoescaped, and an
invoice whose data lacks a variable the templates use is reported and skipped, not sent with
a blank. Exit status: 0 every invoice sent, 1 some were not, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mailsdk import ConfigurationError, MailError, MessageError, Sender
from mailsdk.templates import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"

# What an application would read from its database.
INVOICES: list[dict[str, Any]] = [
    {
        "customer": {"name": "Ann Example", "email": "ann@example.com"},
        "invoice": {
            "number": "2026-0042",
            "total": 150.0,
            "currency": "EUR",
            "due": "2026-12-31",
            "lines": [
                {"item": "Hosting, December", "amount": 120.0},
                {"item": "Backups <daily>", "amount": 30.0},
            ],
        },
    },
    {
        "customer": {"name": "Bob Example", "email": "bob@example.com"},
        "invoice": {"number": "2026-0043", "total": 12.5, "currency": "EUR", "lines": []},
    },
]


def main(argv: list[str] | None = None, invoices: list[dict[str, Any]] | None = None) -> int:
    """Render and send every invoice; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAILSDK_URL"), help="relay URL(s)")
    parser.add_argument("--from", dest="sender", default=os.environ.get("MAILSDK_FROM"))
    parser.add_argument("--company", default="Example Ltd")
    args = parser.parse_args(argv)
    if not args.url or not args.sender:
        print("give --url (or MAILSDK_URL) and --from (or MAILSDK_FROM)", file=sys.stderr)
        return 2
    template = Template.from_dir(TEMPLATES, "invoice")  # compiled once, used for every invoice
    status = 0
    try:
        with Sender(args.url) as sender:
            for data in INVOICES if invoices is None else invoices:
                context = {**data, "company": args.company}
                try:
                    message = template.message(
                        context, from_=args.sender, to=[data["customer"]["email"]]
                    )
                except MessageError as exc:  # bad data: skip this invoice, send the others
                    print(f"not sent to {data['customer']['email']}: {exc}", file=sys.stderr)
                    status = 1
                    continue
                result = sender.send(message)
                print(f"sent {result.message_id} to {', '.join(result.accepted)}")
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except MailError as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
