"""`GET /v1/prompts/{name}`: a registry prompt for applications that render it themselves.

Answers the version a label points at (production by default) or a numbered
version, as JSON: messages with their templates unrendered, variables, and
the version's settings. An unknown prompt, label or version is a 404 with the
registry's own sentence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from api.errors import ApiError
from core.prompts import PromptError


def lookup(services: Any, name: str, label: str | None, version: int | None) -> dict:
    try:
        found = services.prompts.get(name, label=label, version=version)
    except PromptError as err:
        raise ApiError(404, str(err), type_="not_found_error", code="prompt_not_found") from None
    return {
        "name": found.prompt,
        "version": found.version,
        "label": label if version is None else None,
        "messages": [{"role": m.role, "content": m.content} for m in found.messages],
        "variables": [dataclasses.asdict(v) for v in found.variables],
        "config": found.config.model_dump(mode="json"),
        "author": found.author,
        "note": found.note,
        "created_at": found.created_at.isoformat(),
    }
