"""The request pipeline: the only entry the UI and API call for a completion."""

from core.engine.pipeline import HOOK_STAGES, STAGES, Engine, EngineStream
from core.engine.types import CallContext, CompletionRequest, CompletionResponse

__all__ = [
    "HOOK_STAGES",
    "STAGES",
    "CallContext",
    "CompletionRequest",
    "CompletionResponse",
    "Engine",
    "EngineStream",
]
