"""A one-file Django project whose mail goes through mailsdk (the settings are the snippet to
copy into a real project's settings.py).

Run it::

    pip install 'mailsdk[django]'
    # Django's own command: send a test message through the configured backend
    MAILSDK_URL=console:// python examples/django_app.py sendtestemail you@example.com
    # or serve the contact form view ...
    MAILSDK_URL="smtp://user:pass@mail.example.com:587" python examples/django_app.py runserver
    # ... and post to it
    curl -d email=a@example.com -d text=Hi localhost:8000/contact/

``MAILSDK_URL`` may list several URLs separated by commas: a failover list. On Django 6.1
and later the backend is configured with ``MAILERS`` (with a second, "bulk" mailer as an
example); before 6.1 with ``EMAIL_BACKEND`` and the ``MAILSDK`` setting.
"""

from __future__ import annotations

import logging
import os
import sys

import django
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.http import HttpRequest, JsonResponse
from django.urls import path

from mailsdk import MailError, MessageError

log = logging.getLogger(__name__)

RELAYS = os.environ.get("MAILSDK_URL", "console://")

# --- the settings snippet ------------------------------------------------------------------
MAIL_SETTINGS: dict[str, object] = {
    "DEFAULT_FROM_EMAIL": "Example <noreply@example.com>",
    "SERVER_EMAIL": "server@example.com",
    # `manage.py check` (and runserver) then reports bad mail settings at start-up.
    "INSTALLED_APPS": ["mailsdk.integrations.django.MailsdkConfig"],
}
if django.VERSION >= (6, 1):
    MAIL_SETTINGS["MAILERS"] = {
        "default": {
            "BACKEND": "mailsdk.integrations.django.EmailBackend",
            # A send in a request may take 10 s (the default deadline) over every retry.
            "OPTIONS": {"url": RELAYS, "retry": {"attempts": 3}, "deadline": 10},
        },
        "bulk": {
            "BACKEND": "mailsdk.integrations.django.EmailBackend",
            "OPTIONS": {
                "url": os.environ.get("MAILSDK_BULK_URL", RELAYS),
                "from_email": "News <news@example.com>",
                "concurrency": 16,
            },
        },
    }
else:
    MAIL_SETTINGS["EMAIL_BACKEND"] = "mailsdk.integrations.django.EmailBackend"
    MAIL_SETTINGS["MAILSDK"] = {"URL": RELAYS, "RETRY": {"attempts": 3}, "DEADLINE": 10}
# --------------------------------------------------------------------------------------------


def contact(request: HttpRequest) -> JsonResponse:
    """POST email=…&text=…: forward the message to the team, replying to the visitor.

    A bad address typed by the visitor is their mistake (400); a relay failure is ours (503).
    """
    visitor = request.POST.get("email", "")
    message = EmailMultiAlternatives(
        subject="Contact form",
        body=request.POST.get("text", ""),
        to=["team@example.com"],
        reply_to=[visitor] if visitor else None,
        headers={"X-Form": "contact"},
    )
    try:
        message.send()
    except MessageError as exc:  # raised before anything was sent: the input is invalid
        return JsonResponse({"sent": False, "error": str(exc)}, status=400)
    except MailError as exc:  # every relay failed (within the request's deadline)
        log.warning("contact mail failed: %s", exc)
        return JsonResponse({"sent": False}, status=503)
    result = message.mailsdk_result  # set by the mailsdk backend
    return JsonResponse(
        {
            "sent": True,
            "message_id": result.message_id,
            "relay": result.relay,
            "attempts": [attempt.describe() for attempt in result.attempts],
        }
    )


urlpatterns = [path("contact/", contact)]

if __name__ == "__main__":
    settings.configure(
        DEBUG=True,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        MIDDLEWARE=[],  # no CSRF check, so the curl line above works; keep it in a real app
        **MAIL_SETTINGS,
    )
    django.setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
