"""The Documents page and the chat playground's "use documents" path, through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"


def _app(page: str) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    return AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)


def _services():
    from core.config import Settings
    from core.services import Services

    return Services.build(Settings())


def _until_idle(at: AppTest, timeout: float = 240.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if not _services().jobs.jobs(active_only=True):
            at.run()
            return
        time.sleep(0.5)
    raise AssertionError("uploads still running")


def test_documents_page_create_upload_list_search_delete() -> None:
    at = _app("documents.py").run()
    assert not at.exception
    assert "Create a collection" in at.info[0].value
    form_name = next(t for t in at.text_input if t.label == "Collection name")
    form_name.input("handbook")
    next(b for b in at.button if b.label == "Create collection").click().run()
    assert not at.exception
    assert at.selectbox(key="docs.collection").value == "handbook"

    uploader = at.file_uploader(key="docs.files.0")
    assert "MB" not in uploader.label  # the limit is stated once, by the uploader itself
    uploader.set_value([
        ("employee-handbook.md", (SAMPLES / "employee-handbook.md").read_bytes(), "text/markdown"),
        ("empty.txt", b"", "text/plain"),
    ]).run()
    next(b for b in at.button if b.label == "Index files").click().run()
    assert not at.exception
    # The files were handed to the background worker; the page polls the database.
    _until_idle(at)
    assert any(s.value.startswith("Indexed employee-handbook.md") for s in at.success)
    # Red in the upload list (and beside the failed document in the Documents tab when it
    # is the chosen one: the worker may finish the two files in either order).
    errors = [e.value for e in at.error]
    assert errors and set(errors) == {"empty.txt is empty (0 bytes)."}
    assert not list(at.get("progress"))  # no bar left: green for the good file, red for the bad
    assert {b.label for b in at.button} >= {"Retry", "Remove", "Clear finished"}

    at.run()
    table = at.dataframe[0].value
    assert set(table["file"]) == {"employee-handbook.md", "empty.txt"}
    assert dict(zip(table["file"], table["status"], strict=True)) == {
        "employee-handbook.md": "Ready", "empty.txt": "Failed"}
    assert dict(zip(table["file"], table["problem"], strict=True))["empty.txt"] == (
        "empty.txt is empty (0 bytes).")

    # The failed upload can be removed from the list.
    next(b for b in at.button if b.label == "Remove").click().run()
    assert not at.exception
    assert len(at.error) == len(errors) - 1 and "Remove" not in {b.label for b in at.button}

    at.text_input(key="docs.query").input("How many days of annual leave?").run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    hit = next(lbl for lbl in labels if lbl.startswith("[1] employee-handbook.md"))
    assert hit.endswith("relevance") and "Annual leave" in hit and "rrf" not in hit
    assert any("relevance:" in c.value and "similar" in c.value for c in at.caption)
    assert any("27 days of paid annual leave" in m.value for m in at.markdown)

    empty_id = next(d.id for d in _services().rag.documents("handbook")
                    if d.file_name == "empty.txt")
    at.selectbox(key="docs.chosen").set_value(empty_id)
    at.button(key="docs.del").click().run()
    assert not at.exception
    assert set(at.dataframe[0].value["file"]) == {"employee-handbook.md"}


def test_chat_use_documents_shows_numbered_sources(wire, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire.base_url}/v1")
    monkeypatch.setenv("TRELLIS_DEFAULT_MODEL", "openai/gpt-4o-mini")
    wire.reply = "Birth parents get 20 weeks of paid leave [1]."
    svc = _services()
    svc.rag.create_collection("handbook")
    svc.rag.ingest("handbook", [("employee-handbook.md",
                                 (SAMPLES / "employee-handbook.md").read_bytes())])
    svc.close()

    at = _app("chat.py").run()
    assert not at.exception
    at.toggle(key="chat.rag.on").set_value(True).run()
    assert at.selectbox(key="chat.rag.collection").value == "handbook"
    at.chat_input[0].set_value("How long is parental leave for birth parents?").run()
    assert not at.exception
    # The marker matches source [1]: shown as a badge, and the sources line names it.
    assert any("20 weeks of paid leave" in m.value and ":blue-badge[1]" in m.value
               for m in at.markdown)
    assert any("the answer cites [1]" in c.value for c in at.caption)
    labels = [e.label for e in at.expander]
    first = next(lbl for lbl in labels if lbl.startswith("[1] "))
    assert "employee-handbook.md" in first and first.endswith(" relevance")
    assert "score" not in first
    assert any("20 weeks of fully paid parental leave" in m.value for m in at.markdown)
    system = wire.requests[-1].body["messages"][0]
    assert system["role"] == "system" and "[1] (employee-handbook.md" in system["content"]


def test_chat_says_when_documents_could_not_be_used(wire, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{wire.base_url}/v1")
    monkeypatch.setenv("TRELLIS_DEFAULT_MODEL", "openai/gpt-4o-mini")
    svc = _services()
    svc.rag.create_collection("handbook")
    svc.rag.ingest("handbook", [("notes.txt", b"The office opens at eight.")])
    svc.rag.store.drop("handbook")  # registry still lists it; the store has lost it
    svc.close()

    at = _app("chat.py").run()
    at.toggle(key="chat.rag.on").set_value(True).run()
    at.chat_input[0].set_value("Anything?").run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Answered without your documents: retrieval failed."]
    assert any("Hello from the wire server." in m.value for m in at.markdown)


def test_empty_documents_page_loads_the_shipped_samples():
    from core.config import Settings
    from core.services import Services

    at = AppTest.from_file(str(ROOT / "pages" / "documents.py"), default_timeout=180).run()
    assert not at.exception
    at.button(key="docs.samples").click().run()
    assert not at.exception, at.exception
    svc = Services.build(Settings())
    docs = svc.rag.documents("samples")
    assert len(docs) == 9 and all(d.status == "ready" for d in docs)
    svc.close()


def test_documents_second_collection_is_chosen_without_an_error() -> None:
    """Creating a collection while another is shown used to set the sidebar selectbox's
    state after it was drawn (StreamlitWidgetAlreadyInstantiatedError on the page)."""
    at = _app("documents.py").run()
    for name in ("first", "second"):
        next(t for t in at.text_input if t.label == "Collection name").input(name)
        next(b for b in at.button if b.label == "Create collection").click().run()
        assert not at.exception, at.exception
        assert at.selectbox(key="docs.collection").value == name
    assert any("chunking: token windows with overlap" in c.value for c in at.caption)
    assert not any("recursive" in c.value for c in at.caption)


def test_documents_choices_survive_a_page_switch() -> None:
    """The chosen collection and the search box came back as defaults after another page."""
    main = str(ROOT / "app" / "main.py")
    st.cache_resource.clear()
    at = AppTest.from_file(main, default_timeout=120).run()
    at.switch_page("../pages/documents.py").run()
    for name in ("first", "second"):
        next(t for t in at.text_input if t.label == "Collection name").input(name)
        next(b for b in at.button if b.label == "Create collection").click().run()
    at.selectbox(key="docs.collection").set_value("first")
    at.text_input(key="docs.query").input("annual leave")
    at.slider(key="docs.top_k").set_value(7)
    at.text_input(key="docs.tag").input("hr")
    at.run()
    at.switch_page("../pages/operations.py").run()
    at.run()  # a second run on the other page: Streamlit has dropped the page's widgets
    at.switch_page("../pages/documents.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="docs.collection").value == "first"
    assert at.text_input(key="docs.query").value == "annual leave"
    assert at.slider(key="docs.top_k").value == 7
    assert at.text_input(key="docs.tag").value == "hr"
