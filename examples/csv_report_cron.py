"""Email a CSV disk-usage report: the kind of job cron runs every morning.

Run it (the relay URL comes from ``--url`` or the ``MAILSDK_URL`` variable)::

    MAILSDK_URL="smtp://reports%40example.com:APP_PASSWORD@smtp.example.com:587" \\
        python examples/csv_report_cron.py --from "Reports <reports@example.com>" \\
        --to ops@example.com --path / --path /var

Without a relay, ``MAILSDK_URL=console://`` prints the message instead of sending it. As a
crontab line (cron mails whatever the job writes to stderr to the crontab's owner)::

    15 6 * * *  MAILSDK_URL=smtp://... python3 /srv/jobs/csv_report_cron.py --to ops@example.com

Exit status: 0 sent, 1 the send failed, 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import socket
import sys
from datetime import date

from mailsdk import Attachment, ConfigurationError, MailError, Message, RetryPolicy, Sender

GIB = 1024**3


def disk_usage_rows(paths: list[str]) -> list[dict[str, str]]:
    """One row per path: its file system's size, use and free space."""
    rows = []
    for path in paths:
        usage = shutil.disk_usage(path)
        rows.append(
            {
                "path": path,
                "total_gib": f"{usage.total / GIB:.1f}",
                "used_gib": f"{usage.used / GIB:.1f}",
                "free_gib": f"{usage.free / GIB:.1f}",
                "used_percent": f"{100 * usage.used / usage.total:.0f}" if usage.total else "0",
            }
        )
    return rows


def as_csv(rows: list[dict[str, str]]) -> bytes:
    """The rows as CSV with a header line (RFC 4180 line endings)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def build_message(sender: str, recipients: list[str], rows: list[dict[str, str]]) -> Message:
    """The report message: a short summary in the body, the full table attached."""
    today = date.today().isoformat()
    host = socket.gethostname()
    fullest = max(rows, key=lambda row: int(row["used_percent"]))
    summary = "\n".join(f"{r['path']}: {r['used_percent']}% used" for r in rows)
    return Message(
        from_=sender,
        to=recipients,
        subject=f"Disk report for {host}, {today} (fullest: {fullest['used_percent']}%)",
        text=f"Disk usage on {host} on {today}:\n\n{summary}\n\nThe full table is attached.\n",
        attachments=[
            Attachment(
                filename=f"disk-{host}-{today}.csv", content=as_csv(rows), content_type="text/csv"
            )
        ],
        tags=["disk-report"],
    )


def main(argv: list[str] | None = None) -> int:
    """Build the report and send it; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAILSDK_URL"), help="relay URL(s)")
    parser.add_argument(
        "--from",
        dest="sender",
        default=os.environ.get("MAILSDK_FROM"),
        help="sender address",
    )
    parser.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    parser.add_argument("--path", action="append", help="a path to report on (repeatable)")
    args = parser.parse_args(argv)
    if not args.url or not args.sender:
        print("give --url (or MAILSDK_URL) and --from (or MAILSDK_FROM)", file=sys.stderr)
        return 2
    try:
        message = build_message(args.sender, args.to, disk_usage_rows(args.path or ["/"]))
        with Sender(args.url, retry=RetryPolicy(attempts=3, deadline=300)) as sender:
            result = sender.send(message)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except MailError as exc:
        print(f"the report was not sent: {exc}", file=sys.stderr)
        return 1
    print(f"sent {result.message_id} via {result.relay} to {', '.join(result.accepted)}")
    for address, (code, text) in result.refused.items():
        print(f"refused {address}: {code} {text}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
