"""MkDocs hook: the provider lists in the docs come from the scheme registry and the provider
pages, so a new provider edits neither ``mkdocs.yml`` nor a shared table.

A provider page, ``docs/providers/<scheme>.md``, opens with front matter that holds what the
shared tables say about it: ``url`` and ``secret`` (the scheme table of the configuration
page), ``capabilities`` (one cell per column of the capability table) and an optional
``note`` (the notes under that table). This hook

- adds every provider page to the ``Providers`` section of the navigation, after its first
  entry, in the registry's order (:func:`nav_entries`);
- replaces the ``<!-- providers: capabilities -->`` and ``<!-- providers: notes -->`` lines
  of ``providers/index.md`` and the ``<!-- providers: schemes -->`` line of
  ``configuration.md`` with the rows made from the pages (:func:`expand`).

``tests/providers/test_capabilities.py`` reads the capability table through :func:`expand`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mailsdk.url import registered_schemes, scheme_record

DOCS = Path(__file__).resolve().parents[1]
PROVIDERS = "providers"
"""The folder of the provider pages, and the title of their section in the navigation."""

COLUMNS = (
    "text",
    "html",
    "cc",
    "bcc",
    "reply-to",
    "custom headers",
    "attachments",
    "inline images",
    "tags",
    "metadata",
    "raw MIME",
    "idempotency",
    "our DKIM",
    "List-Unsubscribe",
    "open/click tracking",
    "calendar",
)
"""The capability table's columns: the keys of each page's ``capabilities``."""

_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)---\n", re.S)
_TITLE = re.compile(r"^# (.+)$", re.M)


@dataclass(frozen=True)
class ProviderPage:
    """One provider page: its scheme, title and what its front matter says."""

    scheme: str
    title: str
    url: str
    secret: str
    capabilities: dict[str, str]
    note: str | None = None


def _page(scheme: str, path: Path) -> ProviderPage:
    text = path.read_text(encoding="utf-8")
    front = _FRONT_MATTER.match(text)
    title = _TITLE.search(text, front.end()) if front else None
    if front is None or title is None:
        raise ValueError(f"{path}: needs front matter and a '# Title'")
    meta: dict[str, Any] = yaml.safe_load(front.group(1))
    cells = {str(k): str(v) for k, v in meta["capabilities"].items()}
    if tuple(cells) != COLUMNS:
        raise ValueError(f"{path}: capabilities must name {', '.join(COLUMNS)}, in that order")
    title_text = title.group(1).strip()
    return ProviderPage(scheme, title_text, meta["url"], meta["secret"], cells, meta.get("note"))


def provider_pages(docs: Path = DOCS) -> list[ProviderPage]:
    """The provider pages, in the order the registry lists their schemes.

    A page without a registered scheme is an error: its name would be a dead scheme."""
    schemes = [s for s in registered_schemes() if (docs / PROVIDERS / f"{s}.md").is_file()]
    for path in sorted((docs / PROVIDERS).glob("*.md")):
        if path.stem != "index" and path.stem not in schemes:
            raise ValueError(f"{path}: no registered scheme {path.stem!r}")
    pages = []
    for scheme in schemes:
        scheme_record(scheme)  # registered: the page documents a scheme that exists
        pages.append(_page(scheme, docs / PROVIDERS / f"{scheme}.md"))
    return pages


def nav_entries(docs: Path = DOCS) -> list[dict[str, str]]:
    """The navigation entries of the provider pages."""
    return [{page.title: f"{PROVIDERS}/{page.scheme}.md"} for page in provider_pages(docs)]


def _capability_rows(pages: list[ProviderPage]) -> list[str]:
    header = "| provider | " + " | ".join(COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    rows = [
        f"| [{p.title}]({p.scheme}.md) | " + " | ".join(p.capabilities.values()) + " |"
        for p in pages
    ]
    return [header, rule, *rows]


def _scheme_rows(pages: list[ProviderPage]) -> list[str]:
    return [f"| `{p.url}` | [{p.title}]({PROVIDERS}/{p.scheme}.md) | {p.secret} |" for p in pages]


def _notes(pages: list[ProviderPage]) -> list[str]:
    return [f"- **{p.title}** {p.note}" for p in pages if p.note]


_MARKERS = {
    f"{PROVIDERS}/index.md": {
        "<!-- providers: capabilities -->": _capability_rows,
        "<!-- providers: notes -->": _notes,
    },
    "configuration.md": {"<!-- providers: schemes -->": _scheme_rows},
}


def expand(markdown: str, page: str, docs: Path = DOCS) -> str:
    """*markdown* of the docs page *page* (``providers/index.md``) with its markers replaced."""
    if page not in _MARKERS:
        return markdown
    pages = provider_pages(docs)
    for marker, rows in _MARKERS[page].items():
        if marker not in markdown:
            raise ValueError(f"{page}: the line {marker} is missing")
        markdown = markdown.replace(marker, "\n".join(rows(pages)))
    return markdown


def on_config(config: Any, **kwargs: Any) -> Any:
    """Put the provider pages in the navigation's Providers section, after its overview."""
    for section in config["nav"]:
        if isinstance(section, dict) and "Providers" in section:
            entries = section["Providers"]
            entries[1:1] = nav_entries(Path(config["docs_dir"]))
            return config
    raise ValueError("mkdocs.yml: the nav has no Providers section")


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    """Fill in the generated rows of the two pages that list every provider."""
    return expand(markdown, page.file.src_uri, Path(config["docs_dir"]))
