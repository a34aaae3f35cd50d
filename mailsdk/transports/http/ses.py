"""Amazon SES v2 ``SendEmail``: the rendered MIME as ``Content.Raw``, signed with AWS SigV4.

``ses://ACCESS_KEY:SECRET@REGION`` (a fixed key pair: percent-encode a ``/`` in the secret as
``%2F``), ``ses://REGION`` (credentials from botocore's chain: environment, shared files, SSO,
container or instance roles) or ``ses://default`` (the region from botocore's configuration
too). Options ``configuration_set=``, ``profile=`` (a named profile for the chain),
``base_url=``, ``timeout=`` and ``ca_file=``. Needs the ``mailsdk[ses]`` extra: botocore
finds credentials and signs, httpx sends. Fields follow botocore's sesv2 model
(``SendEmailRequest``); success is ``200 {"MessageId": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MailError, PermanentError, RelayError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

try:
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("ses:// needs botocore: pip install 'mailsdk[ses]'") from exc

__all__ = ["SESPayload", "SESTransport"]

_PATH = "/v2/email/outbound-emails"
_SIGNING_NAME = "ses"  # the model's signingName; the host prefix is "email"
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_MAX_RECIPIENTS = 50
_MAX_BASE64 = 40 * 1024 * 1024  # "40 MB per message after base64" (v2 API)
_TAG_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # MessageTag Name and Value
_QUOTA_WAIT = 3600.0  # the daily quota is a rolling 24 h window: fail over, come back later
_THROTTLED = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)
_STALE = frozenset({"RequestExpired", "ExpiredToken", "ExpiredTokenException"})
# Account, identity, IAM or signing problems: this relay cannot send until someone fixes it.
_RELAY_LIST = (
    "AccountSuspendedException SendingPausedException MailFromDomainNotVerifiedException "
    "NotFoundException AccessDenied AccessDeniedException InvalidClientTokenId "
    "UnrecognizedClient UnrecognizedClientException SignatureDoesNotMatch "
    "InvalidSignatureException IncompleteSignature MissingAuthenticationToken"
)
_RELAY = frozenset(_RELAY_LIST.split())
_TOKEN_LINE = re.compile(r"(x-amz-security-token:)[^\n]*", re.IGNORECASE)


class _HideSessionToken(logging.Filter):
    """botocore logs every canonical request at DEBUG, the session token's header included."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "x-amz-security-token" in text.lower():
            record.msg, record.args = _TOKEN_LINE.sub(r"\1***", text), None
        return True


_signer_log = logging.getLogger("botocore.auth")
if not any(isinstance(f, _HideSessionToken) for f in _signer_log.filters):
    _signer_log.addFilter(_HideSessionToken())


@dataclass(frozen=True)
class _Keys:
    """One consistent credential set (botocore's own tuples show the secret in their repr)."""

    access_key: SecretStr
    secret_key: SecretStr
    token: SecretStr | None = None

    @classmethod
    def of(cls, access: str, secret: str, token: str | None) -> _Keys:
        return cls(SecretStr(access), SecretStr(secret), SecretStr(token) if token else None)

    def for_botocore(self) -> Any:
        token = self.token.get_secret_value() if self.token else None
        return Credentials(
            self.access_key.get_secret_value(), self.secret_key.get_secret_value(), token
        )

    def values(self) -> list[str]:
        return [s.get_secret_value() for s in (self.access_key, self.secret_key, self.token) if s]


def _classify(code: str, text: str) -> tuple[type[MailError] | None, float | None]:
    """The class (None: the status decides) and retry delay for an SES error code and text."""
    lowered = text.lower()
    if code in _THROTTLED:
        # ThrottlingException covers both the send rate and the 24 h quota; only the text says.
        daily = "daily" in lowered and "quota" in lowered
        return TransientError, (_QUOTA_WAIT if daily else None)
    if code in _STALE or "signature expired" in lowered:
        return TransientError, None  # clock skew or expired temporary keys: a fresh try works
    if code == "MessageRejected":
        # In the sandbox an unverified sender or recipient comes back as MessageRejected.
        return (RelayError if "not verified" in lowered else PermanentError), None
    if code in _RELAY:
        return RelayError, None
    if code == "BadRequestException":
        return PermanentError, None
    return None, None


