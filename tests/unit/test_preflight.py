"""mailsdk.preflight: what can be known about a URL without a secret or a network."""

from __future__ import annotations

import pytest

from mailsdk.config import ConfigurationError
from mailsdk.preflight import check_url, check_urls, missing_extra_hint


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("smpt", "smtp"), ("stmps", "smtps"), ("sendgird", "sendgrid"), ("postmrk", "postmark")],
)
def test_a_scheme_typo_names_the_closest_scheme(typo: str, meant: str) -> None:
    with pytest.raises(ConfigurationError, match=f"did you mean {meant}://"):
        check_url(f"{typo}://user@mail.example.com")


def test_an_unrelated_scheme_gets_no_guess() -> None:
    with pytest.raises(ConfigurationError, match="unknown scheme 'gopher'") as caught:
        check_url("gopher://mail.example.com")
    assert "did you mean" not in str(caught.value)


def test_an_unknown_option_is_found_without_the_secret() -> None:
    # smtp://user@host needs a secret from keyring; the check must not look it up.
    with pytest.raises(ConfigurationError, match="tmeout"):
        check_url("smtp://reports@mail.example.com:587?tmeout=5")


def test_a_good_url_passes_and_comes_back_parsed() -> None:
    (parsed,) = check_urls("smtp://reports@mail.example.com:587?timeout=5")
    assert parsed.host == "mail.example.com"
    assert parsed.password is None  # the stand-in secret never leaves the check


def test_the_stand_in_secret_never_shows_in_an_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_url("smtp://reports@mail.example.com?tls=none")  # AUTH without TLS
    assert "stand-in" not in str(caught.value)


def test_a_missing_module_names_its_extra() -> None:
    exc = ModuleNotFoundError("No module named 'aiosmtpd'", name="aiosmtpd")
    assert missing_extra_hint(exc).endswith("pip install 'mailsdk[devserver]'")
    exc = ModuleNotFoundError("No module named 'botocore.session'", name="botocore.session")
    assert "pip install 'mailsdk[ses]'" in missing_extra_hint(exc)
