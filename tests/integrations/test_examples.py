"""The examples in examples/ run as documented: each is loaded from its file and its main()
called with the arguments a user would give."""

from __future__ import annotations

import csv
import importlib.util
import io
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from mail_helpers import parsed, relay_url

from mailsdk.devserver import LocalRelay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def closed_port_url() -> str:
    """An SMTP URL on loopback where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"smtp://127.0.0.1:{port}?tls=none&timeout=1"


def load(name: str) -> ModuleType:
    """Import examples/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_csv_report_is_mailed_through_the_relay(
    relay_factory: Callable[..., LocalRelay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    report = load("csv_report_cron")
    status = report.main(
        [
            "--url",
            relay_url(relay),
            "--from",
            "Reports <reports@example.com>",
            "--to",
            "ops@example.com",
            "--path",
            str(tmp_path),
        ]
    )
    assert status == 0
    assert "sent <" in capsys.readouterr().out
    (received,) = relay.wait_for(1)
    assert received.mail_from == "reports@example.com"
    assert received.rcpt_tos == ["ops@example.com"]
    message = parsed(received.data)
    assert message["Subject"].startswith("Disk report for ")
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "text/csv"
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    rows = list(csv.DictReader(io.StringIO(payload.decode())))
    assert [row["path"] for row in rows] == [str(tmp_path)]
    assert set(rows[0]) == {"path", "total_gib", "used_gib", "free_gib", "used_percent"}


def test_csv_report_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    report = load("csv_report_cron")
    assert report.main(["--to", "ops@example.com", "--url", "memory://"]) == 2  # no sender
    assert report.main(["--to", "ops@example.com", "--from", "a@example.com", "--url", "x"]) == 2
    refused = closed_port_url()
    assert (
        report.main(["--to", "ops@example.com", "--from", "a@example.com", "--url", refused]) == 1
    )
    assert "was not sent" in capsys.readouterr().err


def test_async_bulk_example_fails_over_to_the_backup(capsys: pytest.CaptureFixture[str]) -> None:
    bulk = load("async_bulk_failover")
    primary = closed_port_url()
    assert bulk.main(["--url", f"{primary},memory://backup", "--count", "5"]) == 0
    out = capsys.readouterr().out
    assert "5 sent via memory://backup" in out
    assert f"failed over {primary.partition('?')[0]} -> memory://backup" in out


@pytest.mark.parametrize(
    ("visitor", "status"), [("visitor@example.com", 200), ("not an address", 400)]
)
def test_flask_example_answers_a_bad_visitor_address_with_400(visitor: str, status: int) -> None:
    app = load("flask_app").create_app({"TESTING": True})
    response = app.test_client().post("/contact", data={"email": visitor, "text": "Hi"})
    assert response.status_code == status
    assert response.json is not None
    assert response.json["sent"] is (status == 200)
    if status == 400:
        assert "reply_to" in response.json["error"]


def test_flask_example_answers_relay_failures_with_503() -> None:
    app = load("flask_app").create_app(
        {"MAILSDK_URL": closed_port_url(), "MAILSDK_RETRY": {"attempts": 1}}
    )
    response = app.test_client().post("/contact", data={"email": "v@example.com", "text": "Hi"})
    assert response.status_code == 503


@pytest.mark.usefixtures("django_project")
@pytest.mark.parametrize(
    ("visitor", "status"), [("visitor@example.com", 200), ("not an address", 400)]
)
def test_django_example_answers_a_bad_visitor_address_with_400(visitor: str, status: int) -> None:
    import json

    from django.test import RequestFactory

    view = load("django_app").contact
    response = view(RequestFactory().post("/contact/", {"email": visitor, "text": "Hi"}))
    assert response.status_code == status
    body = json.loads(response.content)
    assert body["sent"] is (status == 200)


def test_meeting_invite_reaches_the_relay_as_an_invite(
    relay_factory: Callable[..., LocalRelay], capsys: pytest.CaptureFixture[str]
) -> None:
    import icalendar

    relay = relay_factory(tls="starttls", require_auth=True)
    example = load("meeting_invite")
    args = ["--url", relay_url(relay), "--from", "Boss <boss@example.com>"]
    args += ["--to", "alice@example.org", "--to", "bob@example.net", "--summary", "Planning"]
    args += ["--start", "2026-12-10T10:00", "--zone", "Europe/Berlin", "--minutes", "45"]
    args += ["--uid", "plan-1@example.com", "--sequence", "2", "--location", "Room 4"]
    assert example.main(args) == 0
    assert "sent <" in capsys.readouterr().out
    (received,) = relay.wait_for(1)
    assert received.rcpt_tos == ["alice@example.org", "bob@example.net"]
    message = parsed(received.data)
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    (event,) = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(event["UID"]) == "plan-1@example.com"
    assert event["SEQUENCE"] == 2
    assert str(event["LOCATION"]) == "Room 4"
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=45)
    assert str(event.decoded("DTSTART").tzinfo) == "Europe/Berlin"


def test_meeting_invite_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("meeting_invite")
    base = ["--to", "a@example.com", "--summary", "s", "--start", "2026-12-10T10:00"]
    assert example.main(base) == 2  # no relay, no sender
    bad_zone = [*base, "--from", "b@example.com", "--url", "memory://", "--zone", "Mars/Base"]
    assert example.main(bad_zone) == 2
    assert example.main([*base, "--from", "b@example.com", "--url", "memory://"]) == 0


def test_templated_invoices_are_rendered_and_mailed(
    relay_factory: Callable[..., LocalRelay], capsys: pytest.CaptureFixture[str]
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    example = load("templated_invoices")
    status = example.main(["--url", relay_url(relay), "--from", "Example Ltd <b@example.com>"])
    assert status == 1  # the second invoice lacks a due date: reported, not sent
    out, err = capsys.readouterr()
    assert "sent <" in out
    assert "not sent to bob@example.com: template invoice.txt.j2, line 3" in err
    assert "has no attribute 'due'" in err
    (received,) = relay.wait_for(1)
    assert received.rcpt_tos == ["ann@example.com"]
    message = parsed(received.data)
    assert message["Subject"] == "Invoice 2026-0042 from Example Ltd"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Backups <daily>                   30.00" in text.get_content()
    assert "<td>Backups &lt;daily&gt;</td>" in html.get_content()  # autoescaped
    assert '<p style="color: #666">Example Ltd</p>' in html.get_content()  # the layout
    assert example.main(["--from", "b@example.com", "--url", ""]) == 2
