"""Jinja2 templates that make messages: ``Template(subject=..., text=..., html=...)``.

Needs the ``templates`` extra (``pip install 'mailsdk[templates]'``). Templates render in a
sandbox (:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`), because they are often written
by users of an application rather than by its developers; the HTML part is autoescaped and the
text part and subject are not; a variable the context lacks is a
:class:`~mailsdk.MessageError` naming it (``StrictUndefined``) instead of an empty string in
a customer's mail; and the subject must render to one line.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

try:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as _missing:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "mailsdk.templates needs Jinja2: pip install 'mailsdk[templates]'"
    ) from _missing

from mailsdk.errors import MessageError
from mailsdk.message import Message

__all__ = ["RenderedTemplate", "Template"]

# Every character str.splitlines() breaks on: any of them would make a two-line subject.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SUFFIXES = {"subject": ".subject.j2", "text": ".txt.j2", "html": ".html.j2"}


class RenderedTemplate(NamedTuple):
    """The rendered parts of a :class:`Template`; ``text`` or ``html`` is None when the
    template has no such part."""

    subject: str
    text: str | None
    html: str | None


class _PartLoader(jinja2.BaseLoader):
    """Serves the parts given as strings under their own names, and anything else (an
    ``{% include %}`` or ``{% extends %}``) from the template directory, if there is one."""

    def __init__(self, parts: Mapping[str, str], directory: Path | None) -> None:
        self._parts = dict(parts)
        self._files = jinja2.FileSystemLoader(directory) if directory is not None else None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Any]:
        if template in self._parts:
            return self._parts[template], template, lambda: True
        if self._files is None:
            raise jinja2.TemplateNotFound(template)
        return self._files.get_source(environment, template)


def _environment(loader: jinja2.BaseLoader | None, *, autoescape: bool) -> jinja2.Environment:
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        # The text part keeps the newline its file ends with; the subject's is stripped
        # before rendering (see Template.__init__), so editors' final newlines are harmless.
        keep_trailing_newline=True,
    )


def _where(exc: BaseException, label: str) -> str:
    """``label``, or the innermost template and line the traceback of *exc* points at
    (Jinja rewrites tracebacks so that template frames carry the template's line)."""
    found = label
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        if "__jinja_exception__" in frame_globals:
            name = str(frame_globals.get("__name__") or "")
            if not name or name == "<template>":  # compiled from a string
                name = label
            found = f"{os.path.basename(name)}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _compile(
    env: jinja2.Environment, label: str, *, name: str | None = None, source: str | None = None
) -> jinja2.Template:
    """The template *name* from the environment's loader, or *source*; a syntax error is a
    MessageError with the template and line."""
    try:
        if name is not None:
            return env.get_template(name)
        return env.from_string(source or "")
    except jinja2.TemplateSyntaxError as exc:
        where = os.path.basename(exc.filename or exc.name or label)
        raise MessageError(
            f"template {where}, line {exc.lineno}: syntax error: {exc.message}"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise MessageError(f"template {label}: {exc.message or exc.name} not found") from None


def _render(template: jinja2.Template, context: Mapping[str, Any], label: str) -> str:
    """Renders *template*; whatever a template can get wrong is a MessageError naming the
    template part and line (a missing variable, a sandbox refusal, ``{{ 1 / 0 }}``)."""
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        raise MessageError(
            f"template {_where(exc, label)}: {exc.message} (missing from the context)"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise MessageError(f"template {_where(exc, label)}: {exc.name!r} not found") from None
    except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise MessageError(f"template {_where(exc, label)}: {exc}") from None


def _one_line(subject: str, label: str) -> str:
    if _LINE_BREAKS.intersection(subject):
        raise MessageError(
            f"template {label}: the rendered subject has a line break (from a value?); "
            "a subject is one line"
        )
    return subject


class Template:
    """A message template: a subject and a text part, an HTML part, or both (Jinja2 syntax).

    ``Template(subject="Invoice {{ number }}", text="...", html="...")`` compiles the parts at
    once (a syntax error is a :class:`~mailsdk.MessageError` with the line);
    :meth:`from_dir` reads ``NAME.subject.j2``, ``NAME.txt.j2`` and ``NAME.html.j2`` from a
    folder. With *directory*, the parts may ``{% include %}`` or ``{% extends %}`` other
    files of that folder (never files outside it). *names* maps ``subject``, ``text`` and
    ``html`` to the names errors give those parts (:meth:`from_dir` passes the file names).
    *inline_css* makes :meth:`message` build ``Message(..., inline_css=True)`` (the ``css``
    extra: the rendered HTML's ``<style>`` rules move into ``style=`` attributes).

    Rendering is sandboxed; the HTML part is autoescaped (``{{ value | safe }}`` opts a value
    out), the text part and the subject are not; a variable missing from the context is a
    MessageError naming it, and a subject that renders to more than one line is refused.
    Only the subject's own trailing newline (as editors write at the end of a file) is
    removed from its source; nothing is folded or stripped after rendering.
    """

    def __init__(
        self,
        subject: str,
        text: str | None = None,
        html: str | None = None,
        *,
        directory: str | os.PathLike[str] | None = None,
        names: Mapping[str, str] | None = None,
        inline_css: bool = False,
    ) -> None:
        if text is None and html is None:
            raise MessageError("a template needs a text part, an html part or both")
        for part, source in (("subject", subject), ("text", text), ("html", html)):
            if source is not None and not isinstance(source, str):
                raise MessageError(f"template {part} is {type(source).__name__}, not text")
        self.inline_css = inline_css
        """Whether :meth:`message` asks Message to inline the HTML's CSS."""
        self._labels = {part: (names or {}).get(part, part) for part in _SUFFIXES}
        folder = Path(directory) if directory is not None else None
        sources = {"subject": subject.rstrip("\r\n")}
        if text is not None:
            sources["text"] = text
        if html is not None:
            sources["html"] = html
        parts = {self._labels[p]: s for p, s in sources.items()}
        loader = _PartLoader(parts, folder)
        plain = _environment(loader, autoescape=False)
        # Files included from the HTML part are autoescaped too: one environment per mode.
        markup = _environment(loader, autoescape=True)
        self._compiled: dict[str, jinja2.Template] = {}
        for part in sources:
            env = markup if part == "html" else plain
            self._compiled[part] = _compile(env, self._labels[part], name=self._labels[part])
        self.sources: Mapping[str, str] = types.MappingProxyType(sources)
        """The source of each part the template has (``subject``, ``text``, ``html``)."""

    @classmethod
    def from_dir(
        cls, directory: str | os.PathLike[str], name: str, *, inline_css: bool = False
    ) -> Template:
        """The template *name* in *directory*: ``NAME.subject.j2`` (required) and
        ``NAME.txt.j2`` and/or ``NAME.html.j2``; raises MessageError when the subject or
        both bodies are missing. *inline_css* as for :class:`Template`."""
        folder = Path(directory)
        if not name or Path(name).name != name or name in (".", ".."):
            raise MessageError(f"template name {name!r} is not a plain file name")
        sources: dict[str, str | None] = {}
        names: dict[str, str] = {}
        for part, suffix in _SUFFIXES.items():
            path = folder / f"{name}{suffix}"
            names[part] = path.name
            try:
                sources[part] = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                sources[part] = None
            except (OSError, UnicodeDecodeError) as exc:
                raise MessageError(f"template {path}: {exc}") from None
        subject = sources["subject"]
        if subject is None:
            raise MessageError(f"template {name!r}: {folder / names['subject']} is missing")
        if sources["text"] is None and sources["html"] is None:
            raise MessageError(
                f"template {name!r}: neither {names['text']} nor {names['html']} in {folder}"
            )
        return cls(
            subject,
            sources["text"],
            sources["html"],
            directory=folder,
            names=names,
            inline_css=inline_css,
        )

    def render(self, context: Mapping[str, Any] | None = None) -> RenderedTemplate:
        """The subject, text and html rendered with *context*; raises MessageError."""
        values: Mapping[str, Any] = context if context is not None else {}
        label = self._labels["subject"]
        subject = _one_line(_render(self._compiled["subject"], values, label), label)
        text = html = None
        if "text" in self._compiled:
            text = _render(self._compiled["text"], values, self._labels["text"])
        if "html" in self._compiled:
            html = _render(self._compiled["html"], values, self._labels["html"])
        return RenderedTemplate(subject, text, html)

    def message(self, context: Mapping[str, Any] | None = None, /, **fields: Any) -> Message:
        """A validated :class:`~mailsdk.Message` from the rendered parts and *fields*
        (``from_``, ``to``, ``cc``, ``attachments``, ``headers``, ... as
        :class:`~mailsdk.Message` takes them; ``inline_css=`` overrides the template's
        setting); raises MessageError."""
        taken = sorted({"subject", "text", "html"}.intersection(fields))
        if taken:
            raise MessageError(f"{', '.join(taken)} come(s) from the template, not a keyword")
        subject, text, html = self.render(context)
        if self.inline_css:
            fields.setdefault("inline_css", True)
        return Message(subject=subject, text=text, html=html, **fields)

    def __repr__(self) -> str:
        return f"Template({', '.join(self._labels[p] for p in self._compiled)})"
