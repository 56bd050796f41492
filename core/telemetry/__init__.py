"""The call log: recording every call, and the queries pages read."""

from core.telemetry.models import CallLog, Feedback, ModelPrice, Span, utcnow
from core.telemetry.store import CallRecord, SpanRecord, TelemetryStore

__all__ = [
    "CallLog",
    "CallRecord",
    "Feedback",
    "ModelPrice",
    "Span",
    "SpanRecord",
    "TelemetryStore",
    "utcnow",
]
