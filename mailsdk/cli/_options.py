"""Options several commands declare alike, so they read and behave the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mailsdk.cli._shared import json_option

_F = TypeVar("_F", bound=Callable[..., Any])


def timeout_option(default: float, help: str) -> Callable[[_F], _F]:
    """``--timeout SECONDS``: at least 0.1, *default* shown in ``--help``."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=default,
        show_default=True,
        help=help,
    )


def json_flag(help: str) -> Callable[[_F], _F]:
    """``--json``: eager, so errors raised while parsing the other options print as JSON too."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=json_option,
        help=help,
    )
