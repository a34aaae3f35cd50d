"""TaskEmailBackend on Django's tasks framework, with the database task backend and its worker.

Django runs in subprocesses (the project in ``tasks_project/``, a SQLite file per test): this
process has its own Django settings for the other integration tests. ``send_mail`` must
return with nothing sent and one task row per message; ``manage.py db_worker`` then sends
them to a relay in this process; a transaction that rolls back sends nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailsdk.devserver import LocalRelay

pytest.importorskip("django_tasks_db", reason="needs the django-tasks extra")

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture
def relay(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    relay = relay_factory(tls="none", users=None)
    relay.rcpt_replies["nobody0@example.com"] = "550 5.1.1 no such user"
    return relay


def _project_env(db: Path, relay_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
        "DJANGO_SETTINGS_MODULE": "tasks_project.settings",
        "TEST_DB": str(db),
        "TEST_RELAY_URL": relay_url,
    }


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the task tables, made once and copied for each test."""
    db = tmp_path_factory.mktemp("django-tasks") / "template.sqlite3"
    done = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        env=_project_env(db, "smtp://127.0.0.1:1?tls=none"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return db


@pytest.fixture
def project(relay: LocalRelay, tmp_path: Path, migrated_db: Path) -> Callable[..., Any]:
    """Run a command of the project (``actions`` or ``manage``); return its JSON output."""
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_db, db)
    env = _project_env(db, relay.url())

    def run(*args: str) -> Any:
        if args[0] == "manage":
            command = [sys.executable, "-m", "django", *args[1:]]
        else:
            command = [sys.executable, "-m", "tasks_project.actions", *args]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout) if args[0] != "manage" else done.stdout + done.stderr

    return run


def work(project: Callable[..., Any]) -> str:
    """Run the database backend's worker until the queue is empty."""
    out: str = project("manage", "db_worker", "--batch", "--no-startup-delay", "--interval", "0.1")
    return out


def test_send_mail_enqueues_and_the_worker_delivers_or_fails_each_task(
    project: Callable[..., Any], relay: LocalRelay
) -> None:
    before = project("send", "3")
    assert relay.received == 0  # the backend returned without sending
    sent, tasks = before["sent"], before["tasks"]
    assert [t["status"] for t in tasks] == ["READY"] * 3
    assert {t["task_path"] for t in tasks} == {"mailsdk.integrations.django_tasks.send_message"}
    assert [t["id"] for t in tasks] == [s["task_id"] for s in sent]
    refused = project("refused")["sent"][0]  # its only recipient will be refused

    work(project)

    tasks = {t["id"]: t for t in project("tasks")}
    assert [tasks[s["task_id"]]["status"] for s in sent] == ["SUCCESSFUL"] * 3
    assert [tasks[s["task_id"]]["return_value"]["message_id"] for s in sent] == [
        s["message_id"] for s in sent
    ]
    failed = tasks[refused["task_id"]]
    assert failed["status"] == "FAILED"
    assert failed["exception_class_path"] == "mailsdk.errors.TaskFailed"
    assert [tasks[s["task_id"]]["return_value"]["accepted"] for s in sent] == [
        [f"customer{i}@example.com"] for i in range(3)
    ]
    received = relay.wait_for(3)
    assert relay.received == 3  # not the refused one
    # The Message-ID fixed at enqueue time is the one that went out.
    assert sorted(s["message_id"] for s in sent) == sorted(
        line.split(b":", 1)[1].strip().decode()
        for r in received
        for line in r.data.split(b"\r\n")
        if line.lower().startswith(b"message-id:")
    )


def test_mail_goes_out_if_and_only_if_the_transaction_commits(
    project: Callable[..., Any], relay: LocalRelay
) -> None:
    outcome = project("rollback-then-commit")
    assert outcome["after_rollback"] == []  # rolled back: nothing queued
    assert outcome["inside_transaction"] == []  # queued on commit, not before
    (task,) = outcome["tasks"]
    (sent,) = outcome["sent"]
    assert task["id"] == sent["task_id"]
    work(project)
    relay.wait_for(1)
    assert relay.received == 1
    assert project("tasks")[0]["return_value"]["message_id"] == sent["message_id"]


def test_outbox_backend_stores_mail_if_and_only_if_the_transaction_commits(
    project: Callable[..., Any], relay: LocalRelay, tmp_path: Path
) -> None:
    from mailsdk import MemoryTransport, Outbox, Sender

    path = str(tmp_path / "outbox.sqlite3")
    outcome = project("outbox-rollback-then-commit", path)
    assert outcome["after_rollback"] == 0
    assert outcome["inside_transaction"] == 0  # stored on commit, not before
    assert sorted(outcome["ids"] + outcome["bulk_ids"]) == sorted(outcome["entries"])
    outbox = Outbox(path)
    assert {e.id: e.route for e in outbox.entries()} == {
        **dict.fromkeys(outcome["ids"]),
        **dict.fromkeys(outcome["bulk_ids"], "bulk"),
    }
    bulk = MemoryTransport("memory://bulk")
    with Sender(relay.url(), routes={"bulk": bulk}) as sender:
        outbox.run(sender, until_empty=True)
    assert sorted(r.rcpt_tos[0] for r in relay.wait_for(2)) == [
        "committed0@example.com",
        "committed1@example.com",
    ]
    assert [m.envelope.rcpt_to for m in bulk.outbox] == [("bulk0@example.com",)]
    assert {e.state for e in outbox.entries()} == {"sent"}


# -- in this process: Django's immediate task backend (the default without a TASKS setting) --


def test_task_backend_validates_in_the_caller_and_the_task_sends(
    django_project: None, mail_outbox: list[Any]
) -> None:
    from django.core.mail import EmailMessage

    from mailsdk import MessageError, TaskFailed
    from mailsdk.integrations.django import TaskEmailBackend

    backend = TaskEmailBackend(on_commit=False)
    bad = EmailMessage("x", "y", "shop@example.com", ["not an address"])
    with pytest.raises(MessageError):
        backend.send_messages([bad])
    assert mail_outbox == []

    good = EmailMessage("order", "Thanks", "shop@example.com", ["a@example.com"])
    assert TaskEmailBackend(fail_silently=True, on_commit=False).send_messages([bad, good]) == 1
    assert isinstance(bad.mailsdk_error, MessageError)
    result = good.mailsdk_task_result
    assert str(result.status) in ("SUCCESSFUL", "TaskResultStatus.SUCCESSFUL")
    assert result.return_value["message_id"] == good.mailsdk_message_id
    (sent,) = mail_outbox
    assert sent.message_id == good.mailsdk_message_id
    assert TaskFailed.__module__ == "mailsdk.errors"


def test_task_backend_refuses_unknown_options() -> None:
    from mailsdk.integrations.django_tasks import TaskEmailBackend

    with pytest.raises(TypeError, match="queue"):
        TaskEmailBackend(queue="mail")
