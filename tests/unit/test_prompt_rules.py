"""Registry rules on a real SQLite file: names, versions, labels, diff, YAML round trip."""

from __future__ import annotations

import pytest
import yaml

from core import cli
from core.db import make_engine, migrate
from core.prompts import PromptError, PromptRegistry, slugify
from core.prompts.io import export_dir, import_dir


@pytest.fixture
def reg(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'prompts.db'}")
    migrate(db)
    yield PromptRegistry(db)
    db.dispose()


@pytest.mark.parametrize(("name", "slug"), [
    ("Support Reply", "support-reply"),
    ("../../etc/passwd", "etc-passwd"),
    ("Café  crème!", "cafe-creme"),
    ("already-fine-2", "already-fine-2"),
])
def test_names_are_slugged(reg, name, slug):
    assert slugify(name) == slug
    assert reg.create(name, by="ada").name == slug


@pytest.mark.parametrize("name", ["日本語", "   ", "!!!", "/"])
def test_names_without_letters_or_digits_are_refused_plainly(reg, name):
    with pytest.raises(PromptError) as info:
        reg.create(name, by="ada")
    assert info.value.user_message.startswith("A prompt name needs at least one letter or digit")


def test_a_duplicate_name_is_refused(reg):
    reg.create("greet", by="ada")
    with pytest.raises(PromptError, match="already exists"):
        reg.create("Greet", by="bo")


def test_versions_are_numbered_and_identical_content_saves_nothing(reg):
    reg.create("greet", by="ada")
    first = reg.save_version("greet", by="ada", system="Be kind.", user="Hi {{ name }}",
                             variables=[{"name": "name", "example": "Ada"}], note="start")
    again = reg.save_version("greet", by="bo", system="Be kind.", user="Hi {{ name }}",
                             variables=[{"name": "name", "example": "Ada"}])
    assert first.created and not again.created
    assert again.version.version == 1 and again.version.author == "ada"
    second = reg.save_version("greet", by="bo", system="Be kind.", user="Hi {{ name }}",
                              config={"temperature": 0.5})
    assert second.created and second.version.version == 2
    assert [v.version for v in reg.versions("greet")] == [2, 1]
    # The first version went to production by itself; later ones wait for a move.
    assert reg.get("greet").version == 1
    assert reg.get("greet", label="latest").version == 2


def test_labels_move_with_history_and_roll_back(reg):
    reg.create("greet", by="ada")
    for text in ("one", "two", "three"):
        reg.save_version("greet", by="ada", user=text)
    reg.move_label("greet", "production", 3, by="bo", reason="launch")
    move = reg.rollback("greet", by="cy")
    assert (move.from_version, move.to_version, move.moved_by) == (3, 1, "cy")
    history = reg.history("greet", label="production")
    assert [(m.from_version, m.to_version, m.moved_by, m.reason) for m in history] == [
        (3, 1, "cy", "roll back to version 1"),
        (1, 3, "bo", "launch"),
        (None, 1, "ada", "first version"),
    ]
    reg.add_label("greet", "Canary Users", by="ada")
    reg.move_label("greet", "canary-users", 2, by="ada")
    assert reg.get("greet", label="canary-users").version == 2


def test_protected_labels_ask_the_permission_hook_and_the_move_checks(reg):
    reg.create("greet", by="ada")
    reg.save_version("greet", by="ada", user="one")
    reg.save_version("greet", by="ada", user="two")
    reg.can_move_protected = lambda user, prompt, label: user == "lead"
    with pytest.raises(PromptError, match="is protected and bo may not move it"):
        reg.move_label("greet", "production", 2, by="bo")
    reg.move_checks.append(lambda ask: "The eval gate failed." if ask.to_version == 2 else None)
    with pytest.raises(PromptError, match="The eval gate failed."):
        reg.move_label("greet", "production", 2, by="lead")
    reg.move_label("greet", "staging", 2, by="bo")  # not protected: no checks
    assert reg.prompt("greet").production_version == 1


