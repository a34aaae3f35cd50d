"""RecipientStatus: one recipient's refusal, readable as the (code, text) pair it replaced."""

from __future__ import annotations

import pytest

import mailsdk
from mailsdk import RecipientsRefused, RecipientStatus, SendResult
from mailsdk.result import recipient_statuses, refusal


def test_a_refusal_reads_its_enhanced_code_and_whether_it_is_permanent() -> None:
    gone = refusal("a@example.com", 550, "5.1.1 No such user")
    assert gone == RecipientStatus("a@example.com", 550, "5.1.1 No such user", "5.1.1", True)
    later = refusal("b@example.com", 452, "4.5.3 Too many recipients")
    assert (later.enhanced_code, later.permanent) == ("4.5.3", False)
    plain = refusal("c@example.com", 550, "mailbox unavailable")
    assert (plain.enhanced_code, plain.permanent) == (None, True)
    assert refusal("d@x", 550, "5.1.10x").enhanced_code is None  # not followed by a space


def test_it_still_reads_like_the_old_tuple() -> None:
    status = refusal("a@example.com", 550, "5.1.1 No such user")
    code, text = status
    assert (code, text) == (550, "5.1.1 No such user")
    assert status[0] == 550
    assert status[1] == "5.1.1 No such user"
    assert len(status) == 2
    assert status == (550, "5.1.1 No such user")
    assert status != (550, "other")
    assert {status: 1}[refusal("a@example.com", 550, "5.1.1 No such user")] == 1


def test_results_and_errors_turn_pairs_into_statuses() -> None:
    result = SendResult("<id@x>", "smtp://h:25", ["a@x"], refused={"b@x": (550, "5.1.1 gone")})
    assert isinstance(result.refused["b@x"], RecipientStatus)
    assert result.refused["b@x"].address == "b@x"
    assert result.refused == {"b@x": (550, "5.1.1 gone")}
    error = RecipientsRefused({"b@x": (451, "4.3.0 later"), "c@x": refusal("c@x", 452, "full")})
    assert [s.permanent for s in error.refused.values()] == [False, False]
    assert error.transient
    assert recipient_statuses({"c@x": (550, "x")})["c@x"].permanent


def test_it_is_exported() -> None:
    assert mailsdk.RecipientStatus is RecipientStatus
    assert "RecipientStatus" in mailsdk.__all__


def test_errors_live_in_errors_and_are_re_exported() -> None:
    from mailsdk import config, credentials, errors

    assert config.ConfigurationError is errors.ConfigurationError is mailsdk.ConfigurationError
    assert credentials.CredentialError is errors.CredentialError is mailsdk.CredentialError
    assert issubclass(errors.CredentialError, errors.ConfigurationError)
    with pytest.raises(ValueError, match="bad"):
        raise errors.ConfigurationError("bad")
