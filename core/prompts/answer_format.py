"""A prompt's answer format: the response JSON schema, built from plain fields.

People who do not write JSON describe the answer as a list of fields (a
name, a kind, whether it is required); `schema_from_fields` turns that into
the JSON schema the engine's output guard checks answers against, and
`fields_from_schema` reads a schema back into fields when (and only when)
the fields say exactly the same thing. A schema the fields cannot say (nested
objects, enums, patterns…) stays a schema: the page shows it in the advanced
box instead of dropping what the fields cannot show.

`parse_schema` checks a pasted schema with the `jsonschema` library's
meta-schema and answers with one plain sentence when it is not valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema import exceptions as js_exceptions
from jsonschema import validators

from core.prompts.templates import PromptError

#: Kind shown to people -> the JSON schema that says it.
KINDS: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "number": {"type": "number"},
    "yes or no": {"type": "boolean"},
    "list of text": {"type": "array", "items": {"type": "string"}},
}
MAX_FIELDS = 50
MAX_SCHEMA_CHARS = 20_000


class AnswerFormatError(PromptError):
    """An answer format that cannot be used; `detail` is the sentence."""


@dataclass(frozen=True, slots=True)
class AnswerField:
    name: str
    kind: str = "text"
    required: bool = True
    description: str = ""


def schema_from_fields(fields: list[AnswerField]) -> dict[str, Any] | None:
    """The JSON schema for an answer made of `fields` (None for no fields).

    Raises AnswerFormatError for a field without a name, a name used twice, or
    an unknown kind.
    """
    named = [f for f in fields if f.name.strip() or f.description.strip()]
    if not named:
        return None
    if len(named) > MAX_FIELDS:
        raise AnswerFormatError(
            f"The answer format has {len(named)} fields; the limit is {MAX_FIELDS}."
        )
    properties: dict[str, Any] = {}
    required: list[str] = []
    for i, f in enumerate(named, start=1):
        name = f.name.strip()
        if not name:
            raise AnswerFormatError(
                f"Answer field {i} has no name; give it one or remove it."
            )
        if name in properties:
            raise AnswerFormatError(
                f"Two answer fields are called '{name}'; give each field its own name."
            )
        if f.kind not in KINDS:
            raise AnswerFormatError(
                f"Answer field '{name}' has an unknown kind; pick one of "
                f"{', '.join(KINDS)}."
            )
        prop = dict(KINDS[f.kind])
        if f.description.strip():
            prop["description"] = f.description.strip()
        properties[name] = prop
        if f.required:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def fields_from_schema(schema: dict[str, Any] | None) -> list[AnswerField] | None:
    """The fields that make exactly `schema`, or None when fields cannot say it.

    No schema gives an empty list. "Exactly" means the fields turned back into
    a schema equal the one given, so nothing is lost by editing it as fields.
    """
    if not schema:
        return []
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        return None
    required = schema.get("required") or []
    if not isinstance(required, list):
        return None
    fields: list[AnswerField] = []
    for name, prop in props.items():
        if not isinstance(prop, dict):
            return None
        description = prop.get("description", "")
        bare = {k: v for k, v in prop.items() if k != "description"}
        kind = next((k for k, s in KINDS.items() if s == bare), None)
        if kind is None or not isinstance(description, str):
            return None
        fields.append(AnswerField(name, kind, name in required, description))
    try:
        again = schema_from_fields(fields)
    except AnswerFormatError:
        return None
    return fields if again == schema else None


def parse_schema(text: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A pasted JSON schema, checked; None for an empty box.

    Raises AnswerFormatError with a plain sentence when the text is not JSON,
    not an object, or not a valid JSON schema.
    """
    if text is None:
        return None
    if isinstance(text, str):
        if not text.strip():
            return None
        if len(text) > MAX_SCHEMA_CHARS:
            raise AnswerFormatError(
                f"The JSON schema is {len(text):,} characters; the limit is "
                f"{MAX_SCHEMA_CHARS:,}."
            )
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as err:
            raise AnswerFormatError(
                f"The JSON schema cannot be read: line {err.lineno}, column {err.colno} has "
                "a mistake (a missing comma, quote or bracket?)."
            ) from None
        except RecursionError:
            raise AnswerFormatError("The JSON schema is nested too deeply.") from None
    else:
        schema = text
    check_schema(schema)
    return schema


def check_schema(schema: Any) -> None:
    """Raise AnswerFormatError unless `schema` is a valid JSON schema object."""
    if not isinstance(schema, dict):
        raise AnswerFormatError(
            "The JSON schema must be an object, written between { and }."
        )
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except js_exceptions.SchemaError as err:
        raise AnswerFormatError(
            f"The JSON schema is not valid: {_where(err)} {_what(err)}. Fix that part, or "
            "describe the answer with fields instead."
        ) from None
    except RecursionError:
        raise AnswerFormatError("The JSON schema is nested too deeply.") from None


def _where(err: js_exceptions.SchemaError) -> str:
    path = [str(p) for p in err.absolute_path]
    return f"the part at “{' › '.join(path)}”" if path else "the schema as a whole"


def _what(err: js_exceptions.SchemaError) -> str:
    # jsonschema's own message quotes Python values; say the rule in words instead.
    return {
        "type": "has the wrong kind of value",
        "enum": "is not one of the allowed values",
        "anyOf": "is not one of the allowed values",
        "minimum": "is too small",
        "minItems": "needs at least one entry",
        "uniqueItems": "lists an entry twice",
        "format": "is not written the way it should be",
        "pattern": "is not written the way it should be",
    }.get(str(err.validator), "breaks a rule of JSON schemas")


def describe(schema: dict[str, Any] | None) -> str:
    """One line for a diff or a list: the fields in words, or "a JSON schema"."""
    if not schema:
        return "free text"
    fields = fields_from_schema(schema)
    if fields is None:
        return "a custom JSON schema"
    return "; ".join(
        f"{f.name} ({f.kind}{'' if f.required else ', optional'})" for f in fields
    )
