"""Datasets (versions, import with mapping and bad rows, add from the call log), suites, stats."""

from __future__ import annotations

import json

import pytest

from core.db import make_engine, migrate
from core.evals import (
    CaseIn,
    DatasetError,
    DatasetStore,
    EvalStore,
    PromptRef,
    Suite,
    SuiteError,
    mcnemar_exact,
    preview_import,
    wilson,
)
from core.evals.models import EvalResult, EvalRun


@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_versions_are_immutable_and_identical_saves_reuse_the_newest(db):
    store = DatasetStore(db)
    v1 = store.save("faq", [CaseIn(message="a?"), CaseIn(message="b?", expected="B")])
    assert store.save("faq", [CaseIn(message="a?"), CaseIn(message="b?", expected="B")]) == v1
    v2 = store.save("faq", [CaseIn(message="a?")])
    assert v2 != v1
    assert [d.version for d in store.versions("faq")] == [2, 1]
    assert [c.key for c in store.cases(v1)] == ["case-1", "case-2"]
    assert len(store.cases(v1)) == 2 and len(store.cases(v2)) == 1
    [info] = store.list()
    assert (info.name, info.version, info.cases) == ("faq", 2, 1)


def test_save_refuses_empty_cases_and_duplicate_keys(db):
    store = DatasetStore(db)
    with pytest.raises(DatasetError, match="Case 2: the case has neither"):
        store.save("x", [CaseIn(message="ok"), CaseIn(message="  ")])
    with pytest.raises(DatasetError, match="share the key 'k'"):
        store.save("x", [CaseIn(message="a", key="k"), CaseIn(message="b", key="k")])
    with pytest.raises(DatasetError, match="name"):
        store.save(" ", [CaseIn(message="a")])


CSV = (
    b"id,question,answer,tags,product\n"
    b"1,How many leave days?,25 days,\"hr,leave\",Handbook\n"
    b"2,,missing question,,\n"
    b"3,Wie viele Tage Urlaub?,25 Tage,de,Handbuch\n"
    b"4,too,many,values,here,extra\n"
)


def test_csv_import_guesses_the_mapping_and_reports_bad_rows():
    preview = preview_import(CSV, "cases.csv")
    assert preview.columns == ["id", "question", "answer", "tags", "product"]
    assert [c.message for c in preview.cases] == ["How many leave days?", "Wie viele Tage Urlaub?"]
    assert preview.cases[0].tags == ["hr", "leave"] and preview.cases[0].key == "1"
    assert preview.bad_rows == [(3, "the case has neither a message nor input variables"),
                                (5, "this row has more values than there are columns")]


def test_column_mapping_can_fill_variables(db):
    mapping = {"key": "id", "var:topic": "question", "var:product": "product",
               "expected": "answer"}
    preview = preview_import(CSV, "cases.csv", mapping)
    assert preview.cases[0].variables == {"topic": "How many leave days?", "product": "Handbook"}
    assert preview.cases[0].message is None
    dataset_id, _ = DatasetStore(db).import_file("vars", CSV, "cases.csv", mapping)
    assert DatasetStore(db).cases(dataset_id)[1].variables["product"] == "Handbuch"


def test_jsonl_import_with_unicode_bad_lines_and_own_assertions():
    lines = [
        json.dumps({"input": "Grüße? 你好", "expected": "hallo", "metadata": {"lang": "de"},
                    "assert": [{"type": "icontains", "value": "hallo"}]}, ensure_ascii=False),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"vars": {"city": "Köln"}}),
        json.dumps({"input": "x", "metadata": "[1]"}),
    ]
    preview = preview_import("\n".join(lines).encode(), "cases.jsonl")
    assert [c.message for c in preview.cases] == ["Grüße? 你好", None]
    assert preview.cases[0].metadata["assert"][0]["type"] == "icontains"
    assert preview.cases[1].variables == {"city": "Köln"}
    assert [r for r, _ in preview.bad_rows] == [2, 3, 5]
    assert "not valid JSON" in preview.bad_rows[0][1]


def test_import_refuses_other_formats_and_non_utf8():
    with pytest.raises(DatasetError, match=".csv or .jsonl"):
        preview_import(b"x", "cases.xlsx")
    with pytest.raises(DatasetError, match="UTF-8"):
        preview_import("frage\nwäre".encode("latin-1"), "cases.csv")


