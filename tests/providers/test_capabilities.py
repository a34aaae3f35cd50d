"""The capability table in docs/providers/index.md says what each provider implements.

Each transport declares its capabilities as data (``HTTPTransport.capabilities``). These tests
parse the Markdown table and compare it with the declarations, then hold each declaration to
the code: a feature declared refused is refused with MessageError before any request, a limit
N takes N and refuses N + 1, raw MIME and idempotency are what the payload really does.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from contract_table import ROWS, Row

from mailsdk import Attachment, Calendar, Message, MessageError, OutgoingMessage
from mailsdk.transports.http.base import Capabilities, HTTPTransport

DOCS = Path(__file__).resolve().parents[2] / "docs"
INDEX = DOCS / "providers" / "index.md"
_spec = importlib.util.spec_from_file_location("providers_hook", DOCS / "_hooks" / "providers.py")
assert _spec is not None
assert _spec.loader is not None
providers_hook = sys.modules.setdefault("providers_hook", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(providers_hook)
COLUMNS = {
    "text": "text",
    "html": "html",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply_to",
    "custom headers": "custom_headers",
    "attachments": "attachments",
    "inline images": "inline_images",
    "tags": "tags",
    "metadata": "metadata",
    "raw MIME": "raw_mime",
    "idempotency": "idempotency",
    "our DKIM": "dkim",
    "List-Unsubscribe": "list_unsubscribe",
    "open/click tracking": "tracking",
    "calendar": "calendar",
}
INVITE = Calendar(
    ics="BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nMETHOD:REQUEST\nBEGIN:VEVENT\n"
    "UID:c@example.com\nDTSTAMP:20261204T000000Z\nDTSTART:20261210T100000Z\n"
    "SUMMARY:Sync\nEND:VEVENT\nEND:VCALENDAR\n",
    method="REQUEST",
)
INLINE = Attachment(filename="logo.png", content=b"\x89PNG", inline=True, cid="logo@example.com")


def _table() -> dict[str, dict[str, str]]:
    """``{page: {field: cell}}`` from the "What each provider can send" table."""
    # The table is generated from the provider pages by the docs hook: read it as MkDocs does.
    markdown = providers_hook.expand(INDEX.read_text(encoding="utf-8"), "providers/index.md")
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[0] == "provider"
    assert set(header[1:]) == set(COLUMNS), header
    table = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        page = re.fullmatch(r"\[[^]]+\]\(([a-z]+)\.md\)", cells[0])
        if page is None:  # the next table ("Errors, as a rule") starts here
            break
        table[page.group(1)] = {
            COLUMNS[h]: cell for h, cell in zip(header[1:], cells[1:], strict=True)
        }
    return table


def _meaning(cell: str) -> bool | int:
    """✗: refused; a leading number (``≤ 50``, ``1 (Tag)``): the most taken; else taken."""
    if cell.startswith("✗"):
        return False
    number = re.match(r"(?:≤ )?(\d+)\b", cell)
    return int(number.group(1)) if number else True


TABLE = _table()


def _transport(row: Row) -> HTTPTransport:
    return row.make("k-capability-test")


def test_every_provider_has_a_row_and_every_row_a_provider() -> None:
    assert set(TABLE) == {row.scheme for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[row.scheme for row in ROWS])
def test_the_table_says_what_the_provider_declares(row: Row) -> None:
    declared = _transport(row).capabilities
    documented = {name: _meaning(cell) for name, cell in TABLE[row.scheme].items()}
    assert documented == {f.name: getattr(declared, f.name) for f in fields(Capabilities)}


def _using(feature: str, count: int) -> dict[str, Any]:
    """Message fields that use *feature* *count* times."""
    many = [f"r{i}@example.com" for i in range(count)]
    return {
        "text": {"text": "plain"},  # beside the HTML: Brevo takes text only with it
        "html": {"html": "<p>rich</p>"},
        "cc": {"cc": many},
        "bcc": {"bcc": many},
        "reply_to": {"reply_to": many},
        # A threading header first: MailerSend takes those on every plan, others on some.
        "custom_headers": {
            "headers": {
                "In-Reply-To": "<a@example.com>",
                **{f"X-H{i}": "v" for i in range(1, count)},
            }
        },
        "attachments": {"attachments": [Attachment(filename="a.pdf", content=b"%PDF")] * count},
        "inline_images": {"attachments": [INLINE]},
        "tags": {"tags": [f"t{i}" for i in range(count)]},
        "metadata": {"metadata": {f"k{i}": "v" for i in range(count)}},
        "calendar": {"calendar": INVITE},
        "list_unsubscribe": {
            "list_unsubscribe": ["https://example.com/u/1", "mailto:u@example.com"],
            "list_unsubscribe_post": True,
        },
        "tracking": {"track_opens": True, "track_clicks": True},
    }[feature]


def _build(row: Row, **overrides: Any) -> Any:
    message = Message(
        **{
            "from_": "Reports <reports@example.com>",
            "to": ["alice@example.com"],
            "subject": "Capabilities",
            "html": "<p>hello</p>",
            **overrides,
        }
    )
    return _transport(row).build_request(OutgoingMessage(message))


LIMITED = [
    pytest.param(row, name, id=f"{row.scheme}-{name}")
    for row in ROWS
    for name in COLUMNS.values()
    if name not in ("raw_mime", "idempotency", "dkim")
]


@pytest.mark.parametrize(("row", "feature"), LIMITED)
def test_the_declaration_holds_in_the_payload(row: Row, feature: str) -> None:
    declared = getattr(_transport(row).capabilities, feature)
    if declared is False:
        with pytest.raises(MessageError):
            _build(row, **_using(feature, 1))
    elif declared is True:
        _build(row, **_using(feature, 1))
    else:
        _build(row, **_using(feature, declared))
        with pytest.raises(MessageError):
            _build(row, **_using(feature, declared + 1))


@pytest.mark.parametrize("row", ROWS, ids=[row.scheme for row in ROWS])
def test_raw_mime_and_idempotency_are_what_the_request_does(row: Row) -> None:
    transport = _transport(row)
    assert transport.payload_class.takes_raw_mime is transport.capabilities.raw_mime
    assert _build(row).idempotent is transport.capabilities.idempotency


@pytest.mark.parametrize("row", ROWS, ids=[row.scheme for row in ROWS])
def test_only_raw_mime_apis_carry_our_dkim_signature(row: Row) -> None:
    transport = _transport(row)
    assert transport.capabilities.dkim is transport.capabilities.raw_mime
    assert transport.carries_signature is transport.capabilities.dkim


def test_the_docs_list_every_provider_page_from_the_registry(tmp_path: Path) -> None:
    # The navigation and both tables come from the pages: a new provider edits neither.
    entries = providers_hook.nav_entries()
    assert [next(iter(e.values())) for e in entries] == [
        f"providers/{scheme}.md" for scheme in sorted(TABLE)
    ]
    config = (DOCS / "configuration.md").read_text(encoding="utf-8")
    schemes = providers_hook.expand(config, "configuration.md")
    for row in ROWS:
        assert f"](providers/{row.scheme}.md) |" in schemes
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "nosuch.md").write_text("# Nope\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no registered scheme 'nosuch'"):
        providers_hook.provider_pages(tmp_path)
    with pytest.raises(ValueError, match="is missing"):
        providers_hook.expand("no marker here", "configuration.md")