def test_archived_prompts_are_hidden_and_not_served(reg):
    reg.create("old", by="ada", tags=["legacy"])
    reg.save_version("old", by="ada", user="hi")
    reg.archive("old", by="ada")
    assert reg.list() == [] and [p.name for p in reg.list(include_archived=True)] == ["old"]
    with pytest.raises(PromptError, match="is archived"):
        reg.get("old")
    reg.restore("old", by="ada")
    assert reg.get("old").version == 1


def test_search_and_tags(reg):
    reg.create("support-reply", by="a", tags=["support", "email"], description="Replies")
    reg.create("summarize", by="a", tags=["ops"])
    assert [p.name for p in reg.list("REPL")] == ["support-reply"]
    assert [p.name for p in reg.list(tag="ops")] == ["summarize"]
    assert reg.tags() == ["email", "ops", "support"]


def test_diff_shows_text_settings_and_variables(reg):
    reg.create("greet", by="ada")
    reg.save_version("greet", by="ada", system="Be kind.", user="Hi {{ name }}",
                     config={"temperature": 0.2})
    reg.save_version("greet", by="ada", system="Be brief.", user="Hi {{ name }} from {{ city }}",
                     config={"temperature": 0.7, "model": "local/smollm2-135m"})
    d = reg.diff("greet", 1, 2)
    assert dict(d.messages)["system"][-2:] == ["-Be kind.", "+Be brief."]
    assert d.config == [("model", None, "local/smollm2-135m"), ("temperature", 0.2, 0.7)]
    assert d.variables_added == ["city"] and d.variables_removed == []
    assert reg.diff("greet", 2, 2).same


def test_bad_settings_are_plain_sentences(reg):
    reg.create("greet", by="ada")
    with pytest.raises(PromptError) as info:
        reg.save_version("greet", by="ada", user="hi", config={"temperature": 5})
    assert info.value.user_message == (
        "The setting 'temperature' is not valid: it must be at most 2."
    )
    with pytest.raises(PromptError, match="Write the user message"):
        reg.save_version("greet", by="ada", system="only a system message")


