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
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
_MAX_LENGTH = 254


def _alternatives(words: frozenset[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words))


# One match in C decides it (string tests after a match would cost more than the match):
# - local part: a dot-atom (no dot at either end, none doubled) of at most 64 characters
#   (strict mode's limit, so the answer holds with any of email-validator's module
#   defaults), not an RFC 2142 role name, which email-validator lower-cases;
# - domain: two or more lower-case LDH labels of 1 to 63 characters, none starting or ending
#   with a hyphen and none holding "--" (which rules out "xn--" IDNA labels and RFC 5890's
#   reserved "ab--" ones), the last ending in a letter (email-validator asks that of a TLD)
#   and not a special-use name (a whole special-use name with dots only makes this set
#   larger than needed, which is safe) nor "localdomain" (mapped onto a probe domain by the
#   caller: localhost.localdomain).
_PLAIN = re.compile(
    rf"(?=[^@]{{1,64}}@)(?!(?i:{_alternatives(_ROLE_NAMES)})@)"
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@"
    r"(?:(?=[a-z0-9-]{1,63}\.)[a-z0-9]+(?:-[a-z0-9]+)*\.)+"
    rf"(?![a-z0-9-]{{64}})(?!(?:{_alternatives(_SPECIAL_LAST_LABELS | {'localdomain'})})\Z)"
    r"[a-z0-9]+(?:-[a-z0-9]+)*(?<=[a-z])",
    re.ASCII,
)


def is_plain_address(email: str) -> bool:
    """True when email-validator would accept *email* and normalize it to itself.

    Then both its normalized form and its ASCII form are *email* exactly. False says
    nothing: the address must go to email-validator.
    """
    return len(email) <= _MAX_LENGTH and _PLAIN.fullmatch(email) is not None
