"""A Flask app (application factory) that sends mail with mailsdk's Flask extension.

Run it::

    pip install 'mailsdk[flask]'
    MAILSDK_URL=console:// flask --app examples/flask_app:create_app run
    curl -d email=visitor@example.com -d text=Hello localhost:5000/contact

``MAILSDK_URL`` may list several URLs separated by commas (a failover list); the app also
reads ``MAILSDK_FROM``. In tests, ``create_app({"TESTING": True})`` collects the messages in
``mail.outbox`` instead of sending them.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request

from mailsdk import MailError, MessageError
from mailsdk.integrations.flask import Mail

mail = Mail()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config from the environment, then *config*, then the extension."""
    app = Flask(__name__)
    app.config.update(
        MAILSDK_URL=os.environ.get("MAILSDK_URL", "console://"),
        MAILSDK_FROM=os.environ.get("MAILSDK_FROM", "Website <web@example.com>"),
        MAILSDK_RETRY={"attempts": 3, "deadline": 30},
    )
    app.config.update(config or {})
    mail.init_app(app)

    @app.post("/contact")
    def contact() -> tuple[dict[str, Any], int]:
        visitor = request.form.get("email", "")
        try:
            # Built first: what the visitor typed is checked before anything is sent.
            message = mail.message(
                to="team@example.com",
                reply_to=visitor or None,
                subject="Contact form",
                text=request.form.get("text", ""),
            )
        except MessageError as exc:  # the visitor's input: their mistake, a 400
            return {"sent": False, "error": str(exc)}, 400
        try:
            result = mail.send(message)
        except MailError as exc:  # the relays': ours, a 503 (log it, maybe retry later)
            app.logger.warning("contact mail failed: %s", exc)
            return {"sent": False}, 503
        return {"sent": True, "message_id": result.message_id, "relay": result.relay}, 200

    return app
