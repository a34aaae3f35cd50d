"""MkDocs hook: show Sphinx cross-reference roles left in docstrings as plain code.

mailsdk's docstrings use ``:class:`~mailsdk.Sender``` and the like, which mkdocstrings does not
interpret; after Markdown they read ``:class:<code>~mailsdk.Sender</code>``. This drops the
role and, for a ``~`` target, keeps only the last dotted component, as Sphinx would show it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|mod|attr|exc|data|obj):<code>(~?)([\w.]+)</code>")


def _shown(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles in one rendered page."""
    return _ROLE.sub(_shown, html)
