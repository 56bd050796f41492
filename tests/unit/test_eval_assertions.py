"""Every assertion type, with the edge cases: empty output, non-JSON, unicode, huge output."""

from __future__ import annotations

import json

import pytest

from core.evals.assertions import (
    ASSERTIONS,
    AssertionError_,
    CellContext,
    build,
    combine,
    parse_judgement,
)

HUGE = "word " * 400_000  # 2 MB


def run(spec, output="", **kw):
    return build(spec).evaluate(CellContext(output=output, **kw))


@pytest.mark.parametrize("spec,output,passed", [
    ({"type": "equals", "value": "Paris"}, "  Paris \n", True),
    ({"type": "equals", "value": "Paris"}, "paris", False),
    ({"type": "equals", "value": "Paris", "ignore_case": True}, "paris", True),
    ({"type": "contains", "value": "Zürich"}, "Offices: Zürich, Köln", True),
    ({"type": "contains", "value": "zürich"}, "Offices: Zürich", False),
    ({"type": "icontains", "value": "ZÜRICH"}, "Offices: zürich", True),
    ({"type": "contains-any", "values": ["Lyon", "Köln"]}, "Köln office", True),
    ({"type": "contains-any", "values": ["Lyon", "Nice"]}, "Köln office", False),
    ({"type": "not-contains", "value": "password"}, "nothing secret", True),
    ({"type": "not-contains", "values": ["secret", "password"]}, "the PASSWORD is", False),
    ({"type": "starts-with", "value": "Yes"}, "  Yes, it is.", True),
    ({"type": "starts-with", "value": "Yes"}, "No.", False),
    ({"type": "regex", "pattern": r"\d{2} days"}, "within 30 days", True),
    ({"type": "regex", "pattern": "^ok$", "ignore_case": True}, "OK", True),
    ({"type": "regex", "pattern": r"\d+"}, "", False),
    ({"type": "is-json"}, '{"a": 1}', True),
    ({"type": "is-json"}, '```json\n{"a": [1, 2]}\n```', True),
    ({"type": "is-json"}, "{'a': 1}", False),
    ({"type": "word-count", "min": 2, "max": 3}, "one two", True),
    ({"type": "word-count", "max": 3}, "one two three four", False),
    ({"type": "word-count", "min": 1}, "", False),
    ({"type": "not-blocked"}, "", True),
])
def test_deterministic_assertions(spec, output, passed):
    outcome = run(spec, output)
    assert outcome.passed is passed
    assert outcome.score == (1.0 if passed else 0.0)
    assert outcome.reason and "\n" not in outcome.reason


def test_equals_defaults_to_the_expected_output_and_says_when_there_is_none():
    assert run({"type": "equals"}, "42", expected="42").passed
    outcome = run({"type": "equals"}, "42")
    assert not outcome.passed and "no expected output" in outcome.reason


def test_contains_all_scores_the_share_found_and_names_what_is_missing():
    outcome = run({"type": "contains-all", "values": ["a1", "b2", "c3", "d4"]}, "a1 b2 c3")
    assert not outcome.passed and outcome.score == pytest.approx(0.75)
    assert "'d4'" in outcome.reason


def test_empty_output_fails_content_checks_with_a_reason():
    for spec in ({"type": "contains", "value": "x"}, {"type": "is-json"},
                 {"type": "starts-with", "value": "A"}):
        outcome = run(spec, "")
        assert not outcome.passed and outcome.reason
    assert "empty" in run({"type": "is-json"}, "").reason


def test_non_json_reason_is_one_line():
    outcome = run({"type": "is-json"}, "Sure! Here is the JSON: {oops")
    assert not outcome.passed and "not valid JSON" in outcome.reason and "\n" not in outcome.reason


