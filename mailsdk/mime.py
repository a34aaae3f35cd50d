"""Message -> MIME: the public names of rendering, each defined in its own module.

:class:`OutgoingMessage` and :func:`render` live in :mod:`mailsdk.outgoing`, the stdlib
reference renderer in :mod:`mailsdk._stdmime`, the hot-path renderer in
:mod:`mailsdk._fastmime`; this module re-exports them where they have always been imported.
"""

from __future__ import annotations

from mailsdk._stdmime import MAX_LINE_OCTETS, boundary_for, build_email_message, render_reference
from mailsdk.outgoing import HandoverHook, OutgoingMessage, render

__all__ = [
    "MAX_LINE_OCTETS",
    "HandoverHook",
    "OutgoingMessage",
    "boundary_for",
    "build_email_message",
    "render",
    "render_reference",
]
