"""What the validate stage checks, and what the record stage may store.

Everything here is cheap and bounded by design: a hostile request (a
million characters, thousands of turns, NUL bytes, lone surrogates, strings
where numbers belong, bytes where text belongs) must be refused, with one
plain sentence, in well under a tenth of a second, and its log row must be
just as cheap to write. So the checks look at sizes before contents, and a
refused input is stored as a short excerpt (saying so) rather than whole:
the storage redaction then scans a few hundred characters, not a million.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from typing import Any

from core.config import Settings
from core.providers import errors as E
from core.providers.base import Message

__all__ = [
    "ROLES",
    "clean_request",
    "invalid",
    "json_safe",
    "storable",
    "stored_messages",
    "validate_request",
]

ROLES = ("system", "user", "assistant")

#: How much of a refused input its log row keeps (characters, all messages together),
#: and how many of its messages (the first and the last ones).
REFUSED_KEEP_CHARS = 400
REFUSED_KEEP_MESSAGES = 6

#: Metadata bounds; the column sizes of call_log (a longer value would make
#: PostgreSQL refuse the whole row).
_META_LIMITS = {"user_id": 200, "session_id": 200, "source": 20, "prompt_name": 200,
                "experiment": 200, "variant": 200}
_TAGS_LIMIT = 500
_TAG_LIMIT = 50
_MODEL_ID_LIMIT = 200

# NUL and other C0 controls (tab, newline and carriage return excepted), DEL, and
# UTF-16 surrogates: none belongs in an identifier; NUL and surrogates cannot be
# stored at all (PostgreSQL text refuses NUL; UTF-8 cannot encode a lone surrogate).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def invalid(message: str, *quoted: str) -> E.InvalidRequest:
    """A validation error whose sentence quotes `quoted` values from the caller.

    Storage redaction looks only at those values: the rest of the sentence is
    Trellis's own text ("Max tokens must be ...") and stays as written.
    """
    err = E.InvalidRequest(message)
    err.quoted = tuple(q for q in quoted if q)  # type: ignore[attr-defined]
    return err


def _q(value: Any, limit: int = 60) -> str:
    """A caller's value as a sentence may quote it: text, one line, short."""
    text = value if isinstance(value, str) else repr(value)
    text = _CONTROL.sub("", text.replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, dict):
        return "a dictionary"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "empty"
    return f"a {type(value).__name__}"