def _fill(reg):
    reg.create("greet", by="ada", tags=["demo"], description="Greets")
    reg.save_version("greet", by="ada", user="Hi {{ name }}",
                     variables=[{"name": "name", "description": "who", "example": "Ada"}])
    reg.save_version("greet", by="bo", messages=[
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hi {{ name }}"}], config={"max_tokens": 20}, note="few-shot")
    reg.move_label("greet", "production", 2, by="bo")
    reg.add_label("greet", "beta", by="bo")
    reg.move_label("greet", "beta", 1, by="bo")


def test_yaml_round_trip_keeps_numbers_authors_and_labels_and_is_idempotent(reg, tmp_path):
    _fill(reg)
    [path] = export_dir(reg, tmp_path / "out")
    data = yaml.safe_load(path.read_text())
    assert [v["version"] for v in data["versions"]] == [1, 2]
    db2 = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(db2)
    other = PromptRegistry(db2)
    report = import_dir(other, tmp_path / "out", by="importer")
    assert report.prompts_created == ["greet"] and not report.conflicts
    assert [(v.version, v.author, v.content_hash) for v in other.versions("greet")] == [
        (v.version, v.author, v.content_hash) for v in reg.versions("greet")]
    assert other.get("greet").version == 2 and other.get("greet", label="beta").version == 1
    assert other.version("greet", 1).variables[0].example == "Ada"
    again = import_dir(other, tmp_path / "out", by="importer")
    assert not again.changed and not again.conflicts and again.unchanged == 2
    # A changed version in the file is reported, and the stored one is kept.
    data["versions"][0]["messages"][0]["content"] = "Changed {{ name }}"
    data["labels"]["production"]["version"] = 1
    path.write_text(yaml.safe_dump(data))
    clash = import_dir(other, tmp_path / "out", by="importer")
    assert len(clash.conflicts) == 2 and not clash.changed
    assert other.version("greet", 1).user == "Hi {{ name }}"
    assert other.get("greet").version == 2
    db2.dispose()


def test_cli_export_and_import(tmp_path, capsys):
    assert cli.main(["prompts", "export", str(tmp_path / "none")]) == 0
    reg = __import__("core.prompts", fromlist=["connect"]).connect()
    _fill(reg)
    assert cli.main(["prompts", "export", str(tmp_path / "dir")]) == 0
    assert (tmp_path / "dir" / "greet.yaml").exists()
    assert cli.main(["prompts", "import", str(tmp_path / "dir")]) == 0
    out = capsys.readouterr().out
    assert "2 version(s) already here and unchanged" in out
    assert cli.main(["prompts", "export", str(tmp_path / "one"), "--name", "greet",
                     "--version", "1"]) == 0
    one = yaml.safe_load((tmp_path / "one" / "greet.yaml").read_text())
    assert [v["version"] for v in one["versions"]] == [1]
    assert one["labels"]["beta"]["version"] == 1 and one["labels"]["production"]["version"] is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.yaml").write_text("name: [unclosed")
    assert cli.main(["prompts", "import", str(tmp_path / "bad")]) == 1
    assert "x.yaml is not a readable YAML file." in capsys.readouterr().out
    reg._db.dispose()


def test_the_library_gets_and_renders_without_streamlit():
    from core import prompts

    reg = prompts.connect()
    reg.create("hello", by="dev")
    reg.save_version("hello", by="dev", system="Be {{ tone }}.", user="Hi {{ name }}")
    version = prompts.get("hello", label="production")
    assert version.version == 1
    assert [(m.role, m.content) for m in version.render({"tone": "brief", "name": "Ada"})] == [
        ("system", "Be brief."), ("user", "Hi Ada")]
    assert prompts.render("hello", {"tone": "kind", "name": "Bo"}, version=1)[1].content == "Hi Bo"
    reg._db.dispose()


def test_examples_and_answer_format_survive_yaml_and_a_bad_schema_is_a_conflict(reg, tmp_path):
    reg.create("tone", by="ada")
    schema = {"type": "object", "properties": {"reply": {"type": "string"}},
              "required": ["reply"], "additionalProperties": False}
    reg.save_version("tone", by="ada", system="Be {{ mood }}.",
                     examples=[("Hi", "Hello!"), ("Bye {{ who }}", "See you, {{ who }}.")],
                     user="{{ q }}", config={"response_schema": schema,
                                             "guard_policy": "strict", "rag_top_k": 3})
    export_dir(reg, tmp_path / "out")
    db2 = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(db2)
    other = PromptRegistry(db2)
    assert not import_dir(other, tmp_path / "out", by="importer").conflicts
    got = other.version("tone", 1)
    assert got.examples_pairs == [("Hi", "Hello!"), ("Bye {{ who }}", "See you, {{ who }}.")]
    assert got.variable_names == ["mood", "who", "q"]
    assert got.config == reg.version("tone", 1).config
    # A file whose schema is not a JSON schema is reported, not imported.
    path = tmp_path / "out" / "tone.yaml"
    data = yaml.safe_load(path.read_text())
    data["name"] = "tone-two"
    data["versions"][0]["config"]["response_schema"] = {"type": "text"}
    path.write_text(yaml.safe_dump(data))
    report = import_dir(other, tmp_path / "out", by="importer")
    assert report.conflicts == [
        "The JSON schema is not valid: the part at “type” is not one of the allowed values. "
        "Fix that part, or describe the answer with fields instead."]
    assert not other.exists("tone-two")  # a refused file leaves no empty prompt behind
    db2.dispose()


def test_an_example_with_one_half_missing_is_refused_and_the_diff_names_examples(reg):
    reg.create("ex", by="ada")
    with pytest.raises(PromptError, match="^Example 2 has a user message but no answer"):
        reg.save_version("ex", by="ada", user="Hi", examples=[("a", "b"), ("c", " ")])
    reg.save_version("ex", by="ada", user="Hi", examples=[("a", "b"), ("", "")])
    assert reg.version("ex", 1).examples_pairs == [("a", "b")]  # the empty pair dropped
    reg.save_version("ex", by="ada", user="Hi", examples=[("a", "B"), ("c", "d")])
    d = reg.diff("ex", 1, 2)
    assert d.examples == (1, 2)
    parts = dict(d.messages)
    assert list(parts) == ["example 1: answer", "example 2: user message", "example 2: answer"]
    assert parts["example 1: answer"][-2:] == ["-b", "+B"]
    assert "user" not in parts
