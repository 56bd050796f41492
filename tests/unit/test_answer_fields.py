"""How a tried or chat answer in a prompt's answer format is recognised as fields."""

from __future__ import annotations

import pytest

from app.prompt_widgets import _field_text, answer_fields


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ('{"greeting": "Hello Ada"}', {"greeting": "Hello Ada"}),
        ('```json\n{"a": 1, "b": [true, "x"]}\n```', {"a": 1, "b": [True, "x"]}),
        ('  { "ok": false }  ', {"ok": False}),
        ("Hello Ada", None),
        ("[1, 2]", None),  # a list is not fields
        ('{"cut": "off', None),  # unfinished JSON stays text
        ("", None),
        (None, None),
    ],
)
def test_answer_fields(text, fields):
    assert answer_fields(text) == fields


def test_field_values_read_in_words_never_as_code():
    assert _field_text(True) == "yes" and _field_text(False) == "no"
    assert _field_text(["a", 2, True]) == "a, 2, yes"
    assert _field_text([]) == "(none)"
    assert _field_text(None) == "(empty)"
    assert _field_text({"k": "ü"}) == '{"k": "ü"}'
