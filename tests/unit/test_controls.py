"""allowed_recipients patterns: case, IDNA and wildcards (mailsdk.controls)."""

from __future__ import annotations

import pytest

from mailsdk import ConfigurationError
from mailsdk.controls import _allowed, check_allowed_recipients, check_redirect_to


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("alice@example.com", True),
        ("Alice@EXAMPLE.COM", True),
        ("alice@sub.example.com", False),  # *@example.com is that domain only
        ("ops@partner.test", True),
        ("dev@partner.test", False),
        ("a@shop.bücher.de", True),
        ("a@shop.xn--bcher-kva.de", True),  # the same domain, IDNA-encoded
        ("OPS@xn--bcher-kva.de", True),
        ("qa1@labs.test", True),
        ("qa12@labs.test", False),
        ("customer@gmail.test", False),
    ],
)
def test_patterns(address: str, allowed: bool) -> None:
    patterns = check_allowed_recipients(
        "*@Example.com, ops@partner.test, *@*.bücher.de, ops@Bücher.DE, qa?@labs.test"
    )
    assert patterns is not None
    assert _allowed(address, patterns) is allowed


def test_none_and_blank_items() -> None:
    assert check_allowed_recipients(None) is None
    assert check_allowed_recipients(["", " *@a.test "]) == ("*@a.test",)
    with pytest.raises(ConfigurationError, match="must be text"):
        check_allowed_recipients([3])


def test_redirect_to_is_one_address_with_its_display_name() -> None:
    assert check_redirect_to("QA Team <QA@Example.com>") == "QA Team <QA@example.com>"
    assert check_redirect_to('"QA, Staging" <qa@example.com>') == '"QA, Staging" <qa@example.com>'
    assert check_redirect_to(" qa@example.com ") == "qa@example.com"
    assert check_redirect_to("  ") is None
    with pytest.raises(ConfigurationError, match="redirect_to"):
        check_redirect_to(["qa@example.com"])
