"""Every engine error can be built without a detail and reads as a sentence."""

from __future__ import annotations

import inspect

import pytest

from core.providers import errors as E

ERRORS = [c for c in vars(E).values() if inspect.isclass(c) and issubclass(c, E.TrellisError)]


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_an_error_with_only_a_provider_reads_as_a_sentence(cls: type[E.TrellisError]) -> None:
    err = cls(provider="openai")
    assert str(err) == err.user_message
    assert err.user_message.endswith(".")
    assert "None" not in err.user_message