def test_add_from_call_copies_the_stored_redacted_text(db):
    from core.telemetry.models import utcnow
    from core.telemetry.store import CallRecord, TelemetryStore

    tel = TelemetryStore(db)
    call_id = tel.record(CallRecord(
        trace_id="t" * 32, created_at=utcnow(), source="playground", provider="local",
        model="gemma",
        input_text=json.dumps([{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": "Email <EMAIL_ADDRESS_1> please"}]),
        output_text="Sure.", status="ok", latency_ms=5.0, stream=False))
    store = DatasetStore(db)
    store.save("bad-answers", [CaseIn(message="first")])
    version = store.add_from_call(call_id, "bad-answers")
    cases = store.cases(version)
    assert [c.key for c in cases] == ["case-1", f"call-{call_id}"]
    new = cases[-1]
    assert new.message == "Email <EMAIL_ADDRESS_1> please" and new.source_call_id == call_id
    assert new.meta["system"] == "Be brief." and new.meta["original_output"] == "Sure."
    with pytest.raises(DatasetError, match="not in the log"):
        store.add_from_call(999, "bad-answers")


def test_prompt_refs_parse_every_form():
    assert PromptRef.parse("support@production") == PromptRef("support", "production")
    assert PromptRef.parse("support:5") == PromptRef("support", None, 5)
    assert PromptRef.parse({"name": "s", "version": 2}).key == "s:2"
    assert PromptRef.parse(None).key == "plain"


def test_suite_file_with_a_dataset_beside_it(tmp_path):
    (tmp_path / "cases.jsonl").write_text(json.dumps({"input": "hi", "expected": "hello"}) + "\n")
    (tmp_path / "s.yaml").write_text(
        "dataset: cases.jsonl\nmodels: [openai/gpt-4o-mini]\nprompts: [greet@production]\n"
        "assert: [{type: icontains, value: hello}]\nthresholds: {pass_rate: 0.9}\n")
    suite = Suite.load(tmp_path / "s.yaml")
    assert suite.name == "s" and suite.cases[0].expected == "hello"
    assert suite.prompts == [PromptRef("greet", "production")]
    assert Suite.from_snapshot(suite.snapshot()).prompts == suite.prompts


@pytest.mark.parametrize("body,phrase", [
    ("dataset: c.jsonl\nmodels: []\n", "names no model"),
    ("dataset: c.jsonl\nmodels: [a/b]\nassert: [{type: exec, value: x}]\n", "not an assertion"),
    ("dataset: c.jsonl\nmodels: [a/b]\nparams: {seed: 1}\n", "not a model parameter"),
    ("dataset: missing.jsonl\nmodels: [a/b]\n", "could not be read"),
    ("dataset: c.jsonl\nmodels: [a/b]\nshell: rm\n", "unknown setting 'shell'"),
    ("[1, 2", "not valid YAML"),
])
def test_bad_suites_fail_with_one_sentence(tmp_path, body, phrase):
    (tmp_path / "c.jsonl").write_text('{"input": "x"}\n')
    (tmp_path / "s.yaml").write_text(body)
    with pytest.raises(SuiteError, match=phrase):
        Suite.load(tmp_path / "s.yaml")


def test_wilson_interval_and_exact_mcnemar():
    low, high = wilson(18, 20)
    assert low == pytest.approx(0.699, abs=1e-3) and high == pytest.approx(0.972, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert mcnemar_exact(0, 2) == pytest.approx(0.5)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 9) < 0.05


def _run(db, suite, outcomes, label=None):
    from core.db import session_scope

    with session_scope(db) as s:
        run = EvalRun(suite=suite, label=label, config={"prompts": [{}], "models": ["a/b"]},
                      status="done", total_cells=len(outcomes))
        s.add(run)
        s.flush()
        for key, passed in outcomes.items():
            s.add(EvalResult(run_id=run.id, cell_key=key, model="a/b", case_key=key,
                             status="error" if passed is None else "ok", passed=bool(passed),
                             cost_usd=0.001))
        return run.id


def test_a_two_case_swing_on_twenty_cases_is_noise(db):
    base = {f"c{i}": True for i in range(20)}
    worse = dict(base, c0=False, c1=False)
    a, b = _run(db, "s", base), _run(db, "s", worse)
    comp = EvalStore(db).compare(a, b)
    assert (comp.regressions, comp.fixes, comp.shared) == (2, 0, 20)
    assert comp.p_value == pytest.approx(0.5) and not comp.significant
    assert "No significant difference" in comp.verdict
    many = _run(db, "s", dict(base, **{f"c{i}": False for i in range(10)}))
    comp = EvalStore(db).compare(a, many)
    assert comp.significant and "Significantly worse" in comp.verdict


def test_errored_cases_are_left_out_of_the_comparison_and_runs_list_totals(db):
    a = _run(db, "s", {"x": True, "y": False, "z": True}, label="production")
    b = _run(db, "s", {"x": True, "y": True, "z": None})
    comp = EvalStore(db).compare(a, b)
    assert [c.kind for c in comp.changes] == ["unchanged", "fix", "errored"]
    infos = {r.id: r for r in EvalStore(db).runs()}
    assert (infos[b].passed, infos[b].graded, infos[b].errors) == (2, 2, 1)
    assert infos[a].cost_usd == pytest.approx(0.003)
    assert EvalStore(db).baseline("s", {"label": "production"}) == a
    assert [r.id for r in EvalStore(db).trend("s")] == [a, b]