SCHEMA = {"type": "object", "required": ["city", "days"],
          "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}}


def test_json_schema_passes_valid_and_points_at_the_bad_field():
    assert run({"type": "json-schema", "schema": SCHEMA}, '{"city": "Köln", "days": 3}').passed
    outcome = run({"type": "json-schema", "schema": SCHEMA}, '{"city": "Köln", "days": 0}')
    assert not outcome.passed and "days" in outcome.reason
    outcome = run({"type": "is-json", "schema": SCHEMA}, "[1, 2]")
    assert not outcome.passed and "schema" in outcome.reason


def test_an_invalid_schema_or_pattern_is_refused_when_the_suite_is_read():
    with pytest.raises(AssertionError_, match="JSON Schema is not valid"):
        build({"type": "json-schema", "schema": {"type": "nonsense"}})
    with pytest.raises(AssertionError_, match="regular expression"):
        build({"type": "regex", "pattern": "(unclosed"})
    with pytest.raises(AssertionError_, match="not an assertion type"):
        build({"type": "python", "value": "import os"})
    with pytest.raises(AssertionError_, match="no setting 'code'"):
        build({"type": "contains", "code": "x"})


def test_catastrophic_regex_is_stopped_by_the_time_limit():
    outcome = run({"type": "regex", "pattern": r"^(a|aa)+$"}, "a" * 60 + "!")
    assert not outcome.passed and "took longer" in outcome.reason


def test_huge_output_is_handled_by_every_cheap_check():
    assert run({"type": "contains", "value": "word"}, HUGE).passed
    assert not run({"type": "word-count", "max": 1000}, HUGE).passed
    assert "400,000" in run({"type": "word-count", "max": 1000}, HUGE).reason
    assert not run({"type": "is-json"}, HUGE).passed
    assert run({"type": "regex", "pattern": "word $"}, HUGE).passed
    assert not run({"type": "token-count", "max": 100}, HUGE).passed


def test_deeply_nested_json_fails_plainly():
    outcome = run({"type": "is-json"}, "[" * 100_000 + "]" * 100_000)
    assert not outcome.passed


def test_token_count_prefers_the_providers_count():
    assert run({"type": "token-count", "max": 5}, "a b c d e f g h", output_tokens=4).passed
    assert not run({"type": "token-count", "min": 10}, "abcd", output_tokens=None).passed


def test_operational_ceilings():
    assert run({"type": "latency", "max_ms": 500}, "x", latency_ms=120).passed
    assert not run({"type": "latency", "max_ms": 500}, "x", latency_ms=900).passed
    assert not run({"type": "ttft", "max_ms": 100}, "x").passed  # not measured
    assert run({"type": "ttft", "max_ms": 100}, "x", ttft_ms=40).passed
    assert run({"type": "cost", "max_usd": 0.01}, "x", cost_usd=0.001).passed
    assert not run({"type": "cost", "max_usd": 0.01}, "x", cost_usd=0.02).passed
    unknown = run({"type": "cost", "max_usd": 0.01}, "x", cost_usd=None)
    assert not unknown.passed and "unknown" in unknown.reason
    assert not run({"type": "not-blocked"}, "", status="blocked").passed


def test_cites_source_needs_a_number_that_was_retrieved():
    sources = [{"n": 1, "text": "a"}, {"n": 2, "text": "b"}]
    assert run({"type": "cites-source"}, "Yes [2].", sources=sources).passed
    assert not run({"type": "cites-source"}, "Yes [7].", sources=sources).passed
    assert not run({"type": "cites-source"}, "Yes [1].").passed


def test_model_graded_assertions_use_the_judge_and_parse_its_score():
    prompts = []

    def judge(model, prompt):
        prompts.append((model, prompt))
        return '{"score": 8, "reason": "mentions the 30-day window"}'

    outcome = run({"type": "rubric", "rubric": "Mentions the refund window", "judge": "x/y"},
                  "Refunds within 30 days.", judge=judge)
    assert outcome.passed and outcome.score == pytest.approx(0.8)
    assert "30-day window" in outcome.reason and prompts[0][0] == "x/y"
    assert "Mentions the refund window" in prompts[0][1]
    fact = run({"type": "factuality"}, "Paris", expected="Paris is the capital", judge=judge)
    assert fact.passed and "Paris is the capital" in prompts[1][1]
    grounded = run({"type": "grounded", "threshold": 0.9}, "Paris",
                   sources=[{"text": "France's capital is Paris."}], judge=judge)
    assert not grounded.passed and "France's capital" in prompts[2][1]


def test_a_judge_failure_or_a_scoreless_answer_fails_with_a_reason():
    from core.providers.errors import ServerError

    def broken(model, prompt):
        raise ServerError("HTTP 500", provider="openai")

    outcome = run({"type": "rubric", "rubric": "r"}, "text", judge=broken)
    assert not outcome.passed and "internal error" in outcome.reason
    outcome = run({"type": "rubric", "rubric": "r"}, "text", judge=lambda m, p: "I like it")
    assert not outcome.passed and "no score" in outcome.reason
    assert not run({"type": "rubric", "rubric": "r"}, "", judge=lambda m, p: "10").passed


@pytest.mark.parametrize("text,score", [
    ('{"score": 7, "reason": "ok"}', 0.7),
    ("Score: 4/5. Reason: mostly right", 0.8),
    ("SCORE 0.25", 0.25),
    ("9", 0.9),
    ("85", 0.85),
    ("nothing here", None),
])
def test_parse_judgement(text, score):
    got, _ = parse_judgement(text)
    assert got == (pytest.approx(score) if score is not None else None)


def test_weighted_combination_and_threshold():
    outcomes = [run({"type": "contains", "value": "a", "weight": 3}, "a"),
                run({"type": "contains", "value": "b", "weight": 1}, "a")]
    score, passed = combine(outcomes)
    assert score == pytest.approx(0.75) and not passed
    assert combine(outcomes, threshold=0.7) == (pytest.approx(0.75), True)
    assert combine(outcomes, threshold=0.8)[1] is False
    informational = [outcomes[0], run({"type": "contains", "value": "b", "weight": 0}, "a")]
    assert combine(informational) == (1.0, True)


def test_every_registered_type_is_documented():
    doc = (__import__("pathlib").Path(__file__).parents[2] / "docs" / "evals.md").read_text()
    missing = [name for name in ASSERTIONS if f"`{name}`" not in doc]
    assert not missing


def test_descriptions_are_json_serialisable():
    for name in ("contains", "regex", "json-schema"):
        spec = {"type": name, "value": "x"} if name == "contains" else (
            {"type": name, "pattern": "x"} if name == "regex" else {"type": name, "schema": SCHEMA})
        json.dumps(build(spec).describe())


@pytest.mark.slow
def test_similar_uses_the_bundled_minilm():
    close = run({"type": "similar", "threshold": 0.6}, "Employees get 25 days of annual leave.",
                expected="Staff receive twenty-five days of paid holiday per year.")
    far = run({"type": "similar", "threshold": 0.6}, "The API rate limit is 100 requests.",
              expected="Staff receive twenty-five days of paid holiday per year.")
    assert close.passed and far.score < close.score and not far.passed
    assert not run({"type": "similar"}, "", expected="x").passed


@pytest.mark.slow
def test_no_pii_finds_an_email_in_the_output():
    assert run({"type": "no-pii"}, "Write to the HR team.").passed
    outcome = run({"type": "no-pii"}, "Mail jane.doe@example.com or call 212-555-0100.")
    assert not outcome.passed and "EMAIL_ADDRESS" in outcome.reason