# -- metadata --------------------------------------------------------------------
def bounded(value: Any, limit: int) -> str | None:
    """`value` as a stored identifier: text without control characters, at most `limit`."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = _CONTROL.sub("", text[: limit * 4]).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    items: Iterable[Any] = [value] if isinstance(value, str | bytes) or not isinstance(
        value, Iterable
    ) else value
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        if i >= 100:
            break
        # A comma would split one tag into two when the joined column is read back.
        tag = bounded(str(item).replace(",", " "), _TAG_LIMIT)
        if not tag or tag in out:
            continue
        used += len(tag) + (1 if out else 0)
        if used > _TAGS_LIMIT:
            break
        out.append(tag)
    return out or None


def clean_request(request: Any) -> Any:
    """The request with its metadata bounded and cleaned (a copy only when needed).

    `user_id`, `session_id`, `source`, `tags`, `prompt_name`, `experiment`,
    `variant` and `prompt_version` feed rate limits, budgets and the log row:
    NUL bytes, control characters and 100 KB strings are cut here, before any
    stage sees them.
    """
    changes: dict[str, Any] = {}
    for name, limit in _META_LIMITS.items():
        value = getattr(request, name, None)
        if value is None:
            continue
        clean = bounded(value, limit)
        if name == "source" and clean is None:
            clean = "unknown"
        if clean != value:
            changes[name] = clean
    tags = getattr(request, "tags", None)
    if tags is not None:
        clean_tags = _tags(tags)
        if clean_tags != tags:
            changes["tags"] = clean_tags
    version = getattr(request, "prompt_version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        changes["prompt_version"] = None
    if not changes:
        return request
    return dataclasses.replace(request, **changes)


# -- validation --------------------------------------------------------------------
def _number(value: Any, name: str, low: float, high: float, *, low_open: bool = False) -> None:
    if value is None:
        return
    bounds = f"greater than {low:g} and at most {high:g}" if low_open else \
        f"between {low:g} and {high:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number {bounds}, not {_kind(value)}.")
    above = low < value if low_open else low <= value
    if not (math.isfinite(value) and above and value <= high):
        raise invalid(f"{name} must be {bounds}.")


def validate_request(ctx: Any, settings: Settings) -> None:
    """Refuse a request Trellis cannot serve, with one plain sentence.

    Sizes are checked before contents, so the cost of a refusal does not grow
    with the size of what was sent.
    """
    req = ctx.request
    if ctx.extra.get("messages_unreadable"):
        raise invalid("The messages must be a list of chat messages, each with a role and text.")
    messages = ctx.messages
    if not messages:
        raise invalid("Type a message first: the request has no user message.")
    if len(messages) > settings.max_messages:
        raise invalid(
            f"The conversation has {len(messages):,} messages; the limit is "
            f"{settings.max_messages:,}. Clear the chat and start again."
        )
    chars = 0
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, Message):
            raise invalid(
                f"Message {i} is not a chat message (it is {_kind(m)}); send each message "
                "with a role (system, user or assistant) and its text."
            )
        if not isinstance(m.role, str) or m.role not in ROLES:
            raise invalid(
                f"Message role '{_q(m.role)}' is not one of system, user, assistant.", _q(m.role)
            )
        if not isinstance(m.content, str):
            raise invalid(
                f"Message {i} is not text (it is {_kind(m.content)}); every message must be text."
            )
        chars += len(m.content)
    if chars > settings.max_input_chars:
        raise invalid(
            f"The input is {chars:,} characters; the limit is {settings.max_input_chars:,}. "
            "Shorten it or split it into parts."
        )
    if not any(m.role == "user" for m in messages):
        raise invalid("Type a message first: the request has no user message.")
    for i, m in enumerate(messages, start=1):
        if m.role == "user" and not m.content.strip():
            which = "the message is empty" if len(messages) == 1 else f"message {i} is empty"
            raise invalid(f"Type a message first: {which}.")
        if "\x00" in m.content:
            raise invalid(
                f"Message {i} contains a NUL character (usually binary data pasted as text); "
                "remove it and send again."
            )
        if _SURROGATE.search(m.content):
            raise invalid(
                f"Message {i} contains a broken character (half of an emoji or symbol, often "
                "from a bad copy and paste); retype that part and send again."
            )
    _number(req.temperature, "Temperature", 0.0, 2.0)
    _number(req.top_p, "Top-p", 0.0, 1.0, low_open=True)
    mt = req.max_tokens
    if mt is not None:
        top = settings.max_output_tokens
        if isinstance(mt, bool) or not isinstance(mt, int):
            raise invalid(f"Max tokens must be a whole number between 1 and {top:,}, "
                          f"not {_kind(mt)}.")
        if not 1 <= mt <= top:
            raise invalid(f"Max tokens must be between 1 and {top:,}.")
    _number(req.timeout, "The timeout", 0.0, 3600.0, low_open=True)
    stop = req.stop
    if stop is not None and (
        not isinstance(stop, list | tuple) or len(stop) > 16
        or not all(isinstance(s, str) and 0 < len(s) <= 200 for s in stop)
    ):
        raise invalid("Stop sequences must be a list of at most 16 short texts.")
    if not isinstance(req.options, dict):
        raise invalid("The request options must be a mapping of names to values.")
    model = ctx.model_id
    if not isinstance(model, str):
        raise invalid(f"The model must be a provider/model id such as local/gemma-3-270m, "
                      f"not {_kind(model)}.")
    if not model.strip():
        raise invalid("Pick a model: the request names none, e.g. local/gemma-3-270m.")
    if len(model) > _MODEL_ID_LIMIT or _CONTROL.search(model):
        raise invalid(
            f"Model '{_q(model)}' is not a model id: ids are at most {_MODEL_ID_LIMIT} "
            "characters of plain text, for example local/gemma-3-270m.", _q(model)
        )
    if "/" not in model:
        raise invalid(
            f"Model '{_q(model)}' should be written as provider/model, "
            "for example local/gemma-3-270m.", _q(model)
        )


# -- storage -------------------------------------------------------------------------
def storable(text: str | None) -> str | None:
    """`text` as a database can hold it: NUL and lone surrogates become U+FFFD."""
    if text is None:
        return None
    return _UNSTORABLE.sub("\ufffd", text)


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut back to a space when one is near (a value cut
    in half, such as an e-mail address, would escape the PII scanner)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ", limit // 2)
    return (head[:space] if space > 0 else head) + " …"


def stored_messages(
    messages: list[Any], *, refused: bool
) -> tuple[list[dict[str, str]], str | None]:
    """The input as the log row keeps it, and a note when it was cut.

    An accepted input is kept whole (validation bounded it). A refused one keeps
    its first and last few messages, cut to REFUSED_KEEP_CHARS in all: enough to
    see what was sent, and cheap to redact and write however large it was.
    """
    total = len(messages)
    if refused and total > REFUSED_KEEP_MESSAGES:
        half = REFUSED_KEEP_MESSAGES // 2
        picked = list(messages[:half]) + list(messages[-half:])
    else:
        picked = list(messages)
    out: list[dict[str, str]] = []
    cut = False
    budget = REFUSED_KEEP_CHARS
    each = max(budget // max(len(picked), 1), 40)
    for m in picked:
        if isinstance(m, Message):
            role = m.role if isinstance(m.role, str) and m.role in ROLES else "invalid"
            content = m.content if isinstance(m.content, str) else f"({_kind(m.content)})"
        else:
            role, content = "invalid", f"({_kind(m)})"
        if refused and len(content) > each:
            content = _cut(content, each)
            cut = True
        out.append({"role": role, "content": storable(content) or ""})
    if not refused or (not cut and len(picked) == total):
        return out, None
    kept = len(out)
    plural = "s" if total != 1 else ""
    if kept < total:
        which = f"the first {kept // 2} and the last {kept - kept // 2} are kept"
    else:
        which = "it is kept" if total == 1 else f"all {total} are kept"
    note = (
        f"Stored shortened: the refused input had {total:,} message{plural} and "
        f"{_chars(messages):,} characters; {which}, cut to about {budget:,} characters."
    )
    return out, note


def _chars(messages: list[Any]) -> int:
    return sum(len(m.content) for m in messages
               if isinstance(m, Message) and isinstance(m.content, str))


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` as JSON any database accepts: finite numbers, text, lists, mappings."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return storable(value[:1000])
    if depth < 4 and isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in list(value)[:50]]
    if depth < 4 and isinstance(value, dict):
        return {storable(str(k)[:100]): json_safe(v, depth + 1)
                for k, v in list(value.items())[:50]}
    return storable(_q(value, 200))
