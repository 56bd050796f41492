"""The Prompts page through AppTest, on the real engine and the wire server:
create, try, save, diff, make production, roll back."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.services import Services
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "prompts.py")
ED = "prompts.ed.greet"


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Hello Ada, welcome to ACME."
    services = Services.build(Settings())
    yield services
    services.close()


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.success] + [e.value for e in at.info]
    parts += [e.value for e in at.warning] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_empty_page_explains_itself(svc):
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    assert "No prompts yet" in _texts(at)


def test_editor_flow_create_try_save_diff_label_and_roll_back(svc, wire):
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    next(t for t in at.text_input if t.label == "Name").set_value("Greet Customers")
    _ok(_button(at, "Create prompt").click().run())
    assert "saved as 'greet-customers'" in _texts(at)
    assert svc.prompts.exists("greet-customers")

    ed = "prompts.ed.greet-customers"
    at.text_area(key=f"{ed}.system").set_value("You greet customers of {{ company }}.")
    at.text_area(key=f"{ed}.user").set_value("Say hello to {{ name }}.")
    _ok(at.run())
    at.text_input(key=f"{ed}.var1.company").set_value("ACME")
    at.text_input(key=f"{ed}.var1.name").set_value("Ada")
    at.selectbox(key=f"{ed}.model").set_value("openai/gpt-4o-mini")
    _ok(at.button(key=f"{ed}.try").click().run())
    assert "9 → 5 tokens" in _texts(at) and "latency" in _texts(at)
    _ok(at.run())  # the answer stays on the page after the stream, in full
    assert "Hello Ada, welcome to ACME." in _texts(at)
    assert "come from an earlier draft" not in _texts(at)
    at.text_input(key=f"{ed}.var1.name").set_value("Bo")
    _ok(at.run())  # the old answer stays, marked as made from an earlier draft
    assert "Hello Ada, welcome to ACME." in _texts(at)
    assert "come from an earlier draft" in _texts(at)
    at.text_input(key=f"{ed}.var1.name").set_value("Ada")
    _ok(at.run())
    assert "come from an earlier draft" not in _texts(at)
    sent = wire.completion_requests()[-1].body["messages"]
    assert sent == [{"role": "system", "content": "You greet customers of ACME."},
                    {"role": "user", "content": "Say hello to Ada."}]

    # Saving asks for a note; then version 1 is saved and becomes production.
    _ok(at.button(key=f"{ed}.save").click().run())
    assert "Write a short note" in _texts(at)
    at.text_input(key=f"{ed}.note").set_value("First greeting")
    _ok(at.button(key=f"{ed}.save").click().run())
    assert "Saved version 1. It is production now" in _texts(at)
    assert svc.prompts.prompt("greet-customers").production_version == 1

    # Edit, try side by side with production, save version 2.
    at.text_area(key=f"{ed}.user").set_value("Say a warm hello to {{ name }}.")
    _ok(at.button(key=f"{ed}.try").click().run())
    assert "Draft (not saved)" in _texts(at) and "Production (v1)" in _texts(at)
    at.text_input(key=f"{ed}.note").set_value("Warmer")
    _ok(at.button(key=f"{ed}.save").click().run())
    assert "Saved version 2. Production is still v1" in _texts(at)
    assert [v.version for v in svc.prompts.versions("greet-customers")] == [2, 1]

    # The diff between the two versions.
    codes = "\n".join(c.value for c in at.code)
    assert "-Say hello to {{ name }}." in codes and "+Say a warm hello to {{ name }}." in codes

    # Make v2 production, with confirmation.
    _ok(at.button(key="prompts.make_prod").click().run())
    assert "Move 'production' from v1 to v2?" in _texts(at)
    at.text_input(key="prompts.confirm.reason").set_value("warmer wins")
    _ok(at.button(key="prompts.confirm.yes").click().run())
    assert "'production' now points at v2." in _texts(at)
    assert svc.prompts.prompt("greet-customers").production_version == 2

    # Roll back to v1.
    _ok(at.button(key="prompts.rollback").click().run())
    assert "Roll back 'production' from v2 to v1?" in _texts(at)
    _ok(at.button(key="prompts.confirm.yes").click().run())
    assert svc.prompts.prompt("greet-customers").production_version == 1
    moves = svc.prompts.history("greet-customers", label="production")
    assert [(m.from_version, m.to_version) for m in moves] == [(2, 1), (1, 2), (None, 1)]
    assert moves[1].reason == "warmer wins"


def test_a_broken_template_is_a_plain_warning_and_cannot_be_saved(svc):
    svc.prompts.create("greet", by="ada")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    at.text_area(key=f"{ED}.user").set_value("Hi {{ name.__class__ }}")
    _ok(at.run())
    assert "reads the hidden attribute '__class__'" in _texts(at)
    at.text_input(key=f"{ED}.note").set_value("try")
    _ok(at.button(key=f"{ED}.save").click().run())
    assert svc.prompts.versions("greet") == []


CHAT = str(ROOT / "pages" / "chat.py")


def test_chat_playground_uses_a_registry_prompt_and_saves_its_system_prompt(svc, wire):
    svc.prompts.create("greet", by="ada")
    svc.prompts.save_version("greet", by="ada", system="You greet for {{ company }}.",
                             user="Greet the customer.",
                             variables=[{"name": "company", "example": "ACME"}])
    at = _ok(AppTest.from_file(CHAT, default_timeout=60).run())
    at.selectbox(key="chat.model_a").set_value("openai/gpt-4o-mini")
    at.selectbox(key="chat.prompt").set_value("greet")
    _ok(at.run())
    assert at.text_input(key="chat.prompt.greet.var.company").value == "ACME"
    at.text_input(key="chat.prompt.greet.var.company").set_value("Globex")
    at.chat_input[0].set_value("Hi there")
    _ok(at.run())
    sent = wire.completion_requests()[-1].body["messages"]
    assert sent == [{"role": "system", "content": "You greet for Globex."},
                    {"role": "user", "content": "Greet the customer."},
                    {"role": "user", "content": "Hi there"}]
    [row] = svc.telemetry.recent_calls(10)
    assert (row.prompt_name, row.prompt_version) == ("greet", 1)

    # "Save as prompt" turns the playground's system prompt into a new prompt.
    at.selectbox(key="chat.prompt").set_value("(none)")
    at.text_area(key="chat.system").set_value("You answer in French.")
    _ok(at.run())
    at.text_input(key="chat.save.name").set_value("French answers")
    _ok(at.button(key="chat.save.go").click().run())
    assert "Saved as french-answers version 1." in _texts(at)
    assert svc.prompts.version("french-answers", 1).system == "You answer in French."


def test_labels_tab_adds_protects_and_archive_restores(svc):
    svc.prompts.create("greet", by="ada")
    svc.prompts.save_version("greet", by="ada", user="one")
    svc.prompts.save_version("greet", by="ada", user="two")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    next(t for t in at.text_input if t.label == "New label").set_value("canary")
    _ok(_button(at, "Add label").click().run())
    assert "Added label 'canary'." in _texts(at)
    at.selectbox(key="prompts.lab.which").set_value("canary")
    at.selectbox(key="prompts.lab.to").set_value(2)
    _ok(at.button(key="prompts.lab.move").click().run())
    _ok(at.button(key="prompts.confirm.yes").click().run())
    assert svc.prompts.prompt("greet").label("canary").version == 2
    at.selectbox(key="prompts.lab.guard").set_value("staging")
    _ok(at.button(key="prompts.lab.protect").click().run())
    assert svc.prompts.prompt("greet").label("staging").protected
    _ok(at.button(key="prompts.archive").click().run())
    assert svc.prompts.prompt("greet").archived and "is archived" in _texts(at)
    _ok(at.button(key="prompts.restore").click().run())
    assert not svc.prompts.prompt("greet").archived


def test_purpose_tags_and_variable_descriptions_are_saved(svc):
    svc.prompts.create("greet", by="ada")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    at.text_input(key="prompts.details.greet.tags").set_value("support, Email")
    _ok(_button(at, "Save purpose and tags").click().run())
    assert svc.prompts.prompt("greet").tags == ("support", "email")
    at.text_area(key=f"{ED}.user").set_value("Hi {{ name }}")
    _ok(at.run())
    at.text_input(key=f"{ED}.var1.name").set_value("Ada")
    at.text_input(key=f"{ED}.desc1.name").set_value("The customer's first name")
    at.text_input(key=f"{ED}.note").set_value("first")
    _ok(at.button(key=f"{ED}.save").click().run())
    [var] = svc.prompts.version("greet", 1).variables
    assert (var.name, var.example, var.description) == ("name", "Ada",
                                                        "The customer's first name")
    # The tag filter finds it.
    at.selectbox(key="prompts.tag").set_value("email")
    _ok(at.run())
    assert at.selectbox(key="prompts.open").options == ["greet"]


def test_a_half_typed_draft_survives_a_visit_to_another_page(svc, app_path):
    svc.prompts.create("greet", by="ada")
    at = _ok(AppTest.from_file(app_path, default_timeout=60).run())
    _ok(at.switch_page("../pages/prompts.py").run())
    at.text_area(key=f"{ED}.user").set_value("Hello {{ name }}, half typed")
    _ok(at.run())
    at.text_input(key=f"{ED}.var1.name").set_value("Ada")
    _ok(at.button(key=f"{ED}.ex.add").click().run())
    at.text_area(key=f"{ED}.ex1.0.q").set_value("An example question")
    at.radio(key=f"{ED}.fmt.mode").set_value("Fields I list")
    _ok(at.run())
    _ok(at.button(key=f"{ED}.fmt.add").click().run())
    at.text_input(key=f"{ED}.fmt1.0.name").set_value("reply")
    _ok(at.run())
    _ok(at.switch_page("../pages/operations.py").run())
    _ok(at.run())  # a second run on the other page drops the prompts page's widgets
    _ok(at.switch_page("../pages/prompts.py").run())
    assert at.text_area(key=f"{ED}.user").value == "Hello {{ name }}, half typed"
    assert at.text_input(key=f"{ED}.var1.name").value == "Ada"
    assert at.text_area(key=f"{ED}.ex1.0.q").value == "An example question"
    assert at.radio(key=f"{ED}.fmt.mode").value == "Fields I list"
    assert at.text_input(key=f"{ED}.fmt1.0.name").value == "reply"


def test_two_unsaved_drafts_run_side_by_side(svc, wire):
    svc.prompts.create("greet", by="ada")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    at.text_area(key=f"{ED}.user").set_value("Draft A for {{ name }}")
    at.selectbox(key=f"{ED}.model").set_value("openai/gpt-4o-mini")
    _ok(at.run())
    at.text_input(key=f"{ED}.var1.name").set_value("Ada")
    _ok(at.button(key=f"{ED}.pin").click().run())
    at.text_area(key=f"{ED}.user").set_value("Draft B for {{ name }}")
    _ok(at.button(key=f"{ED}.try").click().run())
    assert "Pinned draft" in _texts(at) and "Draft (not saved)" in _texts(at)
    sent = sorted(r.body["messages"][-1]["content"] for r in wire.completion_requests())
    assert sent == ["Draft A for Ada", "Draft B for Ada"]
    assert svc.prompts.versions("greet") == []  # trying saves nothing


def _frame_text(at: AppTest) -> str:
    return "\n".join(t.value.to_string() for t in [*at.dataframe, *at.table])


def test_examples_answer_format_guard_and_documents_are_edited_tried_saved_and_diffed(svc, wire):
    svc.prompts.create("greet", by="ada")
    svc.prompts.save_version("greet", by="ada", system="You greet for ACME.",
                             user="Say hello to {{ name }}.",
                             variables=[{"name": "name", "example": "Ada"}])
    svc.rag.create_collection("handbook")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    assert "Example exchanges" in [e.label for e in at.expander]

    # Three examples: type them, remove the second, move the third up.
    for _ in range(3):
        _ok(at.button(key=f"{ED}.ex.add").click().run())
    for i, (q, a) in enumerate([("Hi, I am Bo.", "Hello Bo, welcome to ACME!"),
                                ("Drop me", "gone"),
                                ("Hey, {{ name }} here.", "Hi {{ name }}!")]):
        at.text_area(key=f"{ED}.ex1.{i}.q").set_value(q)
        at.text_area(key=f"{ED}.ex1.{i}.a").set_value(a)
    _ok(at.run())
    assert at.text_area(key=f"{ED}.ex1.1.q").label == "Example 2: user message"
    _ok(at.button(key=f"{ED}.ex.rm.1").click().run())
    _ok(at.button(key=f"{ED}.ex.up.2").click().run())
    assert at.text_area(key=f"{ED}.ex1.2.q").label == "Example 1: user message"
    assert at.text_area(key=f"{ED}.ex1.0.a").label == "Example 2: answer"

    # Trying sends the examples, in their order, before the user message.
    at.selectbox(key=f"{ED}.model").set_value("openai/gpt-4o-mini")
    _ok(at.button(key=f"{ED}.try").click().run())
    sent = wire.completion_requests()[0].body["messages"]
    assert sent == [
        {"role": "system", "content": "You greet for ACME."},
        {"role": "user", "content": "Hey, Ada here."},
        {"role": "assistant", "content": "Hi Ada!"},
        {"role": "user", "content": "Hi, I am Bo."},
        {"role": "assistant", "content": "Hello Bo, welcome to ACME!"},
        {"role": "user", "content": "Say hello to Ada."},
    ]

    # The answer format as fields; a half-filled field is a plain sentence, not a crash.
    at.radio(key=f"{ED}.fmt.mode").set_value("Fields I list")
    _ok(at.run())
    assert "Add at least one field, or pick Free text." in _texts(at)
    _ok(at.button(key=f"{ED}.fmt.add").click().run())
    _ok(at.button(key=f"{ED}.fmt.add").click().run())
    at.text_input(key=f"{ED}.fmt1.0.name").set_value("greeting")
    at.text_input(key=f"{ED}.fmt1.1.desc").set_value("Whether to call back")
    _ok(at.run())
    assert "Answer field 2 has no name; give it one or remove it." in _texts(at)
    at.text_input(key=f"{ED}.fmt1.1.name").set_value("call_back")
    at.selectbox(key=f"{ED}.fmt1.1.kind").set_value("yes or no")
    at.checkbox(key=f"{ED}.fmt1.1.req").uncheck()
    # Guardrail policy and documents, in plain words.
    assert at.selectbox(key=f"{ED}.guard").value == "Use the default"
    at.selectbox(key=f"{ED}.guard").set_value("strict")
    assert at.selectbox(key=f"{ED}.rag").options == ["No documents", "handbook"]
    at.selectbox(key=f"{ED}.rag").set_value("handbook")
    _ok(at.run())
    at.number_input(key=f"{ED}.top_k").set_value(3)
    at.text_input(key=f"{ED}.note").set_value("Examples and a format")
    _ok(at.button(key=f"{ED}.save").click().run())
    assert "Saved version 2." in _texts(at)

    v2 = svc.prompts.version("greet", 2)
    assert v2.examples_pairs == [("Hey, {{ name }} here.", "Hi {{ name }}!"),
                                 ("Hi, I am Bo.", "Hello Bo, welcome to ACME!")]
    cfg = v2.config
    assert (cfg.guard_policy, cfg.rag_collection, cfg.rag_top_k) == ("strict", "handbook", 3)
    assert cfg.response_schema == {
        "type": "object",
        "properties": {"greeting": {"type": "string"},
                       "call_back": {"type": "boolean", "description": "Whether to call back"}},
        "required": ["greeting"], "additionalProperties": False}
    # The editor shows the saved version at once.
    assert at.selectbox(key=f"{ED}.base").value == 2
    assert at.text_area(key=f"{ED}.ex1.2.q").value == "Hey, {{ name }} here."
    assert at.radio(key=f"{ED}.fmt.mode").value == "Fields I list"

    # The diff names each example and shows the settings in words.
    text = _texts(at)
    assert "**Example exchanges**: 0 in v1, 2 in v2." in text
    assert "**Example 1: user message**" in text and "**Example 2: answer**" in text
    codes = "\n".join(c.value for c in at.code)
    assert "+Hey, {{ name }} here." in codes and "+Hello Bo, welcome to ACME!" in codes
    frames = _frame_text(at)
    assert "greeting (text); call_back (yes or no, optional)" in frames
    assert "free text" in frames and "the default" in frames and "strict" in frames
    assert "no documents" in frames and "handbook" in frames
    assert "None" not in frames

    # Loading v1 again empties the examples and the format; v2 brings them back.
    at.selectbox(key=f"{ED}.base").set_value(1)
    _ok(at.run())
    assert not [t for t in at.text_area if ".ex" in (t.key or "")]
    assert at.radio(key=f"{ED}.fmt.mode").value == "Free text"
    assert at.selectbox(key=f"{ED}.guard").value == "Use the default"
    at.selectbox(key=f"{ED}.base").set_value(2)
    _ok(at.run())
    assert at.text_area(key=f"{ED}.ex3.0.a").value == "Hi {{ name }}!"
    assert at.text_input(key=f"{ED}.fmt3.1.name").value == "call_back"
    assert at.selectbox(key=f"{ED}.rag").value == "handbook"


def test_a_schema_the_fields_cannot_show_is_kept_as_json_and_a_bad_one_is_refused(svc):
    custom = {"type": "object", "properties": {"mood": {"enum": ["happy", "sad"]}}}
    svc.prompts.create("greet", by="ada")
    svc.prompts.save_version("greet", by="ada", user="Hi", config={"response_schema": custom})
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    assert at.radio(key=f"{ED}.fmt.mode").value == "A JSON schema (advanced)"
    assert "shown as a JSON schema" in _texts(at)
    at.text_area(key=f"{ED}.user").set_value("Hello")
    at.text_input(key=f"{ED}.note").set_value("shorter")
    _ok(at.button(key=f"{ED}.save").click().run())
    assert svc.prompts.version("greet", 2).config.response_schema == custom  # kept

    # JSON the fields can say becomes fields on a switch, and fields become JSON.
    at.text_area(key=f"{ED}.fmt.json").set_value(
        '{"type": "object", "properties": {"mood": {"type": "string"}}, '
        '"additionalProperties": false}')
    _ok(at.run())
    at.radio(key=f"{ED}.fmt.mode").set_value("Fields I list")
    _ok(at.run())
    assert at.text_input(key=f"{ED}.fmt1.0.name").value == "mood"
    assert at.checkbox(key=f"{ED}.fmt1.0.req").value is False
    at.checkbox(key=f"{ED}.fmt1.0.req").check()
    _ok(at.run())
    at.radio(key=f"{ED}.fmt.mode").set_value("A JSON schema (advanced)")
    _ok(at.run())
    assert '"required": [\n    "mood"\n  ]' in at.text_area(key=f"{ED}.fmt.json").value

    at.text_area(key=f"{ED}.fmt.json").set_value('{"type": "object", "required": "mood"}')
    _ok(at.run())
    sentence = ("The JSON schema is not valid: the part at “required” has the wrong kind of "
                "value.")
    assert sentence in _texts(at)
    at.text_input(key=f"{ED}.note").set_value("broken")
    _ok(at.button(key=f"{ED}.save").click().run())
    assert f"The answer format is not ready: {sentence}" in _texts(at)
    assert len(svc.prompts.versions("greet")) == 2


def test_trying_a_draft_too_big_for_the_model_says_so_in_one_sentence(svc, wire):
    svc.prompts.create("long", by="ada")
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    ed = "prompts.ed.long"
    model = "local/smollm2-135m-instruct"
    if model not in at.selectbox(key=f"{ed}.model").options:
        pytest.skip("the local model is not installed")
    at.text_area(key=f"{ed}.system").set_value("Rules. " * 300)
    at.text_area(key=f"{ed}.user").set_value("Hi")
    at.selectbox(key=f"{ed}.model").set_value(model)
    at.number_input(key=f"{ed}.max_tokens").set_value(1800)
    _ok(at.run())
    # Said before trying, as the person types...
    assert ("With the example values this prompt is about 537 tokens + 1,800 for the answer; "
            "local/smollm2-135m-instruct holds 2,048. That is too big") in _texts(at)
    # ...and trying refuses with the sentence the engine gives.
    _ok(at.button(key=f"{ed}.try").click().run())
    assert ("The draft of long needs about 2,337 tokens (537 for the messages and 1,800 for "
            "the answer), but local/smollm2-135m-instruct holds 2,048.") in _texts(at)
