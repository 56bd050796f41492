"""RAG widgets: the chat playground's "use documents" controls and source display,
plus the cached readers the Documents page shares."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import handles
from app.state import keep
from core.rag.citations import attribute, cited, mark

MODES = {"hybrid": "Hybrid (vector + keyword)", "vector": "Vector (meaning)",
         "bm25": "Keyword (BM25)"}


@st.cache_data(ttl=10, show_spinner=False)
def collection_names() -> list[str]:
    return [c.name for c in handles.services().rag.collections()]


def after_change() -> None:
    """Clear the readers a collection or document change invalidates."""
    collection_names.clear()


def sidebar_options() -> dict[str, Any] | None:
    """The chat page's "Use documents" controls; the `rag` request option, or None when off."""
    st.markdown("**Documents**")
    on = st.toggle("Use documents", key=keep("chat.rag.on", False),
                   help="Answer from a document collection, with numbered citations.")
    if not on:
        return None
    names = collection_names()
    if not names:
        st.caption("No collections yet: add documents on the Documents page.")
        return None
    collection = st.selectbox("Collection", names,
                              key=keep("chat.rag.collection", names[0], options=names))
    mode = st.selectbox("Retrieval", list(MODES), format_func=MODES.get,
                        key=keep("chat.rag.mode", "hybrid", options=MODES))
    top_k = st.slider("Chunks to retrieve", 1, 10,
                      key=keep("chat.rag.top_k", handles.services().settings.rag_top_k))
    rewrite = st.checkbox("Let the model rewrite the query first",
                          key=keep("chat.rag.rewrite", False))
    return {"collection": collection, "mode": mode, "top_k": top_k, "rewrite": rewrite}


def answer_extras(resp: Any) -> dict[str, Any]:
    """What an answer needs to keep for `render_sources` (from a CompletionResponse)."""
    return {"sources": list(resp.sources), "degraded": list(resp.degraded)}


def render_sources(answer: dict[str, Any]) -> None:
    """A note when documents could not be used, and every source chunk, in full."""
    if "retrieve" in (answer.get("degraded") or []):
        st.warning("Answered without your documents: retrieval failed.", icon=":material/warning:")
    sources = answer.get("sources") or []
    if not sources:
        return
    text = answer.get("text") or ""
    numbers = cited(text, len(sources))
    if numbers:
        used = ", ".join(f"[{n}]" for n in numbers)
        st.caption(f"Sources ({len(sources)}) · the answer cites {used}")
    elif added := cited(_attributed(text, sources), len(sources)):
        used = ", ".join(f"[{n}]" for n in added)
        st.caption(f"Sources ({len(sources)}) · the model wrote no source numbers; Trellis marked "
                   f"the sentences that repeat {used}")
    else:
        st.caption(f"Sources ({len(sources)}) · the answer cites none of them by number")
    for s in sources:
        with st.expander(source_label(s)):
            st.markdown(s["text"])
            if s.get("scores"):
                st.caption(relevance(s["scores"])[1])
            st.caption(f"chunk {s['chunk_id']}")


def source_label(s: dict[str, Any]) -> str:
    where = [s["document"]]
    if s.get("page"):
        where.append(f"page {s['page']}")
    if s.get("heading"):
        where.append(s["heading"])
    if s.get("scores"):
        level, _ = relevance(s["scores"])
        return f"[{s['n']}] {' · '.join(where)} · {level.lower()} relevance"
    return f"[{s['n']}] {' · '.join(where)}"


def relevance(scores: dict[str, float], best_keyword: float | None = None) -> tuple[str, str]:
    """("High"/"Medium"/"Low", a sentence saying why) for one search hit.

    People read "close in meaning (62% similar)" and "contains your search
    words"; a fused rank score such as "rrf 0.033" means nothing to them.
    """
    similarity = scores.get("vector")
    keyword = scores.get("bm25")
    reasons = []
    if similarity is not None:
        pct = max(0, min(100, round(similarity * 100)))
        level = "High" if similarity >= 0.5 else "Medium" if similarity >= 0.3 else "Low"
        closeness = {"High": "close in meaning", "Medium": "related in meaning",
                     "Low": "loosely related in meaning"}[level]
        reasons.append(f"{closeness} ({pct}% similar)")
    else:
        share = (keyword or 0.0) / best_keyword if best_keyword else 0.0
        level = "High" if share >= 0.7 else "Medium" if share >= 0.4 else "Low"
    if keyword is not None and keyword > 0:
        reasons.append("contains your search words")
    elif similarity is not None and "bm25_rank" not in scores and (
            "rrf" in scores or "combined" in scores):
        reasons.append("does not contain your exact words")
    text = " and ".join(reasons) if reasons else "matched your search"
    return level, f"{level} relevance: {text}."


def answer_markdown(answer: dict[str, Any]) -> str:
    """The answer's text with each [n] that matches a listed source shown as a badge."""
    text = answer.get("text") or ""
    sources = answer.get("sources") or []
    if not sources:
        return text
    return mark(_attributed(text, sources), len(sources), lambda n: f" :blue-badge[{n}]")


def _attributed(text: str, sources: list[dict[str, Any]]) -> str:
    """The model's own markers, or else markers after sentences that repeat a source."""
    return attribute(text, [s.get("text") or "" for s in sources])
