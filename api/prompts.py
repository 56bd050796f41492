"""`GET /v1/prompts/{name}`: the seam to the prompt registry.

The registry (core/prompts) is optional to the gateway: when the services
carry none, or it knows no such prompt, the answer is a 404 with a plain
sentence. The registry is asked through one method, `get_for_api(name,
label=, version=)`, returning a JSON-ready dict or None.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from api.errors import ApiError


def _not_found(message: str) -> ApiError:
    return ApiError(404, message, type_="not_found_error", code="prompt_not_found")


def lookup(services: Any, name: str, label: str | None, version: int | None) -> dict:
    registry = getattr(services, "prompts", None)
    getter = getattr(registry, "get_for_api", None)
    if getter is None:
        raise _not_found(
            "This server has no prompt registry yet, so it cannot serve prompt "
            f"'{name}'; render the prompt in your application for now."
        )
    found = getter(name, label=label, version=version)
    if found is None:
        which = f" with label '{label}'" if label else (f" version {version}" if version else "")
        raise _not_found(f"There is no prompt '{name}'{which}; check the name on the Prompts page.")
    if dataclasses.is_dataclass(found):
        return dataclasses.asdict(found)
    if hasattr(found, "model_dump"):
        return found.model_dump(mode="json")
    return dict(found)
