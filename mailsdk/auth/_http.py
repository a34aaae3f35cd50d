"""The requests session msal and google-auth use: our CA file and timeout on every call."""

from __future__ import annotations

from typing import Any


def requests_session(ca_file: str | None, timeout: float) -> Any:
    """A ``requests.Session`` that passes ``verify=ca_file`` and ``timeout`` per request.

    Per request, because requests lets ``REQUESTS_CA_BUNDLE`` override a session-wide
    ``verify``, and a CA the caller named must win over the environment's bundle.
    """
    import requests

    class _Session(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            if ca_file is not None:
                kwargs["verify"] = ca_file
            kwargs.setdefault("timeout", timeout)
            return super().request(method, url, *args, **kwargs)

    return _Session()
