"""Sign-in, roles and the Access page through AppTest."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from core.access import CLI, hash_key
from core.config import Settings
from core.services import Services
from tests.conftest import ROOT

PAGES = ROOT / "pages"
PASSWORD = "a long enough password"


@pytest.fixture
def svc():
    services = Services.build(Settings())
    yield services
    services.close()


@pytest.fixture
def password_mode(monkeypatch, svc):
    monkeypatch.setenv("TRELLIS_AUTH", "password")
    for name, role in (("ada", "admin"), ("ed", "editor"), ("val", "viewer")):
        svc.access.add_user(CLI, name, role, PASSWORD)
    return svc


def _as(at: AppTest, user: str | None) -> AppTest:
    if user:
        at.session_state["auth.user"] = {"name": user, "expires": time.time() + 3600}
    return at


def _page(name: str, user: str | None = None) -> AppTest:
    at = _as(AppTest.from_file(str(PAGES / name), default_timeout=60), user).run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_access_page_creates_a_key_shown_once_and_revokes_it(svc):
    at = _page("access.py")
    form_inputs = {t.label: t for t in at.text_input}
    form_inputs["Name"].input("support bot")
    _button(at, "Create key").click().run()
    assert not at.exception, at.exception
    [shown] = [c.value for c in at.code]
    [key] = svc.access.list_keys()
    assert key.name == "support bot" and key.key_hash == hash_key(shown)
    assert shown not in repr(key.model_dump())
    at.run()  # any later run: the secret is gone from the page
    assert not at.code
    _button(at, "Revoke").click().run()
    assert svc.access.list_keys()[0].revoked_at is not None
    actions = [e.action for e in svc.access.events()]
    assert actions[:2] == ["key.revoke", "key.create"]
    assert {e.actor for e in svc.access.events()} == {"local admin"}


def test_audit_view_filters_and_exports_csv(svc):
    svc.access.add_user(CLI, "ed", "editor", PASSWORD)
    svc.access.create_key(CLI, "batch")
    at = _page("access.py")
    frames = [df.value for df in at.dataframe]
    audit = frames[-1]
    # Actions in words, not codes (user.add); the CSV keeps the codes.
    assert set(audit["action"]) == {"user added", "API key created"}
    at.selectbox(key="access.audit_kind").select("key").run()
    assert list(at.dataframe[-1].value["action"]) == ["API key created"]
    assert "experiment" in at.selectbox(key="access.audit_kind").options or \
        "experiments" in at.selectbox(key="access.audit_kind").options
    csv = svc.access.events_csv(action="user")
    assert csv.splitlines()[0].startswith("time (UTC),actor,action")
    assert "user.add" in csv and "key.create" not in csv


def test_sign_in_form_wrong_then_right_password_then_lock_out(password_mode):
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    at.text_input[0].input("ed")
    at.text_input[1].input("wrong password!")
    at.button[0].click().run()
    assert "do not match" in at.error[0].value
    at.text_input[0].input("ed")
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["auth.user"]["name"] == "ed"
    assert "Signed in as **ed** (editor)" in " ".join(c.value for c in at.sidebar.caption)
    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017
            password_mode.access.authenticate("val", "not it at all")
    fresh = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    fresh.text_input[0].input("val")
    fresh.text_input[1].input(PASSWORD)
    fresh.button[0].click().run()
    assert "locked" in fresh.error[0].value


def test_sign_in_form_says_how_to_create_the_first_admin(monkeypatch, svc):
    monkeypatch.setenv("TRELLIS_AUTH", "password")
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60).run()
    assert "users add NAME --admin" in at.warning[0].value


def test_expired_session_asks_to_sign_in_again(password_mode):
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.session_state["auth.user"] = {"name": "ed", "expires": time.time() - 1}
    at.run()
    assert "session expired" in at.info[0].value
    assert [t.label for t in at.text_input] == ["User name", "Password"]


def test_viewer_cannot_open_admin_pages_and_documents_are_read_only(password_mode):
    ops = _page("operations.py", "val")
    assert "Your role (viewer) cannot open the Operations page" in ops.error[0].value
    assert not [b for b in ops.button if b.label.startswith("Save")]
    guards = _page("guardrails.py", "val")
    assert "cannot change guardrail policies" in guards.error[0].value
    chat = _page("chat.py", "val")
    assert "cannot use the chat playground" in chat.error[0].value
    access = _page("access.py", "val")
    assert "cannot manage users" in access.error[0].value
    docs = _page("documents.py", "val")
    assert _button(docs, "Load the sample documents").disabled
    editor_docs = _page("documents.py", "ed")
    assert not _button(editor_docs, "Load the sample documents").disabled


def test_viewer_calling_a_write_action_directly_is_refused(password_mode):
    def script():
        from app import auth, handles

        auth.require("routes.write")
        handles.services().reliability.routes.save("sneaky", ["openai/gpt-4o-mini"])

    at = _as(AppTest.from_function(script, default_timeout=60), "val").run()
    assert "Your role (viewer) cannot change routes" in at.error[0].value
    assert "sneaky" not in password_mode.reliability.routes.all()
    at = _as(AppTest.from_function(script, default_timeout=60), "ada").run()
    assert not at.error
    password_mode.reliability.routes._cache = None
    assert "sneaky" in password_mode.reliability.routes.all()


def test_route_save_records_the_acting_user(password_mode):
    at = _page("operations.py", "ada")
    at.text_input(key="ops.route_name").input("main")
    at.text_area(key="ops.route_chain").input("openai/gpt-4o-mini\nlocal/gemma-3-270m")
    _button(at, "Save route").click().run()
    assert not at.exception, at.exception
    [event] = password_mode.access.events(action="route")
    assert (event.actor, event.action, event.target) == ("ada", "route.save", "route/main")
    assert "local/gemma-3-270m" in event.after


def test_navigation_lists_only_what_the_role_may_open(password_mode):
    from app.auth import visible
    from core.access import Actor

    class P:
        def __init__(self, url_path):
            self.url_path = url_path
            self._page = ROOT / "pages" / f"{url_path}.py"

    sections = {"Build": [P("chat"), P("documents")],
                "Configure": [P("operations"), P("guardrails"), P("access")],
                "Monitor": [P("monitoring_latency")]}

    def names(role):
        return {s: [p.url_path for p in ps]
                for s, ps in visible(Actor("x", role), sections).items()}

    assert names("viewer") == {"Build": ["documents"], "Monitor": ["monitoring_latency"]}
    assert names("editor") == {"Build": ["chat", "documents"], "Monitor": ["monitoring_latency"]}
    assert names("admin") == {s: [p.url_path for p in ps] for s, ps in sections.items()}
    default = P("chat")
    default.url_path = ""  # a default page's url path is empty: pages match by their script
    assert visible(Actor("x", "viewer"), {"Build": [default]}) == {}


def test_viewer_cannot_save_a_prompt_version_even_by_calling_the_action(password_mode):
    password_mode.prompts.create("greeting", by="ada")
    password_mode.prompts.save_version("greeting", by="ada", user="Hello {{ name }}", note="v1")

    def script():
        from app import auth, handles

        auth.require("prompts.write")
        handles.services().prompts.save_version(
            "greeting", by="val", user="Hi {{ name }}", note="sneaky"
        )

    at = _as(AppTest.from_function(script, default_timeout=60), "val").run()
    assert "Your role (viewer) cannot save prompt versions" in at.error[0].value
    assert [v.version for v in password_mode.prompts.versions("greeting")] == [1]

    page = _page("prompts.py", "val")
    assert "can look at prompts but not change them" in page.info[0].value
    assert all(b.disabled for b in page.button if b.label == "Create prompt")

    at = _as(AppTest.from_function(script, default_timeout=60), "ed").run()
    assert not at.error
    assert sorted(v.version for v in password_mode.prompts.versions("greeting")) == [1, 2]


def test_adding_a_user_says_so_after_the_table_updates(svc):
    """The success sentence was drawn just before a rerun, so nobody saw it."""
    at = _page("access.py")
    next(t for t in at.text_input if t.label.startswith("User name")).input("grace")
    next(t for t in at.text_input if t.label.startswith("Password")).input(PASSWORD)
    _button(at, "Add user").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["User 'grace' added as viewer."]
    assert "grace" in set(at.dataframe[0].value["user"])
