"""Citation markers in a RAG answer match the numbered sources listed under it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _answer_script() -> None:
    import streamlit as st

    from app import rag_widgets

    answer = st.session_state["answer"]
    st.markdown(rag_widgets.answer_markdown(answer))
    rag_widgets.render_sources(answer)


def _source(n: int, document: str) -> dict:
    return {"n": n, "document": document, "document_id": n, "page": None, "heading": None,
            "score": 0.5, "text": f"text of {document}", "chunk_id": f"c{n}"}


def _run(text: str) -> AppTest:
    at = AppTest.from_function(_answer_script, default_timeout=30)
    at.session_state["answer"] = {
        "text": text, "sources": [_source(1, "handbook.md"), _source(2, "faq.md")],
    }
    at.run()
    assert not at.exception, at.exception
    return at


def test_markers_that_match_a_source_are_badges_and_the_line_names_them():
    at = _run("Leave is 27 days [2]. Ask HR [1][2]. Also [7].")
    body = at.markdown[0].value
    assert ":blue-badge[2]" in body and ":blue-badge[1]" in body
    assert "[7]" in body and ":blue-badge[7]" not in body  # no source 7: left as written
    assert "the answer cites [2], [1]" in at.caption[0].value
    labels = [e.label for e in at.expander]
    assert labels[0].startswith("[1] handbook.md") and labels[1].startswith("[2] faq.md")


def test_an_answer_without_markers_says_so():
    at = _run("Leave is 27 days.")
    assert at.markdown[0].value == "Leave is 27 days."
    assert "cites none of them by number" in at.caption[0].value


def test_sentences_repeating_a_source_get_its_marker_and_the_line_says_who_added_it():
    at = AppTest.from_function(_answer_script, default_timeout=30)
    leave = _source(1, "handbook.md") | {
        "text": "Employees receive 27 days of paid annual leave each calendar year."}
    at.session_state["answer"] = {
        "text": "You get 27 days of paid annual leave each year.", "sources": [leave],
    }
    at.run()
    assert not at.exception, at.exception
    assert at.markdown[0].value.endswith("each year  :blue-badge[1].")
    assert "the model wrote no source numbers; Trellis marked the sentences that repeat [1]" in (
        at.caption[0].value)
