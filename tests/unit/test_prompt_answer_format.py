"""The answer format builder: fields <-> JSON schema, and pasted schemas checked."""

from __future__ import annotations

import json

import pytest

from core.db import make_engine, migrate
from core.prompts import PromptError, PromptRegistry
from core.prompts.answer_format import (
    AnswerField,
    AnswerFormatError,
    describe,
    fields_from_schema,
    parse_schema,
    schema_from_fields,
)


def test_fields_make_a_json_schema_and_read_back_unchanged():
    fields = [AnswerField("reply", "text"),
              AnswerField("score", "number", required=False, description="0 to 10"),
              AnswerField("urgent", "yes or no"),
              AnswerField("tags", "list of text", required=False)]
    schema = schema_from_fields(fields)
    assert schema == {
        "type": "object",
        "properties": {
            "reply": {"type": "string"},
            "score": {"type": "number", "description": "0 to 10"},
            "urgent": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["reply", "urgent"],
        "additionalProperties": False,
    }
    assert parse_schema(schema) == schema  # a valid JSON schema
    assert fields_from_schema(schema) == fields
    assert describe(schema) == ("reply (text); score (number, optional); urgent (yes or no); "
                                "tags (list of text, optional)")


def test_no_fields_is_free_text():
    assert schema_from_fields([]) is None
    assert schema_from_fields([AnswerField("  ", "text")]) is None  # an empty row
    assert fields_from_schema(None) == []
    assert describe(None) == "free text"


@pytest.mark.parametrize(("fields", "sentence"), [
    ([AnswerField("a"), AnswerField("a")],
     "Two answer fields are called 'a'; give each field its own name."),
    ([AnswerField("", description="what")],
     "Answer field 1 has no name; give it one or remove it."),
    ([AnswerField("a", kind="date")], "Answer field 'a' has an unknown kind"),
])
def test_bad_fields_get_a_plain_sentence(fields, sentence):
    with pytest.raises(AnswerFormatError) as info:
        schema_from_fields(fields)
    assert info.value.user_message.startswith(sentence)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"city": {"type": "string", "enum": ["Oslo", "Rome"]}}},
    {"type": "object", "properties": {"who": {"type": "object"}}, "required": ["who"]},
    {"type": "array", "items": {"type": "string"}},
    {"type": "object", "properties": {"a": {"type": "string"}}},  # extra fields allowed
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
     "additionalProperties": False},
])
def test_a_schema_fields_cannot_say_is_not_turned_into_fields(schema):
    assert fields_from_schema(schema) is None
    assert describe(schema) == "a custom JSON schema"


@pytest.mark.parametrize(("text", "sentence"), [
    ('{"type": "object",', "The JSON schema cannot be read: line 1, column 19 has a mistake"),
    ("[1, 2]", "The JSON schema must be an object, written between { and }."),
    ('{"type": "strng"}',
     "The JSON schema is not valid: the part at “type” is not one of the allowed values."),
    ('{"type": "object", "properties": {"a": {"type": 5}}}',
     "The JSON schema is not valid: the part at “properties › a › type” is not one of"),
    ('{"required": "a"}',
     "The JSON schema is not valid: the part at “required” has the wrong kind of value."),
])
def test_a_pasted_schema_is_checked_with_one_plain_sentence(text, sentence):
    with pytest.raises(AnswerFormatError) as info:
        parse_schema(text)
    message = info.value.user_message
    assert message.startswith(sentence)
    assert "Traceback" not in message and "SchemaError" not in message and "None" not in message


def test_an_empty_box_is_no_schema_and_a_good_one_parses():
    assert parse_schema("  ") is None
    text = json.dumps({"type": "object", "properties": {"x": {"type": "string"}}})
    assert parse_schema(text) == json.loads(text)


def test_the_registry_refuses_to_save_an_invalid_schema(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(db)
    reg = PromptRegistry(db)
    reg.create("fmt", by="ada")
    with pytest.raises(PromptError, match="The JSON schema is not valid"):
        reg.save_version("fmt", by="ada", user="Hi", config={"response_schema": {"type": 5}})
    assert reg.versions("fmt") == []
    saved = reg.save_version("fmt", by="ada", user="Hi", config={
        "response_schema": schema_from_fields([AnswerField("reply")])})
    assert saved.version.config.response_schema["required"] == ["reply"]
    db.dispose()
