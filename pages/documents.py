"""Documents: collections, uploads with progress, the document list, and a search preview."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app import auth, handles, rag_widgets
from app.state import keep
from app.widgets import end_page
from core.rag.chunking import STRATEGIES
from core.rag.loaders import SUPPORTED
from core.rag.models import (
    CANCELLED,
    FAILED,
    INGESTING,
    QUEUED,
    READY,
    RUNNING,
    SKIPPED,
    RagJob,
)
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


NEXT_COLLECTION = "docs.collection.next"


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
                # The collection selectbox is already drawn in this run: hand the new name
                # to the next run, which sets it before the selectbox exists.
                st.session_state[NEXT_COLLECTION] = name.strip()
                st.rerun()


names = rag_widgets.collection_names()
if (wanted := st.session_state.pop(NEXT_COLLECTION, None)) in names:
    st.session_state["docs.collection"] = wanted
with st.sidebar:
    collection = st.selectbox(
        "Collection", names, key=keep("docs.collection", names[0], options=names)
    ) if names else None
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
                    st.session_state[NEXT_COLLECTION] = new_name.strip()
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
                st.session_state[NEXT_COLLECTION] = "samples"
                ready = sum(r.status == "ready" for r in results)
                st.toast(f"Loaded {ready} sample documents into 'samples'.")
                st.rerun()
    end_page()

info = rag.collection(collection)
how = STRATEGIES.get(info.chunking, info.chunking)
st.caption(f"**{collection}** · chunking: {how[:1].lower()}{how[1:]}, "
           f"{info.chunk_tokens} tokens, overlap {info.chunk_overlap} · "
           f"embeddings: {info.embedding_model}")

upload_tab, list_tab, search_tab = st.tabs(["Upload", "Documents", "Search"])
jobs = svc.jobs
limit_mb = max(1, math.ceil(settings.rag_max_upload_mb))
STATUS = {READY: "Ready", FAILED: "Failed", INGESTING: "Indexing…"}


def _job_row(j: RagJob) -> None:
    """One upload: a bar while it runs; green only when indexed, red with the reason and
    Retry / Remove when it failed."""
    jid = int(j.id)  # type: ignore[arg-type]
    if j.status in (QUEUED, RUNNING):
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        text = f"{j.file_name}: {j.message or 'Waiting to start'}"
        if j.status == QUEUED:
            c1.progress(0.0, text=f"{j.file_name}: waiting to start")
        else:
            c1.progress(min(max(j.progress, 0.0), 0.99), text=text)
        if c2.button("Cancel", key=f"docs.job.{jid}.cancel",
                     disabled=j.cancel_requested or not writes):
            _act(lambda: jobs.cancel(jid))
        return
    if j.status == READY:
        st.success(j.message or f"Indexed {j.file_name}.", icon=":material/check_circle:")
        return
    if j.status == SKIPPED:
        st.info(j.message or f"{j.file_name} was skipped.", icon=":material/info:")
        return
    box = st.error if j.status == FAILED else st.warning
    c1, c2, c3 = st.columns([5, 1, 1], vertical_alignment="center")
    with c1:
        box(j.message or f"{j.file_name} was not indexed.",
            icon=":material/error:" if j.status == FAILED else ":material/cancel:")
    if c2.button("Retry", key=f"docs.job.{jid}.retry", icon=":material/refresh:",
                 disabled=not writes):
        _act(lambda: jobs.retry(jid))
    if c3.button("Remove", key=f"docs.job.{jid}.remove", icon=":material/close:",
                 disabled=not writes,
                 help="Take this message off the list (a failed document stays in the "
                      "Documents tab until you delete it there)."):
        _act(lambda: jobs.dismiss(jid))


def _act(action) -> None:
    auth.require("documents.write")
    try:
        action()
    except (RagError, StoreError) as err:
        st.error(str(err))
        return
    rag_widgets.after_change()
    st.rerun()


def _uploads() -> None:
    """The upload list, read from the database: it survives a refresh or a second tab."""
    rows = jobs.jobs(collection, limit=100)
    active = [j for j in rows if j.status in (QUEUED, RUNNING)]
    was_active = st.session_state.get("docs.jobs_active", False)
    st.session_state["docs.jobs_active"] = bool(active)
    if was_active and not active:
        st.rerun(scope="app")  # the document list and search now include the new files
    if not rows:
        return
    st.markdown("**Uploads**")
    if active:
        files_word = "file is" if len(active) == 1 else "files are"
        st.caption(f"{len(active)} {files_word} being indexed. You can leave this page or close "
                   "the browser: indexing carries on.")
    for j in rows:
        _job_row(j)
    finished = [j for j in rows if j.status in (READY, SKIPPED, CANCELLED)]
    if finished and st.button("Clear finished", key="docs.jobs.clear",
                              icon=":material/done_all:", disabled=not writes):
        _act(lambda: jobs.dismiss_finished(collection))


with upload_tab:
    round_ = st.session_state.setdefault("docs.upload_round", 0)
    files = st.file_uploader(
        "Files (PDF, Word, HTML, Markdown, text or CSV)",
        type=sorted({s.lstrip(".") for s in SUPPORTED}), accept_multiple_files=True,
        key=f"docs.files.{round_}", max_upload_size=limit_mb, disabled=not writes,
    )
    c1, c2 = st.columns([3, 1])
    tags = c1.text_input("Tags (comma-separated, optional)", key=keep("docs.tags", ""))
    replace = c2.checkbox("Replace existing", key=keep("docs.replace", False),
                          help="Index again when the same content or file name is already here.")
    if st.button("Index files", type="primary", disabled=not (files and writes),
                 icon=":material/upload:"):
        who = auth.require("documents.write")
        batch = [(f.name, f.getvalue()) for f in files or []]
        tag_list = [t for t in tags.split(",") if t.strip()]
        try:
            jobs.submit(collection, batch, tags=tag_list, replace=replace,
                        user=who.name)
        except (RagError, StoreError, OSError) as err:
            st.error(str(err) if not isinstance(err, OSError) else
                     "The files could not be saved for indexing: the data folder is not "
                     "writable or full.")
        else:
            st.session_state["docs.upload_round"] = round_ + 1  # an empty uploader again
            st.session_state["docs.jobs_active"] = True
            st.rerun()
    busy = bool(jobs.jobs(collection, active_only=True))
    st.fragment(run_every=1.0 if busy else None)(_uploads)()

with list_tab:
    docs = rag.documents(collection)
    if not docs:
        st.info("No documents in this collection yet.")
    else:
        table = pd.DataFrame([
            {"id": d.id, "file": d.file_name, "status": STATUS.get(d.status, d.status),
             "chunks": d.chunk_count, "size (KB)": round(d.size_bytes / 1000, 1),
             "tags": d.tags or "", "added by": d.created_by or "", "added (UTC)": d.created_at,
             "problem": d.error or ""}
            for d in docs
        ])
        st.dataframe(table, hide_index=True, width="stretch")
        labels = {d.id: f"{d.file_name} (#{d.id}, {STATUS.get(d.status, d.status)})"
                  for d in docs}
        by_id = {d.id: d for d in docs}
        chosen = st.selectbox("Document", list(labels), format_func=labels.get,
                              key="docs.chosen")
        doc = by_id.get(chosen)
        if doc is not None and doc.status == FAILED and doc.error:
            st.error(doc.error, icon=":material/error:")
        c1, c2 = st.columns(2)
        if c1.button("Delete document", icon=":material/delete:", key="docs.del",
                     disabled=not writes):
            auth.require("documents.write")
            try:
                rag.delete_document(int(chosen))
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                rag_widgets.after_change()
                st.rerun()
        again = "Retry" if doc is not None and doc.status == FAILED else "Re-index"
        if c2.button(again, icon=":material/refresh:", key="docs.reindex",
                     disabled=not writes or (doc is not None and doc.status == INGESTING),
                     help="Index this file again from the copy Trellis kept; progress shows "
                          "on the Upload tab."):
            auth.require("documents.write")
            try:
                jobs.retry_document(int(chosen))
            except (RagError, StoreError) as err:
                st.error(str(err))
            else:
                rag_widgets.after_change()
                st.toast(f"{doc.file_name if doc else 'The document'} is queued; progress "
                         "shows on the Upload tab.")
                st.rerun()

with search_tab:
    query = st.text_input("Search this collection", key=keep("docs.query", ""),
                          placeholder="How many days of annual leave do we get?")
    c1, c2, c3 = st.columns(3)
    modes = list(rag_widgets.MODES)
    mode = c1.selectbox("Mode", modes, format_func=rag_widgets.MODES.get,
                        key=keep("docs.mode", modes[0], options=modes))
    top_k = c2.slider("Results", 1, 20, key=keep("docs.top_k", settings.rag_top_k))
    tag = c3.text_input("Only tag", key=keep("docs.tag", ""))
    if query:
        try:
            hits = rag.search(collection, query, mode=mode, top_k=top_k,
                              filters={"tag": tag.strip()} if tag.strip() else None)
        except (RagError, StoreError) as err:
            st.error(str(err))
            hits = []
        if not hits and query:
            st.info("No matching passages.")
        best_kw = max((h.scores.get("bm25", 0.0) for h in hits), default=0.0) or None
        for n, h in enumerate(hits, start=1):
            level, why = rag_widgets.relevance(h.scores, best_kw)
            where = [h.document]
            if h.page:
                where.append(f"page {h.page}")
            if h.heading:
                where.append(h.heading)
            with st.expander(f"[{n}] {' · '.join(where)} · {level.lower()} relevance",
                             expanded=n == 1):
                st.markdown(h.text)
                st.caption(why)
