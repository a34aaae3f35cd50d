"""The XOAUTH2 exchange reply by reply: success, Google's 334 error challenge, Microsoft's
direct 535, a temporary 454; and the client response's exact bytes."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import aiosmtplib
import pytest
from pydantic import SecretStr

from mailsdk import RelayError, TransientError
from mailsdk.auth import AccessToken
from mailsdk.auth._xoauth2 import XOAuth2Refused, initial_response, xoauth2_exchange

TOKEN = AccessToken(SecretStr("ya29.token"), datetime(2030, 1, 1, tzinfo=timezone.utc))


class ScriptedSMTP:
    """Answers each command with the next scripted reply; records what was sent."""

    def __init__(self, *replies: tuple[int, str]) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[bytes, ...]] = []

    async def execute_command(self, *args: bytes, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.sent.append(args)
        code, text = self.replies.pop(0)
        return aiosmtplib.SMTPResponse(code, text)


def challenge(**fields: str) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def test_client_response_is_user_and_bearer_token() -> None:
    raw = base64.b64decode(initial_response("someuser@example.com", TOKEN))
    assert raw == b"user=someuser@example.com\x01auth=Bearer ya29.token\x01\x01"


async def test_235_is_success() -> None:
    smtp = ScriptedSMTP((235, "2.7.0 Accepted"))
    await xoauth2_exchange(smtp, "u@example.com", TOKEN, relay="r", host="h")  # type: ignore[arg-type]
    assert smtp.sent == [(b"AUTH", b"XOAUTH2", initial_response("u@example.com", TOKEN))]


async def test_google_challenge_is_read_then_answered_with_an_empty_line() -> None:
    smtp = ScriptedSMTP(
        (334, challenge(status="401", schemes="bearer", scope="https://mail.google.com/")),
        (535, "5.7.8 Username and Password not accepted. - gsmtp"),
    )
    with pytest.raises(XOAuth2Refused) as info:
        await xoauth2_exchange(smtp, "u@example.com", TOKEN, relay="r", host="smtp.gmail.com")  # type: ignore[arg-type]
    assert smtp.sent[1] == (b"",)
    refused = info.value
    assert refused.may_refresh
    assert refused.token is TOKEN
    assert isinstance(refused.error, RelayError)
    assert refused.error.code == 535
    assert "status 401" in str(refused.error)
    assert refused.error.hint is not None
    assert "https://mail.google.com/" in refused.error.hint
    assert "ya29" not in str(refused.error)


async def test_status_400_is_not_worth_a_refresh() -> None:
    smtp = ScriptedSMTP((334, challenge(status="400", schemes="bearer")), (535, "5.7.8 no"))
    with pytest.raises(XOAuth2Refused) as info:
        await xoauth2_exchange(smtp, "u@example.com", TOKEN, relay="r", host="h")  # type: ignore[arg-type]
    assert not info.value.may_refresh


async def test_microsoft_direct_535_gets_the_exchange_hint() -> None:
    smtp = ScriptedSMTP((535, "5.7.3 Authentication unsuccessful [SN4PR0601CA0015.namprd06]"))
    with pytest.raises(XOAuth2Refused) as info:
        await xoauth2_exchange(  # type: ignore[arg-type]
            smtp, "u@contoso.com", TOKEN, relay="r", host="smtp.office365.com"
        )
    assert info.value.may_refresh
    assert info.value.error.enhanced_code == "5.7.3"
    assert "SMTP.SendAsApp" in (info.value.error.hint or "")


async def test_temporary_failure_is_raised_as_is() -> None:
    smtp = ScriptedSMTP((454, "4.7.0 Temporary authentication failure"))
    with pytest.raises(TransientError):
        await xoauth2_exchange(smtp, "u@example.com", TOKEN, relay="r", host="h")  # type: ignore[arg-type]
