"""Typed errors shared by every adapter.

Each adapter translates its SDK's exceptions into these, so the engine,
reliability policies and pages never look at a vendor exception. Every
class carries one plain sentence for the person at the screen.
"""

from __future__ import annotations


class TrellisError(Exception):
    """Base of every error the engine raises to its callers."""

    error_class: str = "error"
    #: Whether trying again (after a pause) may succeed.
    transient: bool = False

    def __init__(self, detail: str = "", *, provider: str | None = None) -> None:
        # Set before user_message is read: several subclasses name the provider in it.
        self.detail = detail
        self.provider = provider
        super().__init__(detail or self.user_message)

    @property
    def user_message(self) -> str:
        return "Something went wrong while answering. Please try again."


class ProviderError(TrellisError):
    """A model provider failed to answer."""


class RateLimited(ProviderError):
    error_class = "rate_limit"
    transient = True

    def __init__(
        self, detail: str = "", *, provider: str | None = None, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(detail, provider=provider)

    @property
    def user_message(self) -> str:
        who = self.provider or "The provider"
        if self.retry_after:
            return f"{who} is receiving too many requests; try again in {self.retry_after:.0f} s."
        return f"{who} is receiving too many requests; wait a moment and try again."


class Timeout(ProviderError):
    error_class = "timeout"
    transient = True

    @property
    def user_message(self) -> str:
        who = self.provider or "The provider"
        return f"{who} took too long to answer; try again or pick another model."


class ConnectionFailed(ProviderError):
    error_class = "connection"
    transient = True

    @property
    def user_message(self) -> str:
        return (
            f"Could not reach {self.provider or 'the provider'}; check that it is running "
            "and its address in Settings is right."
        )


class ServerError(ProviderError):
    error_class = "server"
    transient = True

    @property
    def user_message(self) -> str:
        return f"{self.provider or 'The provider'} had an internal error; try again in a moment."


class BadRequest(ProviderError):
    error_class = "bad_request"

    @property
    def user_message(self) -> str:
        reason = f" ({self.detail})" if self.detail else ""
        return f"The request was not accepted{reason}; change the parameters and try again."


class ContextTooLong(BadRequest):
    error_class = "context_length"

    @property
    def user_message(self) -> str:
        return (
            "The conversation is longer than this model can read; clear the chat, shorten "
            "the message or pick a model with a larger context window."
        )


class AuthenticationFailed(ProviderError):
    error_class = "auth"

    @property
    def user_message(self) -> str:
        return (
            f"{self.provider or 'The provider'} rejected the API key; check the key in your "
            ".env file or Settings."
        )


class ProviderUnavailable(TrellisError):
    """The chosen provider cannot work here (no key, no server, no package)."""

    error_class = "unavailable"

    @property
    def user_message(self) -> str:
        return self.detail or "That provider is not available; pick another model."


class InvalidRequest(TrellisError):
    """The request failed validation before any provider was called."""

    error_class = "validation"

    @property
    def user_message(self) -> str:
        return self.detail or "The request is not valid."


class StreamInterrupted(ServerError):
    """The provider closed the stream before it finished."""

    error_class = "stream_cut"

    @property
    def user_message(self) -> str:
        return (
            f"{self.provider or 'The provider'} stopped answering part-way; "
            "the answer may be incomplete, try again."
        )


ERROR_CLASSES: dict[str, type[TrellisError]] = {
    cls.error_class: cls
    for cls in (
        RateLimited,
        Timeout,
        ConnectionFailed,
        ServerError,
        BadRequest,
        ContextTooLong,
        AuthenticationFailed,
        ProviderUnavailable,
        InvalidRequest,
        StreamInterrupted,
    )
}
