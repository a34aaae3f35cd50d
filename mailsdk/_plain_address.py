"""Recognise the plain ASCII addresses that email-validator would return unchanged.

email-validator costs about 35 µs an address (its IDNA and Unicode checks run on every
domain), which dominates a message with many recipients. Most addresses are a dot-atom local
part at a lower-case ASCII host name; for those its answer is known without asking: the
address is valid, its normalized form is itself, and so is its ASCII form. This module
recognises only that subset; every other address (upper case or non-ASCII domains, quoted
local parts, "xn--" and other "--" labels, RFC 2142 role names it lower-cases, special-use
domains, domain literals, anything near a length limit) still goes to email-validator, so the
answer for those is email-validator's own. ``tests/unit/test_plain_address.py`` checks the
subset against email-validator property by property.
"""

from __future__ import annotations

import re

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

__all__ = ["is_plain_address"]

# The same options mailsdk passes to email-validator (test_environment=True lets "test" be).
_SPECIAL_USE = [d for d in email_validator.SPECIAL_USE_DOMAIN_NAMES if d != "test"]
_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# The local part is a dot-atom of at most 64 characters (strict mode's limit, so the answer
# holds with any of email-validator's module defaults). The domain is two or more lower-case
# LDH labels of at most 63 characters, with no "--" anywhere (which rules out "xn--" labels
# and RFC 5890's reserved ones), ending in a letter (email-validator asks that of a TLD).
_PLAIN = re.compile(
    rf"(?=[^@]{{1,64}}@)[{_ATEXT}]+(?:\.[{_ATEXT}]+)*"
    rf"@(?!.*--)(?:{_LABEL}\.)+(?:[a-z0-9][a-z0-9-]{{0,61}})?[a-z]",
    re.ASCII,
)
_SPECIAL_SUFFIX = re.compile(
    r"(?:@|\.)(?:" + "|".join(re.escape(d) for d in _SPECIAL_USE) + r")\Z", re.ASCII
)
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
# Mapped onto a probe domain by the caller before validation; never taken here.
_LOCAL_HOST_DOMAINS = ("@localhost", ".localdomain")
_MAX_LENGTH = 254


def is_plain_address(email: str) -> bool:
    """True when email-validator would accept *email* and normalize it to itself.

    Then both its normalized form and its ASCII form are *email* exactly. False says
    nothing: the address must go to email-validator.
    """
    return (
        len(email) <= _MAX_LENGTH
        and _PLAIN.fullmatch(email) is not None
        and _SPECIAL_SUFFIX.search(email) is None
        and not email.endswith(_LOCAL_HOST_DOMAINS)
        and email[: email.index("@")].lower() not in _ROLE_NAMES
    )
