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
# A domain whose last label is one of these is left to email-validator (a whole special-use
# name with dots only makes this set larger than needed, which is safe).
_SPECIAL_LAST_LABELS = frozenset(d.rpartition(".")[2] for d in _SPECIAL_USE)
_ATEXT = r"A-Za-z0-9_!#$%&'*+\-/=?^`{|}~"
# Local part: at most 64 atext characters and dots (strict mode's limit, so the answer holds
# with any of email-validator's module defaults). Domain: two or more lower-case LDH labels
# of 1 to 63 characters, the last ending in a letter (email-validator asks that of a TLD).
# The dot and hyphen rules the pattern leaves out are checked after it, as string tests
# are cheaper than the equivalent nested groups.
_PLAIN = re.compile(
    rf"([{_ATEXT}.]{{1,64}})@((?:[a-z0-9-]{{1,63}}\.)+([a-z0-9-]{{0,62}}[a-z]))", re.ASCII
)
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_MAX_LENGTH = 254


def is_plain_address(email: str) -> bool:
    """True when email-validator would accept *email* and normalize it to itself.

    Then both its normalized form and its ASCII form are *email* exactly. False says
    nothing: the address must go to email-validator.
    """
    if len(email) > _MAX_LENGTH:
        return False
    match = _PLAIN.fullmatch(email)
    if match is None:
        return False
    local, domain, last_label = match.groups()
    return not (
        # A dot-atom: no dot at either end of the local part, no two in a row.
        local[0] == "."
        or local[-1] == "."
        or ".." in local
        # No label starts or ends with a hyphen; no "--" anywhere, which rules out "xn--"
        # labels (IDNA) and RFC 5890's reserved "ab--" ones.
        or domain[0] == "-"
        or ".-" in domain
        or "-." in domain
        or "--" in domain
        or last_label in _SPECIAL_LAST_LABELS
        # Mapped onto a probe domain by the caller (localhost.localdomain).
        or last_label == "localdomain"
        # RFC 2142 role names, which email-validator lower-cases.
        or local.lower() in _ROLE_NAMES
    )
