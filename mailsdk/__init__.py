"""mailsdk: send email from Python over SMTP or provider HTTP APIs.

```python
from mailsdk import Message, Sender

msg = Message(from_="Reports <reports@example.com>", to=["alice@example.com"],
              subject="Daily", text="See attached.")
with Sender("smtp://user:pass@mail.example.com:587") as sender:
    result = sender.send(msg)
```
"""

import logging

from mailsdk._calendar_model import Calendar
from mailsdk.auth import AccessToken, StaticToken, TokenProvider
from mailsdk.config import TransportURL, parse_url, register_scheme
from mailsdk.controls import CancelSend
from mailsdk.defaults import (
    add_default_sender_provider,
    default_sender,
    set_default_sender,
)
from mailsdk.dkim import DKIMSigner
from mailsdk.dsn import DSN
from mailsdk.errors import (
    BatchInterrupted,
    ConfigurationError,
    CredentialError,
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RecipientsRefused,
    RelayError,
    TaskFailed,
    TransientError,
)
from mailsdk.events import (
    AttemptFailed,
    AttemptStarted,
    Delivered,
    Event,
    Failed,
    FailedOver,
    Retrying,
)
from mailsdk.message import Address, Attachment, Envelope, Message
from mailsdk.mime import OutgoingMessage
from mailsdk.options import SenderOptions
from mailsdk.outbox import EntryState, Outbox, OutboxEntry, RecipientOutcome, RunStats
from mailsdk.ratelimit import RateLimitedTransport, TokenBucket
from mailsdk.result import Attempt, RecipientStatus, SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.sender import AsyncSender, Sender
from mailsdk.settings import MailSettings
from mailsdk.suppressions import Suppression, Suppressions
from mailsdk.transports.base import Transport
from mailsdk.transports.console import ConsoleTransport
from mailsdk.transports.failover import FailoverTransport, RoundRobinTransport
from mailsdk.transports.file import FileTransport
from mailsdk.transports.memory import MemoryTransport
from mailsdk.transports.smtp import SMTPTransport
from mailsdk.transports.smtp_probe import SMTPProbeReport, TLSSession

# A library never configures logging; this keeps Python's last-resort handler quiet.
logging.getLogger("mailsdk").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "DSN",
    "AccessToken",
    "Address",
    "AsyncSender",
    "Attachment",
    "Attempt",
    "AttemptFailed",
    "AttemptStarted",
    "BatchInterrupted",
    "Calendar",
    "CancelSend",
    "ConfigurationError",
    "ConsoleTransport",
    "CredentialError",
    "DKIMSigner",
    "Delivered",
    "DeliveryFailed",
    "DeliveryUnknown",
    "EntryState",
    "Envelope",
    "Event",
    "Failed",
    "FailedOver",
    "FailoverTransport",
    "FileTransport",
    "MailError",
    "MailSettings",
    "MemoryTransport",
    "Message",
    "MessageError",
    "Outbox",
    "OutboxEntry",
    "OutgoingMessage",
    "PermanentError",
    "RateLimitedTransport",
    "RecipientOutcome",
    "RecipientStatus",
    "RecipientsRefused",
    "RelayError",
    "RetryPolicy",
    "Retrying",
    "RoundRobinTransport",
    "RunStats",
    "SMTPProbeReport",
    "SMTPTransport",
    "SendResult",
    "Sender",
    "SenderOptions",
    "StaticToken",
    "Suppression",
    "Suppressions",
    "TLSSession",
    "TaskFailed",
    "TokenBucket",
    "TokenProvider",
    "TransientError",
    "Transport",
    "TransportURL",
    "__version__",
    "add_default_sender_provider",
    "default_sender",
    "parse_url",
    "register_scheme",
    "set_default_sender",
]
