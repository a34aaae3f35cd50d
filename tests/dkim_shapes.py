"""Message shapes for the DKIM tests and the independent check: dkimpy with a DNS stub."""

from __future__ import annotations

from collections.abc import Callable

import dkim

from mailsdk import Attachment, Calendar, DKIMSigner, Message

FIXED = {"Date": "Fri, 04 Dec 2026 05:00:00 +0000", "Message-ID": "<dkim-test@example.com>"}


def dns_for(signer: DKIMSigner) -> Callable[..., bytes | None]:
    """dkimpy's dnsfunc: the signer's record at its name, nothing anywhere else."""

    def lookup(name: bytes | str, timeout: int = 5) -> bytes | None:
        asked = name.decode() if isinstance(name, bytes) else name
        if asked.rstrip(".") == signer.record_name:
            return signer.dns_record().encode("ascii")
        return None

    return lookup


def verifies(signed: bytes, signer: DKIMSigner) -> bool:
    return bool(dkim.verify(signed, dnsfunc=dns_for(signer), minkey=1024))


def base(**fields: object) -> Message:
    values: dict[str, object] = {
        "from_": "Reports <reports@example.com>",
        "to": ["alice@example.org"],
        "subject": "Daily report",
        "headers": dict(FIXED),
    }
    values.update(fields)
    return Message(**values)  # type: ignore[arg-type]


INVITE_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailsdk tests//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:plan-1@example.com\r\nDTSTAMP:20261204T050000Z\r\n"
    "DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSEQUENCE:0\r\n"
    "SUMMARY:Planning\r\nORGANIZER;CN=Reports:mailto:reports@example.com\r\n"
    "ATTENDEE;RSVP=TRUE:mailto:alice@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
SHAPES: dict[str, Callable[[], Message]] = {
    "plain": lambda: base(text="Hello,\n\nthe report is attached.\n"),
    "alternative": lambda: base(text="Hello", html="<p>Hello</p>"),
    "html only": lambda: base(html="<p>Hello   there</p>\n\n\n"),
    "attachments": lambda: base(
        text="See attached.",
        attachments=[
            Attachment(filename="r.csv", content=b"a,b\n1,2\n"),
            Attachment(filename="report.pdf", content=b"%PDF-1.4 " + bytes(range(256)) * 20),
        ],
    ),
    "inline images": lambda: base(
        text="Logo",
        html='<p><img src="cid:logo@example.com"></p>',
        attachments=[Attachment(filename="logo.png", content=PNG, inline=True, cid="logo@x")],
    ),
    "smtputf8 address": lambda: base(
        to=["Jörg <jörg@bücher.example>"], cc=["用户@例子.example"], text="Grüße"
    ),
    "8-bit text": lambda: base(
        subject="Grüße aus Köln — 東京",
        text="Über den Wolken muss die Freiheit wohl grenzenlos sein. ñ ü 東京\n" * 20,
        html="<p>Ünïcödé  with   spaces \t and tabs</p>",
    ),
    "long folded headers": lambda: base(
        to=[f"Recipient Number {i} <recipient{i}@example.org>" for i in range(30)],
        subject="A very long subject line " * 12,
        headers={**FIXED, "X-Campaign": "spring " * 40, "References": "<a@x> " * 30},
        text="  leading spaces and trailing spaces   \n\tand a tab line\n",
    ),
    "one-click unsubscribe": lambda: base(
        text="News",
        list_unsubscribe=["https://example.com/u/8f2a?t=" + "z" * 80, "mailto:u@example.com"],
        list_unsubscribe_post=True,
    ),
    "dots and trailing blank lines": lambda: base(text=".\n..leading dots\n\n\n\n"),
    "empty body": lambda: base(text=""),
    "calendar invite": lambda: base(
        text="Planning, Thursday 10:00",
        html="<p>Planning, Thursday 10:00</p>",
        calendar=Calendar(ics=INVITE_ICS, method="REQUEST"),
    ),
    "calendar invite, non-ASCII (base64)": lambda: base(
        text="Besprechung",
        calendar=Calendar(ics=INVITE_ICS.replace("Planning", "Bespr\u00e9chung K\u00f6ln")),
    ),
}
