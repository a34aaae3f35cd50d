"""Fixtures for the Django and Flask integration tests.

Django is configured once per process, from ``mailsdk_testproject.settings``, and only when a
test asks for the ``django_project`` fixture: nothing here touches Django settings while
other test folders run. (This folder has no ``__init__.py``, so pytest puts it on
``sys.path`` and ``mailsdk_testproject`` imports as a top-level package.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import pytest

from mailsdk.devserver import LocalRelay
from tests.peers.redis import RedisError, RedisServer, start_redis

try:
    import django as _django
except ImportError:  # pragma: no cover - the dev extra installs Django
    _django = None

# Django 6.1's MAILERS tests need Django 6.1, which needs Python >= 3.12. Under an older
# Django they are not collected here (rather than reported as skipped): test_django_61.py runs
# that file in a Python 3.12 virtualenv with Django 6.1 and fails if any of them skips there.
collect_ignore = ["test_django_mailers.py"] if _django is None or _django.VERSION < (6, 1) else []

_configure_lock = threading.Lock()


@pytest.fixture(scope="session")
def django_project() -> None:
    """Configure Django from the test project's settings module (once) and set it up."""
    import django
    from django.conf import settings

    with _configure_lock:
        if not settings.configured:
            import mailsdk_testproject.settings as project

            settings.configure(
                **{name: getattr(project, name) for name in dir(project) if name.isupper()}
            )
            django.setup()


@pytest.fixture(autouse=True)
def _fresh_shared_senders() -> Iterator[None]:
    """Each test starts without the process-wide senders of earlier tests (and their
    threads and connections do not outlive the test)."""
    from mailsdk.integrations._senders import close_shared_senders

    yield
    close_shared_senders()


@pytest.fixture
def smtp_relay(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    """A submission relay (STARTTLS and AUTH required) on loopback."""
    return relay_factory(tls="starttls", require_auth=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port (a failure, not a skip, in CI)."""
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except RedisError as exc:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"Redis is needed in CI (CI is set): {exc}", pytrace=False)
        pytest.skip(str(exc))
    with server:
        yield server
