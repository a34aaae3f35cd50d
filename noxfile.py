"""Sessions: tests, lint, typecheck, bench, docs, django (per Django release), flask."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole test suite (interop tests need Postfix: scripts/setup-dev.sh installs it)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "mailsdk")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (benchmarks/README.md): render, throughput, merge, failover, memory, outbox,
    dkim, telemetry, html2text, templates, instructions."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", *session.posargs)


# Django versions the integration supports, each with a Python it runs on (Django 6.x needs
# Python 3.12 or later).
DJANGO_VERSIONS = [("3.11", "5.2"), ("3.12", "6.1")]


@nox.session
@nox.parametrize(("python", "django"), DJANGO_VERSIONS, ids=["5.2", "6.1"])
def django(session: nox.Session, django: str) -> None:
    """The Django integration tests against one Django release (5.2 LTS or 6.1)."""
    session.install("-e", ".[dev]", f"django~={django}.0")
    session.run(
        "pytest",
        "tests/integrations/test_django_backend.py",
        "tests/integrations/test_django_mailers.py",
        *session.posargs,
    )


@nox.session
def flask(session: nox.Session) -> None:
    """The Flask integration tests."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/integrations/test_flask_mail.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation (mkdocs-material, mkdocstrings) with --strict.

    The site goes to the session's temporary folder unless posargs say otherwise
    (``nox -s docs -- --site-dir site``).
    """
    session.install("-e", ".[docs]")
    site = session.posargs or ["--site-dir", f"{session.create_tmp()}/site"]
    session.run("mkdocs", "build", "--strict", *site)
