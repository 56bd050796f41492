"""The request bodies the gateway accepts, as pydantic models.

Only the fields Trellis acts on are declared; anything else a client sends is
kept in `model_extra`, dropped, and named in the `x-trellis-ignored-fields`
response header, so an SDK newer than the gateway never gets a 422 for a
field it added.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=300)
    messages: list[ChatMessage] = Field(default_factory=list)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    user: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str = Field(min_length=1, max_length=64)
    score: Literal[1, -1]
    comment: str | None = Field(default=None, max_length=2000)
    user_id: str | None = Field(default=None, max_length=200)


#: Trellis extensions: metadata key -> request header carrying the same thing.
EXTENSIONS = {
    "prompt": "x-trellis-prompt",
    "prompt_label": "x-trellis-prompt-label",
    "prompt_version": "x-trellis-prompt-version",
    "variables": "x-trellis-variables",
    "user_id": "x-trellis-user-id",
    "session_id": "x-trellis-session-id",
    "tags": "x-trellis-tags",
    "guard_policy": "x-trellis-guard-policy",
    "collection": "x-trellis-collection",
}


def extensions(metadata: dict[str, Any] | None, headers: Any) -> tuple[dict[str, Any], list[str]]:
    """Trellis options from `metadata` (first) or headers; plus metadata keys not used."""
    meta = dict(metadata or {})
    out: dict[str, Any] = {}
    for key, header in EXTENSIONS.items():
        value = meta.pop(key, None)
        if value is None:
            value = headers.get(header)
        if value is not None and value != "":
            out[key] = value
    if isinstance(out.get("variables"), str):
        try:
            out["variables"] = json.loads(out["variables"])
        except ValueError:
            raise ValueError("variables must be a JSON object") from None
    if "variables" in out and not isinstance(out["variables"], dict):
        raise ValueError("variables must be a JSON object")
    if isinstance(out.get("tags"), str):
        out["tags"] = [t.strip() for t in out["tags"].split(",") if t.strip()]
    if "tags" in out and not (
        isinstance(out["tags"], list) and all(isinstance(t, str) for t in out["tags"])
    ):
        raise ValueError("tags must be a list of strings or a comma-separated string")
    if "prompt_version" in out:
        try:
            out["prompt_version"] = int(out["prompt_version"])
        except (TypeError, ValueError):
            raise ValueError("prompt_version must be a whole number") from None
    for key in ("prompt", "prompt_label", "user_id", "session_id", "guard_policy", "collection"):
        if key in out and not isinstance(out[key], str):
            raise ValueError(f"{key} must be a string")
    return out, [f"metadata.{k}" for k in meta]
