"""The Celery app of the Celery tests: the test process and its ``celery worker`` subprocesses
both build it from the same environment variables (the worker with ``-A celery_worker_app``).

``TEST_REDIS_URL`` (broker, result backend and hand-over records), ``TEST_VISIBILITY_TIMEOUT``
and ``TEST_LEASE`` (seconds, short so that redelivery and lease expiry happen within a test),
``TEST_BACKOFF`` (seconds of the first retry wait). Senders: ``default`` from ``MAILSDK_URL``,
``bulk`` from ``TEST_BULK_URL``.
"""

from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery

from mailsdk import RetryPolicy
from mailsdk.integrations.celery import register


def make_app() -> Celery:
    url = os.environ["TEST_REDIS_URL"]
    app = Celery("mailsdk_tests", broker=url, backend=url, set_as_current=False)
    transport = {
        "visibility_timeout": float(os.environ.get("TEST_VISIBILITY_TIMEOUT", "3600")),
        # Look for unacknowledged tasks to restore every second, not every 100 s.
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        result_expires=600,
    )
    backoff = float(os.environ.get("TEST_BACKOFF", "60"))
    bulk = os.environ.get("TEST_BULK_URL")
    register(
        app,
        senders={"bulk": bulk} if bulk else None,
        lease=float(os.environ.get("TEST_LEASE", "600")),
        backoff=RetryPolicy(backoff=backoff, max_backoff=backoff * 4, jitter=0.0),
        max_age=timedelta(seconds=float(os.environ.get("TEST_MAX_AGE", "86400"))),
    )
    return app


app = make_app() if "TEST_REDIS_URL" in os.environ else None
