"""``mailsdk send-many``: a mail merge from a CSV file and a template, with a results file."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import html
import json
import re
import string
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailsdk.cli._shared import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    ROUTE_HELP,
    URL_HELP,
    describe,
    exit_code_for,
    fail,
    load_settings,
    route_option,
    sender_options,
    url_values,
)
from mailsdk.errors import MailError, MessageError
from mailsdk.message import Address, Attachment, Message
from mailsdk.options import SenderOptions
from mailsdk.result import SendResult
from mailsdk.sender import AsyncSender

if TYPE_CHECKING:
    import jinja2


_TEMPLATE_FIELDS = ("to", "from", "subject", "text", "html")
_TEMPLATE_LIST_FIELDS = ("reply_to", "cc", "bcc", "attachments")
# An address template "Display name <address>": both halves may hold placeholders.
_NAME_AND_ADDRESS = re.compile(r"(?s)^(?P<name>[^<]*)<(?P<address>[^<>]*)>\s*$")
# The parts of a Jinja2 template set: NAME.subject.j2 and NAME.txt.j2 and/or NAME.html.j2, as
# mailsdk.templates names them (not imported here: that module needs Jinja2).
_SET_SUFFIXES = (".subject.j2", ".txt.j2", ".html.j2")
_ENGINES = ("auto", "jinja2", "string")
_SIMPLE_HEADERS = {
    "subject": "subject",
    "from": "from",
    "to": "to",
    "reply-to": "reply_to",
    "cc": "cc",
    "bcc": "bcc",
}


@dataclasses.dataclass
class _Template:
    """A mail-merge template: string.Template placeholders ($column, ${column}), or Jinja2
    (``{{ column }}``) when *engine* is ``jinja2``."""

    fields: dict[str, str]
    lists: dict[str, list[str]]
    headers: dict[str, str]
    base: Path
    engine: str = "string"
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    fixed_from: str | None = None
    """The sender from --from or MAILSDK_FROM: an address, never a template."""
    _compiled: dict[tuple[str, bool], jinja2.Template] = dataclasses.field(
        default_factory=dict, repr=False
    )

    @classmethod
    def load(cls, path: Path, engine: str = "string") -> _Template:
        name = path.name.lower()
        # "statement.toml.j2" is a TOML template whose values are Jinja2 templates.
        suffix = Path(name[:-3]).suffix if name.endswith(".j2") else path.suffix.lower()
        if suffix == ".toml":
            from mailsdk.settings import read_toml

            data: Any = read_toml(path)
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = _parse_simple_template(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError("a template must be a table of subject, text, html, ...")
        known = (*_TEMPLATE_FIELDS, *_TEMPLATE_LIST_FIELDS, "headers")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown template key(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        fields = {k: data[k] for k in _TEMPLATE_FIELDS if k in data}
        lists = {}
        for key in _TEMPLATE_LIST_FIELDS:
            value = data.get(key, [])
            lists[key] = [value] if isinstance(value, str) else list(value)
        headers = dict(data.get("headers", {}))
        for value in (
            *fields.values(),
            *headers.values(),
            *(v for vs in lists.values() for v in vs),
        ):
            if not isinstance(value, str):
                raise ValueError(f"template values must be strings, not {type(value).__name__}")
        if "subject" not in fields:
            raise ValueError("the template has no subject")
        if "text" not in fields and "html" not in fields:
            raise ValueError("the template has neither text nor html")
        return cls(fields, lists, headers, path.parent, engine)

    @classmethod
    def load_set(cls, directory: Path, name: str) -> _Template:
        """The Jinja2 template set NAME.subject.j2, NAME.txt.j2, NAME.html.j2 in *directory*;
        raises MessageError (or ImportError without Jinja2)."""
        from mailsdk.templates import Template

        template = Template.from_dir(directory, name)  # checks and compiles every part
        fields = dict(template.sources)
        labels = {
            part: f"{name}{suffix}"
            for part, suffix in zip(("subject", "text", "html"), _SET_SUFFIXES, strict=True)
        }
        lists: dict[str, list[str]] = {key: [] for key in _TEMPLATE_LIST_FIELDS}
        return cls(fields, lists, {}, directory, "jinja2", labels)

    def _all(self) -> Iterator[str]:
        yield from self.fields.values()
        yield from self.headers.values()
        for values in self.lists.values():
            yield from values

    def placeholders(self) -> set[str]:
        """Every column name the template uses; raises ValueError on a malformed one.

        A Jinja2 template is compiled instead (a syntax error raises MessageError) and
        names none: ``{% if column is defined %}`` makes a column optional, so a missing
        variable is reported per row when it is rendered."""
        if self.engine == "jinja2":
            for key, text in self.fields.items():
                self._jinja(text, key, escape=key == "html")
            for key, values in (*self.lists.items(), *self.headers.items()):
                for text in [values] if isinstance(values, str) else values:
                    self._jinja(text, key, escape=False)
            return set()
        names: set[str] = set()
        for text in self._all():
            for match in string.Template.pattern.finditer(text):
                if match.group("invalid") is not None:
                    raise ValueError(f"malformed placeholder in template text {text[:40]!r}")
                name = match.group("named") or match.group("braced")
                if name:
                    names.add(name)
        return names

    def _jinja(self, text: str, label: str, escape: bool) -> jinja2.Template:
        """*text* compiled (once) in the sandbox, autoescaped when *escape*."""
        compiled = self._compiled.get((text, escape))
        if compiled is None:
            import jinja2 as _jinja2

            from mailsdk.templates import _compile, _environment

            # Includes come from the template's folder; the loader refuses paths out of it.
            loader = _jinja2.FileSystemLoader(self.base)
            env = _environment(loader, autoescape=escape)
            compiled = _compile(env, self.labels.get(label, label), source=text)
            self._compiled[(text, escape)] = compiled
        return compiled

    def render(self, row: Mapping[str, str | None], email_column: str) -> Message:
        """The message for one CSV row (to: the template's ``to``, else the row's address);
        raises MessageError or OSError. A None value (a short row) is an empty string to
        string.Template and a missing variable to Jinja2."""

        # The row's values once per row, not once per field filled.
        given = {k: v for k, v in row.items() if v is not None}
        # {{ row["first name"] }} reaches a column whose name is not an identifier.
        context = {"row": given, **given}
        plain = {k: v or "" for k, v in row.items()}
        escaped: dict[str, str] = {}

        def fill(text: str, escape: bool = False, label: str = "") -> str:
            if self.engine == "jinja2":
                from mailsdk.templates import _render

                return _render(
                    self._jinja(text, label, escape), context, self.labels.get(label, label)
                )
            if escape and not escaped:
                escaped.update((k, html.escape(v)) for k, v in plain.items())
            return string.Template(text).substitute(escaped if escape else plain)

        def subject(text: str) -> str:
            rendered = fill(text, label="subject")
            if self.engine == "jinja2":
                from mailsdk.templates import _one_line

                _one_line(rendered, self.labels.get("subject", "subject"))
            return rendered

        def address(text: str, label: str, literal: bool = False) -> Address | str:
            # "$name <$email>" is split before filling: the name and the address are filled
            # separately, so that a value like "Doe, Jane" or 'a "b" c' stays one display
            # name instead of being re-parsed as a list of addresses.
            def half(value: str) -> str:
                # A literal (--from) is split the same way but never filled.
                return value if literal else fill(value, label=label)

            match = _NAME_AND_ADDRESS.match(text)
            if match is None:
                return half(text).strip()
            name = half(match["name"]).strip()
            if len(name) >= 2 and name[0] == name[-1] == '"':
                name = name[1:-1]  # the template quoted the name itself
            return Address(name=name, email=half(match["address"]).strip())

        f = self.fields
        if self.fixed_from is not None:
            sender: Address | str | None = address(self.fixed_from, "from", literal=True)
        else:
            sender = address(f["from"], "from") if "from" in f else None
        return Message(
            from_=sender,
            to=[address(f["to"], "to") if "to" in f else row[email_column] or ""],
            cc=[address(v, "cc") for v in self.lists["cc"]],
            bcc=[address(v, "bcc") for v in self.lists["bcc"]],
            reply_to=[address(v, "reply_to") for v in self.lists["reply_to"]],
            subject=subject(f["subject"]),
            text=fill(f["text"], label="text") if "text" in f else None,
            # Column values are escaped in HTML (Jinja2: autoescaped): a name like "<b>" must
            # not become markup.
            html=fill(f["html"], escape=True, label="html") if "html" in f else None,
            attachments=[
                self._attachment(fill(p, label="attachments")) for p in self.lists["attachments"]
            ],
            headers={name: fill(value, label=name) for name, value in self.headers.items()},
        )

    def _attachment(self, name: str) -> Attachment:
        # The path comes partly from the CSV: it must not reach outside the template's folder.
        base = self.base.resolve()
        path = (base / name).resolve()
        if not path.is_relative_to(base):
            raise MessageError(f"attachment {name!r} is outside the template's directory")
        return Attachment.from_path(path)


def _load_template(path: Path, engine: str) -> _Template:
    """The template *path* names: a file, or a Jinja2 set DIR/NAME (DIR/NAME.subject.j2,
    or any of the set's files, names it too). Raises ValueError, OSError, MessageError and,
    for Jinja2 without the extra, ImportError."""
    for suffix in _SET_SUFFIXES:
        if path.name.endswith(suffix) and path.name != suffix:
            stem = path.name[: -len(suffix)]
            if (path.parent / f"{stem}.subject.j2").is_file():
                path = path.parent / stem
            break
    if not path.is_file() and (path.parent / f"{path.name}.subject.j2").is_file():
        if engine == "string":
            raise ValueError("a template set (NAME.subject.j2, ...) is Jinja2, not --engine string")
        return _Template.load_set(path.parent, path.name)
    if not path.is_file():
        raise ValueError("no such template file, nor a template set NAME.subject.j2")
    if engine == "auto":
        engine = "jinja2" if path.name.lower().endswith(".j2") else "string"
    if engine == "jinja2":
        import mailsdk.templates  # noqa: F401  -- fails early, naming the extra to install
    return _Template.load(path, engine)


def _parse_simple_template(text: str) -> dict[str, Any]:
    """``Subject: ...`` (and From, To, Reply-To, Cc, Bcc) lines, a blank line, the text."""
    head, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    if not sep:
        raise ValueError("a simple template is header lines, a blank line, then the text")
    data: dict[str, Any] = {"text": body}
    for line in head.split("\n"):
        name, colon, value = line.partition(":")
        key = _SIMPLE_HEADERS.get(name.strip().lower())
        if not colon or key is None:
            raise ValueError(
                f"template line {line!r}: expected one of Subject, From, To, Reply-To, Cc, Bcc"
            )
        data[key] = value.strip()
    return data


_RESULT_COLUMNS = ("row", "email", "status", "message_id", "relay", "code", "error")
_STATUS_EXIT = {"sent": 0, "invalid": 1, "refused": 2, "failed": 3, "unknown": 4}

Outcome = SendResult | MailError | Exception
"""How one row ended: a result, our error, or a fault that escaped classification."""


def _row_result(number: int, email: str, outcome: Outcome) -> dict[str, Any]:
    """The results-file row for CSV row *number* (1 is the first row after the header)."""
    base = {"row": number, "email": email, "message_id": "", "relay": "", "code": ""}
    if isinstance(outcome, SendResult):
        last = outcome.attempts[-1] if outcome.attempts else None
        refused = list(outcome.refused.items())
        return {
            **base,
            "status": "refused" if refused else "sent",
            "message_id": outcome.message_id,
            "relay": outcome.relay,
            "code": refused[0][1][0] if refused else (last.code if last else ""),
            "error": " | ".join(f"{addr}: {code} {text}" for addr, (code, text) in refused),
        }
    if isinstance(outcome, MailError):
        code = exit_code_for(outcome)
        status = {EXIT_UNKNOWN: "unknown", EXIT_REFUSED: "refused", EXIT_BAD_INPUT: "invalid"}
        return {
            **base,
            "status": status.get(code, "failed"),
            "relay": outcome.relay or "",
            "code": outcome.code if outcome.code is not None else "",
            "error": describe(outcome).replace("\n", " | "),
        }
    # A network fault that escaped classification comes from before the hand-over (the data
    # phase reports its own losses): failed. Anything else cannot be placed: unknown, so
    # that nobody re-sends the row blindly.
    network = isinstance(outcome, (OSError, TimeoutError))
    return {
        **base,
        "status": "failed" if network else "unknown",
        "error": f"{type(outcome).__name__}: {outcome}",
    }


@click.command("send-many")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recipients, one per row, with a header row; an 'email' column is required.",
)
@click.option(
    "--template",
    "template_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML or JSON (subject, text, html, ...) or a simple 'Subject: ...' file with "
    "$column placeholders; with a .j2 suffix (t.toml.j2), Jinja2 {{ column }} instead. "
    "DIR/NAME (or DIR/NAME.subject.j2) is the Jinja2 set NAME.subject.j2, NAME.txt.j2, "
    "NAME.html.j2.",
)
@click.option(
    "--engine",
    type=click.Choice(_ENGINES),
    default="auto",
    show_default=True,
    help="Template language; auto: Jinja2 for .j2 files and template sets (needs "
    "mailsdk[templates]), string.Template otherwise.",
)
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-recipient result CSV (default: <csv name>-results.csv).",
)
@click.option("--from", "from_", metavar="ADDRESS", help="Sender (default: MAILSDK_FROM).")
@click.option("--url", "urls", multiple=True, metavar="URL|NAME", help=URL_HELP)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Messages in flight at once.",
)
@click.option("--route", metavar="NAME", callback=route_option, help=ROUTE_HELP)
@click.option("--email-column", default="email", show_default=True)
@click.option("--dry-run", is_flag=True, help="Render every row, print the first, send nothing.")
@click.option(
    "--outbox",
    "outbox_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Go through this durable outbox: a rerun after Ctrl-C skips rows already sent.",
)
@click.pass_context
def command(
    ctx: click.Context,
    csv_path: Path,
    template_path: Path,
    engine: str,
    results_path: Path | None,
    from_: str | None,
    urls: tuple[str, ...],
    concurrency: int,
    route: str | None,
    email_column: str,
    dry_run: bool,
    outbox_path: Path | None,
) -> None:
    """Mail-merge: one message per CSV row from a template, with a progress bar, and a
    result CSV (email, status, message_id, relay, code, error) written as sends finish.

    \b
    template.toml:
        subject = "Your report, $name"
        text = "Hello $name,\\nyour balance is $balance."

    Jinja2 ({{ name }}, with mailsdk[templates]): a template.toml.j2 file, or DIR/NAME for
    NAME.subject.j2 with NAME.txt.j2 and/or NAME.html.j2 in DIR.

    Statuses: sent, refused, failed, unknown, invalid. Exit code: 0 when every row was
    sent, else the highest that applies: 1 invalid row (or bad input), 2 refused,
    3 failed, 4 unknown.
    """
    settings = load_settings(ctx, **url_values(urls))
    try:
        template = _load_template(template_path, engine)
        placeholders = template.placeholders()
    except ImportError as exc:  # Jinja2 is not installed: the text names the extra
        fail(str(exc))
    except (ValueError, OSError) as exc:  # MessageError too (a syntax error, with its line)
        fail(f"{template_path}: {exc}")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = [dict(row) for row in reader]
    except (ValueError, OSError, csv.Error) as exc:
        fail(f"{csv_path}: {exc}")
    if email_column not in columns:
        fail(f"{csv_path}: no {email_column!r} column (columns: {', '.join(columns)})")
    missing = sorted(placeholders - set(columns))
    if missing:
        fail(
            f"{template_path} uses {', '.join('$' + m for m in missing)}, which "
            f"{csv_path} lacks (columns: {', '.join(columns)})"
        )
    # --from beats the template's "from", which beats MAILSDK_FROM. It is an address, never
    # filled as a template.
    if from_ or "from" not in template.fields:
        sender_address = from_ or settings.from_
        if not sender_address:
            fail("no sender: give --from, a 'from' in the template, or MAILSDK_FROM")
        template.fixed_from = sender_address

    prepared: list[tuple[int, str, Message | MailError]] = []
    for number, row in enumerate(rows, start=1):
        values = {k: v for k, v in row.items() if k is not None}
        email = values.get(email_column) or ""
        try:
            prepared.append((number, email, template.render(values, email_column)))
        except MessageError as exc:
            prepared.append((number, email, exc))
        except OSError as exc:
            prepared.append((number, email, MessageError(f"attachment: {exc}")))
        except (ValueError, KeyError) as exc:  # a value the template cannot take
            prepared.append((number, email, MessageError(f"row {number}: {exc}")))

    if dry_run:
        from mailsdk.mime import OutgoingMessage

        good = [m for _, _, m in prepared if isinstance(m, Message)]
        for number, email, item in prepared:
            if isinstance(item, MailError):
                click.echo(f"invalid row {number} ({email!r}): {item}", err=True)
        click.echo(f"{len(good)} of {len(prepared)} rows render; the first:", err=True)
        if good:
            click.echo(OutgoingMessage(good[0]).raw, nl=False)
        sys.exit(EXIT_OK if len(good) == len(prepared) else EXIT_BAD_INPUT)

    results_path = results_path or csv_path.with_name(f"{csv_path.stem}-results.csv")
    if outbox_path is not None:
        from mailsdk.cli import outbox

        counts = outbox.send_many_via_outbox(
            outbox_path, prepared, settings, results_path, concurrency, route
        )
        click.echo(f"{', '.join(f'{n} {s}' for s, n in counts.items())}; results in {results_path}")
        sys.exit(outbox.exit_code_for_states(counts))
    options = sender_options(settings, route)
    counts = asyncio.run(_merge(prepared, options, results_path, concurrency, route))
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in _STATUS_EXIT)
    click.echo(f"{summary}; results in {results_path}")
    worst = max((_STATUS_EXIT[s] for s, n in counts.items() if n), default=EXIT_OK)
    sys.exit(worst)


async def _merge(
    prepared: list[tuple[int, str, Message | MailError]],
    options: SenderOptions,
    results_path: Path,
    concurrency: int,
    route: str | None = None,
) -> dict[str, int]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    counts: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    with results_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=_RESULT_COLUMNS)
        writer.writeheader()

        def record(row: dict[str, Any]) -> None:
            writer.writerow(row)
            out.flush()  # rows already sent are on disk even if the run is interrupted
            counts[row["status"]] = counts.get(row["status"], 0) + 1

        progress = Progress(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        async with AsyncSender.from_options(options) as sender:
            with progress:
                task = progress.add_task("send", total=len(prepared))

                async def one(number: int, email: str, item: Message | MailError) -> None:
                    if isinstance(item, MailError):
                        record(_row_result(number, email, item))
                    else:
                        async with gate:
                            try:
                                outcome: Outcome = await sender.send(item, route=route)
                            except Exception as exc:  # one row's fault never ends the batch
                                outcome = exc
                        record(_row_result(number, email, outcome))
                    progress.advance(task)

                await asyncio.gather(*(one(*entry) for entry in prepared))
    return counts
