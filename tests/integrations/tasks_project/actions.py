"""What the Django tasks tests do inside the project: ``python -m tasks_project.actions ACTION``.

Each action prints one JSON document on stdout. ``send N`` and ``refused`` hand messages to
the email backend outside a transaction; ``rollback-then-commit`` does it inside one
``transaction.atomic()`` that rolls back, then inside one that commits
(``outbox-rollback-then-commit PATH``: the same with OutboxEmailBackend); ``tasks`` lists
the task rows.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasks_project.settings")
django.setup()

from django.core.mail import EmailMessage, get_connection  # noqa: E402
from django.db import transaction  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402


class Rollback(Exception):
    pass


def build(n: int, to: str = "customer{n}@example.com") -> list[EmailMessage]:
    return [EmailMessage(f"order {i}", "Thank you.", to=[to.format(n=i)]) for i in range(n)]


def send_built(messages: list[EmailMessage]) -> None:
    assert get_connection().send_messages(messages) == len(messages)


def send(n: int, to: str = "customer{n}@example.com") -> list[dict[str, Any]]:
    messages = build(n, to)
    send_built(messages)
    return describe(messages)


def describe(messages: list[EmailMessage]) -> list[dict[str, Any]]:
    """What the backend recorded on each message (the task id once it is enqueued)."""
    return [
        {
            "message_id": m.mailsdk_message_id,
            "task_id": str(m.mailsdk_task_result.id) if hasattr(m, "mailsdk_task_result") else None,
        }
        for m in messages
    ]


def main(action: str, *args: str) -> Any:
    if action == "send":
        return {"sent": send(int(args[0])), "tasks": tasks()}
    if action == "refused":
        return {"sent": send(1, to="nobody{n}@example.com"), "tasks": tasks()}
    if action == "rollback-then-commit":
        try:
            with transaction.atomic():
                send(1)
                raise Rollback
        except Rollback:
            after_rollback = tasks()
        with transaction.atomic():
            messages = build(1)
            send_built(messages)
            inside = tasks()
        return {
            "after_rollback": after_rollback,
            "inside_transaction": inside,
            "sent": describe(messages),
            "tasks": tasks(),
        }
    if action == "outbox-rollback-then-commit":
        return outbox_rollback_then_commit(args[0])
    if action == "tasks":
        return tasks()
    raise SystemExit(f"unknown action {action}")


def tasks() -> list[dict[str, Any]]:
    return [
        {
            "id": str(row.id),
            "status": str(row.status),
            "return_value": row.return_value,
            "exception_class_path": row.exception_class_path,
            "task_path": row.task_path,
        }
        for row in DBTaskResult.objects.order_by("enqueued_at")
    ]


def outbox_rollback_then_commit(path: str) -> dict[str, Any]:
    """OutboxEmailBackend inside a transaction that rolls back, then one that commits."""
    from mailsdk import Outbox

    backend = get_connection("mailsdk.integrations.django.OutboxEmailBackend", outbox=path)
    outbox = Outbox(path)
    try:
        with transaction.atomic():
            backend.send_messages(build(1, to="rolled.back{n}@example.com"))
            raise Rollback
    except Rollback:
        after_rollback = len(list(outbox.entries()))
    with transaction.atomic():
        messages = build(2, to="committed{n}@example.com")
        backend.send_messages(messages)
        inside = len(list(outbox.entries()))
    routed = get_connection(
        "mailsdk.integrations.django.OutboxEmailBackend", outbox=path, route="bulk"
    )
    bulk = build(1, to="bulk{n}@example.com")
    routed.send_messages(bulk)
    return {
        "after_rollback": after_rollback,
        "inside_transaction": inside,
        "ids": [m.mailsdk_outbox_id for m in messages],
        "bulk_ids": [m.mailsdk_outbox_id for m in bulk],
        "entries": [e.id for e in outbox.entries()],
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
