"""Documents: collections, uploads with progress, the document list, and a search preview."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, handles, rag_widgets
from core.rag.chunking import STRATEGIES
from core.rag.loaders import SUPPORTED
from core.rag.service import RagError
from core.rag.store import StoreError

auth.page("documents.search")
svc = handles.services()
rag = svc.rag
settings = svc.settings
writes = auth.can("documents.write")  # viewers search; the buttons below are disabled

st.title("Documents")
st.caption("Upload files into a collection; the chat playground can then answer from them "
           "with numbered citations.")
if not writes:
    st.info("You can search documents; adding, re-indexing or deleting them needs the editor role.")


def _create_form() -> None:
    with st.form("docs.create", clear_on_submit=True):
        name = st.text_input("Collection name", placeholder="handbook")
        chunking = st.radio("Chunking", list(STRATEGIES), format_func=STRATEGIES.get,
                            horizontal=True)
        c1, c2 = st.columns(2)
        size = c1.number_input("Chunk size (tokens)", 32, 2000, settings.rag_chunk_tokens, 8)
        overlap = c2.number_input("Overlap (tokens)", 0, 1000, settings.rag_chunk_overlap, 5)
        if st.form_submit_button("Create collection", icon=":material/add:", disabled=not writes):
            auth.require("documents.write")
            try:
                rag.create_collection(name, chunking=chunking, chunk_tokens=int(size),
                                      chunk_overlap=int(overlap))
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                rag_widgets.after_change()
                st.session_state["docs.collection"] = name.strip()
                st.rerun()


names = rag_widgets.collection_names()
with st.sidebar:
    collection = st.selectbox("Collection", names, key="docs.collection") if names else None
    with st.expander("New collection", expanded=not names):
        _create_form()
    if collection:
        with st.expander("Rename or delete"):
            new_name = st.text_input("New name", value=collection, key="docs.rename")
            if st.button("Rename", key="docs.rename.go", disabled=not writes):
                auth.require("documents.write")
                try:
                    rag.rename_collection(collection, new_name)
                except (RagError, StoreError) as err:
                    st.error(str(err))
                else:
                    rag_widgets.after_change()
                    st.session_state["docs.collection"] = new_name.strip()
                    st.rerun()
            sure = st.checkbox("Delete this collection and all its documents",
                               key="docs.delete.sure")
            if st.button("Delete collection", disabled=not (sure and writes), type="primary",
                         key="docs.delete.go"):
                try:
                    auth.require("documents.write")
                    rag.delete_collection(collection)
                except (RagError, StoreError) as err:
                    st.error(str(err))
                else:
                    rag_widgets.after_change()
                    st.session_state.pop("docs.collection", None)
                    st.rerun()

if not collection:
    st.info("Create a collection in the sidebar to start, or try the shipped sample documents.")
    if st.button("Load the sample documents", key="docs.samples", icon=":material/library_books:",
                 disabled=not writes):
        auth.require("documents.write")
        with st.spinner("Reading, chunking and embedding the samples…"):
            try:
                results = rag.load_samples()
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                rag_widgets.after_change()
                st.session_state["docs.collection"] = "samples"
                ready = sum(r.status == "ready" for r in results)
                st.toast(f"Loaded {ready} sample documents into 'samples'.")
                st.rerun()
    st.stop()

info = rag.collection(collection)
st.caption(f"**{collection}** · chunking: {info.chunking}, {info.chunk_tokens} tokens, "
           f"overlap {info.chunk_overlap} · embeddings: {info.embedding_model}")

upload_tab, list_tab, search_tab = st.tabs(["Upload", "Documents", "Search"])

with upload_tab:
    files = st.file_uploader(
        f"Files (PDF, Word, HTML, Markdown, text, CSV; up to {settings.rag_max_upload_mb:g} MB)",
        type=sorted({s.lstrip(".") for s in SUPPORTED}), accept_multiple_files=True,
        key="docs.files", disabled=not writes,
    )
    c1, c2 = st.columns([3, 1])
    tags = c1.text_input("Tags (comma-separated, optional)", key="docs.tags")
    replace = c2.checkbox("Replace existing", key="docs.replace",
                          help="Index again when the same content or file name is already here.")
    if st.button("Index files", type="primary", disabled=not (files and writes),
                 icon=":material/upload:"):
        auth.require("documents.write")
        batch = [(f.name, f.getvalue()) for f in files or []]
        overall = st.progress(0.0, text=f"0 of {len(batch)} files")
        bars = [st.progress(0.0, text=name) for name, _ in batch]
        done = [0.0] * len(batch)

        def on_progress(i: int, frac: float, msg: str) -> None:
            done[i] = frac
            bars[i].progress(min(frac, 1.0), text=f"{batch[i][0]}: {msg}")
            finished = sum(1 for d in done if d >= 1.0)
            overall.progress(sum(done) / len(done), text=f"{finished} of {len(batch)} files")

        tag_list = [t for t in tags.split(",") if t.strip()]
        with st.spinner("Indexing…"):
            results = rag.ingest(collection, batch, tags=tag_list, replace=replace,
                                 progress=on_progress)
        for r in results:
            {"ready": st.success, "skipped": st.info}.get(r.status, st.error)(r.message)
        rag_widgets.after_change()

with list_tab:
    docs = rag.documents(collection)
    if not docs:
        st.info("No documents in this collection yet.")
    else:
        table = pd.DataFrame([
            {"id": d.id, "file": d.file_name, "status": d.status, "chunks": d.chunk_count,
             "size (KB)": round(d.size_bytes / 1000, 1), "tags": d.tags or "",
             "added by": d.created_by or "", "added (UTC)": d.created_at,
             "error": d.error or ""}
            for d in docs
        ])
        st.dataframe(table, hide_index=True, width="stretch")
        labels = {d.id: f"{d.file_name} (#{d.id}, {d.status})" for d in docs}
        chosen = st.selectbox("Document", list(labels), format_func=labels.get,
                              key="docs.chosen")
        c1, c2 = st.columns(2)
        if c1.button("Delete document", icon=":material/delete:", key="docs.del",
                     disabled=not writes):
            auth.require("documents.write")
            try:
                rag.delete_document(int(chosen))
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                st.rerun()
        if c2.button("Re-index", icon=":material/refresh:", key="docs.reindex",
                     disabled=not writes):
            auth.require("documents.write")
            bar = st.progress(0.0, text=labels[chosen])
            try:
                result = rag.reindex(int(chosen),
                                     progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                (st.success if result.status == "ready" else st.error)(result.message)
                rag_widgets.after_change()

with search_tab:
    query = st.text_input("Search this collection", key="docs.query",
                          placeholder="How many days of annual leave do we get?")
    c1, c2, c3 = st.columns(3)
    mode = c1.selectbox("Mode", list(rag_widgets.MODES), format_func=rag_widgets.MODES.get,
                        key="docs.mode")
    top_k = c2.slider("Top k", 1, 20, settings.rag_top_k, key="docs.top_k")
    tag = c3.text_input("Only tag", key="docs.tag")
    if query:
        try:
            hits = rag.search(collection, query, mode=mode, top_k=top_k,
                              filters={"tag": tag.strip()} if tag.strip() else None)
        except (RagError, StoreError) as err:
            st.error(str(err))
            hits = []
        if not hits and query:
            st.info("No matching chunks.")
        for n, h in enumerate(hits, start=1):
            label = rag_widgets.source_label({"n": n, "document": h.document, "page": h.page,
                                              "heading": h.heading, "score": h.score})
            with st.expander(label, expanded=n == 1):
                st.markdown(h.text)
                st.caption(" · ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in h.scores.items()))
