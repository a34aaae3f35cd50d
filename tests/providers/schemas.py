"""Checks of request bodies against the providers' own descriptions in ``shared/specs``.

OpenAPI 3.1 schemas are JSON Schema 2020-12 (SendGrid, Resend); SES publishes a botocore JSON
model instead, walked here shape by shape. The contract suite validates every request with
these; each provider's test file shows the check is not vacuous.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def openapi_validator(
    spec: Any, uri: str, pointer: str, *, formats: bool = False
) -> Draft202012Validator:
    """A validator for the schema at *pointer*, with the whole document registered under
    *uri* so that ``#/components/schemas/...`` references resolve inside it."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Draft202012Validator(
        {"$ref": uri + pointer},
        registry=Registry().with_resource(uri, resource),
        format_checker=Draft202012Validator.FORMAT_CHECKER if formats else None,
    )


def sendgrid_validator(spec: Any) -> Draft202012Validator:
    """SendGrid's ``PostMailSend`` request body (twilio/sendgrid-oai ``tsg_mail_v3.json``)."""
    pointer = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
    return openapi_validator(spec, "urn:sendgrid:tsg_mail_v3", pointer, formats=True)


def resend_validator(spec: Any) -> Draft202012Validator:
    """Resend's ``SendEmailRequest`` (resend/resend-openapi)."""
    return openapi_validator(spec, "urn:resend:openapi", "#/components/schemas/SendEmailRequest")


class ShapeError(AssertionError):
    """A value does not fit a botocore model shape."""


# The Python type each botocore shape type takes, and how an error names it.
_TYPES: dict[str, tuple[type, str]] = {
    "structure": (dict, "an object"),
    "list": (list, "a list"),
    "blob": (str, "base64 text"),  # rest-json sends blobs as base64 text
    "string": (str, "a string"),
    "boolean": (bool, "a boolean"),
}


def check_shape(shapes: dict[str, Any], name: str, value: Any, path: str = "$") -> None:
    """Walk a botocore JSON model shape: required members, unknown members, types, limits."""
    shape = shapes[name]
    kind = shape["type"]
    if kind not in _TYPES:
        raise ShapeError(f"{path}: the checker does not know shape type {kind!r}")
    python_type, described = _TYPES[kind]
    if not isinstance(value, python_type):
        raise ShapeError(f"{path}: {name} must be {described}")
    if kind in ("list", "string") and not (
        shape.get("min", 0) <= len(value) <= shape.get("max", len(value))
    ):
        size = f"{len(value)} items" if kind == "list" else f"length {len(value)}"
        raise ShapeError(f"{path}: {name} has {size}")
    if kind == "structure":
        members = shape.get("members", {})
        if unknown := set(value) - set(members):
            raise ShapeError(f"{path}: {name} has no member(s) {sorted(unknown)}")
        if missing := set(shape.get("required", [])) - set(value):
            raise ShapeError(f"{path}: {name} lacks required {sorted(missing)}")
        for key, item in value.items():
            check_shape(shapes, members[key]["shape"], item, f"{path}.{key}")
    elif kind == "list":
        for index, item in enumerate(value):
            check_shape(shapes, shape["member"]["shape"], item, f"{path}[{index}]")
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ShapeError(f"{path}: {name} is not base64") from exc
    elif kind == "string":
        if "enum" in shape and value not in shape["enum"]:
            raise ShapeError(f"{path}: {value!r} is not one of {shape['enum']}")
        if "pattern" in shape and not re.search(shape["pattern"], value):
            raise ShapeError(f"{path}: {value!r} does not match {shape['pattern']}")


def ses_send_email_input(spec: dict[str, Any]) -> str:
    operation = spec["operations"]["SendEmail"]
    assert operation["http"] == {"method": "POST", "requestUri": "/v2/email/outbound-emails"}
    assert spec["metadata"]["signingName"] == "ses"
    return str(operation["input"]["shape"])


def ses_validator(spec: Any) -> Any:
    """SES v2 ``SendEmail`` input, as a function that raises ShapeError."""
    root = ses_send_email_input(spec)
    return lambda body: check_shape(spec["shapes"], root, body)