class SESPayload(base.NameValueTags, base.Payload["SESTransport"]):
    """Builds the ``SendEmail`` body: the MIME base64-encoded, plus the envelope recipients."""

    takes_raw_mime = True

    def __init__(self, transport: SESTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.data: dict[str, Any] = {}
        self.tags: list[dict[str, str]] = []

    def set_raw_message(self, raw: bytes) -> None:
        """``Content.Raw.Data`` and ``Destination``; ``envelope_from`` becomes
        ``FeedbackForwardingEmailAddress`` (SES picks its own MAIL FROM and forwards bounces
        and complaints there)."""
        outgoing, message = self.outgoing, self.outgoing.message
        if outgoing.envelope.smtputf8:
            self.unsupported("an address with a non-ASCII local part (SES has no SMTPUTF8)")
        count = len(outgoing.envelope.rcpt_to)
        if count > _MAX_RECIPIENTS:
            self.unsupported(f"{count} recipients in one message (at most {_MAX_RECIPIENTS})")
        data = base.b64(raw)
        if len(data) > _MAX_BASE64:
            self.unsupported(f"{len(data)} octets of base64 MIME (at most {_MAX_BASE64})")
        # The MIME has no Bcc header, and on a failover retry only some recipients are due:
        # Destination, not the headers, tells SES whom to deliver to.
        wanted = {r.lower() for r in outgoing.envelope.rcpt_to}
        destination: dict[str, list[str]] = {}
        for key, addresses in (("To", message.to), ("Cc", message.cc), ("Bcc", message.bcc)):
            chosen = [a.envelope for a in addresses if a.envelope.lower() in wanted]
            wanted.difference_update(a.lower() for a in chosen)  # each recipient once
            if chosen:
                destination[f"{key}Addresses"] = chosen
        self.data["Destination"] = destination
        self.data["Content"] = {"Raw": {"Data": data}}
        bounce = message.envelope_from
        if bounce is not None and bounce.envelope != message.sender.envelope:
            self.data["FeedbackForwardingEmailAddress"] = bounce.envelope
        if self.transport.configuration_set:
            self.data["ConfigurationSetName"] = self.transport.configuration_set

    def _tag(self, name: str, value: str) -> None:
        # ``EmailTags``: one {Name, Value} per tag or metadata item.
        for text in (name, value):
            if not _TAG_TEXT.match(text):
                self.unsupported(
                    f"the tag text {text!r} (SES takes ASCII letters, digits, '_' and '-', "
                    "at most 256)"
                )
        if any(tag["Name"] == name for tag in self.tags):
            self.unsupported(f"a tag and a metadata key both named {name!r}")
        self.tags.append({"Name": name, "Value": value})

    def build(self) -> base.HTTPRequest:
        """The POST; httpx serialises the JSON once and :meth:`SESTransport.authenticate`
        signs exactly those bytes."""
        if self.tags:
            self.data["EmailTags"] = self.tags
        return base.HTTPRequest("POST", _PATH, json=self.data)


class SESTransport(base.HTTPTransport):
    """Sends through Amazon SES v2 with SigV4 (signing name ``ses``).

    ``SESTransport("AKIA...", "secret", region="eu-west-1")`` uses a fixed key pair (plus
    ``session_token=`` for temporary keys); ``SESTransport(region="eu-west-1")`` asks botocore's
    credential chain, off the event loop, before the first send and whenever the keys are due
    for a refresh.
    """

    scheme = "ses"
    payload_class = SESPayload
    capabilities = base.Capabilities(raw_mime=True, dkim=True, calendar=True)
    requires_api_key = False
    url_options = ("configuration_set", "profile")

    def __init__(
        self,
        access_key: str | None = None,
        secret_key: str | SecretStr | None = None,
        *,
        session_token: str | SecretStr | None = None,
        region: str = "default",
        configuration_set: str | None = None,
        profile: str | None = None,
        base_url: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        secret = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        token = (
            session_token.get_secret_value()
            if isinstance(session_token, SecretStr)
            else session_token
        )
        if bool(access_key) != bool(secret):
            raise ConfigurationError(
                "ses: give both access_key and secret_key, or neither (botocore's chain)"
            )
        if access_key and profile:
            raise ConfigurationError("ses: profile= picks chain credentials, not a fixed key pair")
        self._static = _Keys.of(access_key, secret, token) if access_key and secret else None
        self._profile = profile
        self._session: Any = None
        if self._static is None or region == "default":
            self._session = botocore.session.Session(profile=profile)
        if region == "default":
            region = self._configured_region()
        if not _REGION.match(region):
            raise ConfigurationError(f"ses://{region}: not an AWS region name (e.g. us-east-1)")
        self._chain: Any = None  # botocore's credentials object, once the chain found one
        self._keys = self._static
        self.configuration_set = configuration_set
        super().__init__(
            None,  # SigV4 signs with the key pair in authenticate(); the chain's may change
            region=region,
            base_url=base_url or f"https://email.{region}.amazonaws.com",
            name=name or (f"ses://{region}" if base_url is None else None),
            **kwargs,
        )

    def _configured_region(self) -> str:
        try:
            region = self._session.get_config_variable("region")
        except BotoCoreError as exc:  # e.g. ProfileNotFound
            raise ConfigurationError(f"ses://default: {exc}") from None
        if not region:
            raise ConfigurationError(
                "ses://default: botocore has no region (AWS_DEFAULT_REGION or the profile's "
                "region); write ses://REGION"
            )
        return str(region)

    @classmethod
    def credentials_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``ses://ACCESS_KEY:SECRET@REGION``, or nothing (``ses://REGION``: botocore's chain)."""
        access = url.username or None
        secret = url.password if url.password and url.password.get_secret_value() else None
        if bool(access) != bool(secret):
            raise ConfigurationError(
                f"ses://{url.host}: write ses://ACCESS_KEY:SECRET@REGION, "
                "or ses://REGION for botocore's credential chain"
            )
        return {"access_key": access, "secret_key": secret} if access else {}

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``configuration_set=`` and ``profile=``."""
        return {
            "configuration_set": url.option("configuration_set"),
            "profile": url.option("profile"),
        }

    # -- credentials ---------------------------------------------------------------------

    def _lookup_due(self) -> bool:
        if self._static is not None:
            return False
        if self._chain is None:
            return True
        refresh_needed = getattr(self._chain, "refresh_needed", None)  # RefreshableCredentials
        return bool(refresh_needed is not None and refresh_needed())

    def _look_up(self) -> None:
        failure: MailError | None = None
        try:
            if self._chain is None:
                self._chain = self._session.get_credentials()
            frozen = self._chain.get_frozen_credentials() if self._chain is not None else None
        except (BotoCoreError, ClientError) as exc:
            what = self.redact(str(exc))
            failure = RelayError(f"AWS credentials unavailable ({what})", relay=self.name)
        else:
            if frozen is None:
                failure = RelayError("no AWS credentials found by botocore", relay=self.name)
            else:
                self._keys = _Keys.of(frozen.access_key, frozen.secret_key, frozen.token)
        if failure is not None:  # raised here so that botocore's error is not its context
            raise failure

    async def before_send(self, outgoing: OutgoingMessage) -> None:
        """Look credentials up when the chain has to (it may call IMDS, STS or SSO: blocking
        I/O, so in a thread); the base has walked the message, so a bad one costs no I/O."""
        if self._lookup_due():
            await asyncio.to_thread(self._look_up)

    def authenticate(self, request: httpx.Request) -> None:
        """Sign the final bytes with botocore's SigV4Auth and copy its headers onto *request*.

        Only ``Content-Type`` and ``Host`` go into the signed copy (botocore adds
        ``X-Amz-Date`` and any ``X-Amz-Security-Token``): headers httpx adds later, or that a
        proxy may rewrite, stay out of the signature.
        """
        if self._chain is not None:
            self._look_up()  # cheap: send() already refreshed the keys if they were due
        if self._keys is None:
            raise RelayError("no AWS credentials to sign with", relay=self.name)
        copy = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={
                "Content-Type": request.headers["Content-Type"],
                "Host": request.headers["Host"],
            },
        )
        SigV4Auth(self._keys.for_botocore(), _SIGNING_NAME, self.region).add_auth(copy)
        for header in ("X-Amz-Date", "X-Amz-Security-Token", "Authorization"):
            if header in copy.headers:
                request.headers[header] = copy.headers[header]

    def secrets(self) -> list[str]:
        """The key id, secret and session token in use (all scrubbed from error texts)."""
        return self._keys.values() if self._keys else []

    # -- replies -------------------------------------------------------------------------

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``200 {"MessageId": ...}``; SES also puts it in the Message-ID it writes."""
        body = base.response_json(response)
        message_id = body.get("MessageId") if isinstance(body, dict) else None
        return base.SuccessReply(provider_id=str(message_id) if message_id else None)

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """The code from ``x-amzn-ErrorType`` (or the body's ``code``/``__type``), cut as
        botocore does, and the body's ``message``."""
        body = base.response_json(response)
        body = body if isinstance(body, dict) else {}
        raw = response.headers.get("x-amzn-ErrorType") or body.get("code") or body.get("Code")
        code = str(raw or body.get("__type") or "").split(":")[0].rsplit("#", 1)[-1]
        text = str(body.get("message") or body.get("Message") or response.text)
        error, retry_after = _classify(code, text)
        if code in _STALE and self._static is None:
            # The chain's keys are stale; a botocore session caches what it found, so the
            # next send asks a fresh one.
            self._chain, self._session = None, botocore.session.Session(profile=self._profile)
        return base.ErrorReply(
            f"{code}: {text}" if code else text, error=error, retry_after=retry_after
        )
