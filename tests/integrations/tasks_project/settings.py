"""Settings of the Django tasks test project (run in subprocesses: tests/integrations/
test_django_tasks.py). The database file and the relay URL come from the environment."""

from __future__ import annotations

import os

import django

SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    # The backport's app before Django 6.0; django.tasks itself needs no app.
    *(["django_tasks"] if django.VERSION < (6, 0) else []),
    "django_tasks_db",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["TEST_DB"]},
}
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
EMAIL_BACKEND = "mailsdk.integrations.django.TaskEmailBackend"
MAILSDK = {
    "URL": os.environ["TEST_RELAY_URL"],
    "FROM": "Shop <shop@example.com>",
    "RETRY": {"attempts": 1},
}
LOGGING_CONFIG = None
