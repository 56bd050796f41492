"""What people type into Trellis: the one naming rule, and validation errors as
sentences.

Policies, collections and recognizers share one naming rule (`check_name`) so a
name that works in one place works in all, and the refusal reads the same
everywhere. `plain_validation_error` turns a pydantic ValidationError into one
sentence with the field's label ("Name cannot be empty."), never the raw
"name: String should have at least 1 character".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import ValidationError

NAME_MIN, NAME_MAX = 3, 50
_NAME = re.compile(rf"[A-Za-z0-9](?:[A-Za-z0-9._-]{{{NAME_MIN - 2},{NAME_MAX - 2}}})[A-Za-z0-9]")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")

#: The rule, said once; every refusal of a name is this sentence.
NAME_RULE = (
    f"A name needs {NAME_MIN} to {NAME_MAX} characters: letters, digits, dots, dashes or "
    "underscores, starting and ending with a letter or digit (for example support-faq)."
)


def name_problem(value: str) -> str | None:
    """None when `value` (already stripped) follows the naming rule, else NAME_RULE.
    Also refuses '..' and IPv4-like names, which Chroma cannot store as a collection."""
    if not _NAME.fullmatch(value) or ".." in value or _IPV4.fullmatch(value):
        return NAME_RULE
    return None


def check_name(value: str) -> str:
    """The stripped name, or ValueError(NAME_RULE)."""
    value = (value or "").strip()
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _one(error: Mapping, labels: Mapping[str, str]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    field = loc[0] if loc else ""
    label = labels.get(field) or (field.replace("_", " ").capitalize() if field else "This value")
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        # Our own validators raise whole sentences; pydantic prefixes them.
        return _sentence(str(error.get("msg", "")).removeprefix("Value error, "))
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return f"{label} cannot be empty." if n <= 1 else f"{label} needs at least {n} characters."
    if kind == "string_too_long":
        return f"{label} can have at most {ctx.get('max_length')} characters."
    bounds = {
        "greater_than": "more than", "greater_than_equal": "at least",
        "less_than": "less than", "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "")
        return f"{label} must be {bounds[kind]} {limit:g}." if isinstance(
            limit, int | float) else f"{label} must be {bounds[kind]} {limit}."
    if kind == "literal_error":
        return f"{label} must be one of: {ctx.get('expected', '')}."
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "finite_number",
                "int_from_float"):
        return f"{label} must be a whole number." if kind.startswith("int") else (
            f"{label} must be a number.")
    if kind == "missing":
        return f"{label} is required."
    return f"{label} is not valid."


def plain_validation_error(exc: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """The errors of `exc` as sentences (one per field, first error each), using
    `labels` for the field names a page shows."""
    seen: set[str] = set()
    out: list[str] = []
    for error in exc.errors():
        field = str(error.get("loc", ("",))[0]) if error.get("loc") else ""
        if field in seen:
            continue
        seen.add(field)
        out.append(_one(error, labels or {}))
    return " ".join(out)
