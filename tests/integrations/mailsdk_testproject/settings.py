"""Settings of the Django test project (loaded by tests/integrations/conftest.py only).

The backend is configured the pre-6.1 way (EMAIL_BACKEND + MAILSDK), which Django 6.1 still
honours; tests of Django 6.1's MAILERS override these settings per test.
"""

import django

SECRET_KEY = "mailsdk-tests-only"  # a test project
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes", "mailsdk_testproject"]
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "mailsdk_testproject.urls"
MIDDLEWARE: list[str] = []
USE_TZ = True
USE_I18N = True

EMAIL_BACKEND = "mailsdk.integrations.django.EmailBackend"
MAILSDK = {"URL": "memory://", "RETRY": {"attempts": 1}}
DEFAULT_FROM_EMAIL = "Example Site <site@example.com>"
SERVER_EMAIL = "server@example.com"
EMAIL_SUBJECT_PREFIX = "[site] "
if django.VERSION >= (6, 0):
    ADMINS = ["ops@example.com"]
    MANAGERS = ["managers@example.com"]
else:
    ADMINS = [("Ops", "ops@example.com")]
    MANAGERS = [("Managers", "managers@example.com")]
