"""Model providers behind one protocol, and the errors they share."""

from core.providers.base import (
    ChatRequest,
    Completion,
    Message,
    Provider,
    ProviderStatus,
    StreamedCompletion,
    Usage,
)
from core.providers.registry import ProviderRegistry

__all__ = [
    "ChatRequest",
    "Completion",
    "Message",
    "Provider",
    "ProviderRegistry",
    "ProviderStatus",
    "StreamedCompletion",
    "Usage",
]
