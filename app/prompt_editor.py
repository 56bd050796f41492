"""The Prompts page editor's larger pieces: example exchanges (few-shot pairs),
the answer format builder, the guard and document settings, and a readable
diff of two versions or drafts.

Each piece keeps its state under the editor's key prefix `ed`; `load_*`
puts a version's values there before the widgets are drawn.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pandas as pd
import streamlit as st

from app.state import keep
from core.prompts import VersionDiff, config_label
from core.prompts.answer_format import (
    KINDS,
    AnswerField,
    AnswerFormatError,
    describe,
    fields_from_schema,
    parse_schema,
    schema_from_fields,
)

# -- rows a person adds, removes and reorders (examples, answer fields) ------------
# Each list keeps its row ids under `<key>.ids` and the next free id under
# `<key>.next`, so a removed row's widgets never hand their values to another.


def _row_ids(key: str) -> list[int]:
    return list(st.session_state.get(f"{key}.ids", []))


def _reset_rows(key: str, n: int) -> None:
    st.session_state[f"{key}.ids"] = list(range(n))
    st.session_state[f"{key}.next"] = n


def _add_row(key: str) -> int:
    nxt = st.session_state.get(f"{key}.next", 0)
    st.session_state[f"{key}.ids"] = [*_row_ids(key), nxt]
    st.session_state[f"{key}.next"] = nxt + 1
    return nxt


def _remove_row(key: str, rid: int) -> None:
    st.session_state[f"{key}.ids"] = [i for i in _row_ids(key) if i != rid]


def _move_up(key: str, rid: int) -> None:
    ids = _row_ids(key)
    at = ids.index(rid)
    if at > 0:
        ids[at - 1], ids[at] = ids[at], ids[at - 1]
    st.session_state[f"{key}.ids"] = ids


# -- example exchanges ----------------------------------------------------------


def load_examples(ed: str, pairs: list[tuple[str, str]], gen: int) -> None:
    """Put a version's example pairs in the editor (fresh keys for this load)."""
    _reset_rows(f"{ed}.ex", len(pairs))
    for i, (question, answer) in enumerate(pairs):
        st.session_state[f"{ed}.ex{gen}.{i}.q"] = question
        st.session_state[f"{ed}.ex{gen}.{i}.a"] = answer


def examples_editor(ed: str, gen: int) -> list[tuple[str, str]]:
    """Example exchanges: pairs of an example user message and the answer wanted."""
    # Kept like the other fields, so a visit to another page keeps the examples.
    keep(f"{ed}.ex.ids", [])
    keep(f"{ed}.ex.next", 0)
    ids = _row_ids(f"{ed}.ex")
    with st.expander(f"Example exchanges ({len(ids)})" if ids else "Example exchanges",
                     expanded=bool(ids)):
        st.caption("Show the model how to answer: each example is a user message and the "
                   "answer you want. They are sent before the user message, in this order.")
        pairs: list[tuple[str, str]] = []
        for n, eid in enumerate(ids, start=1):
            q_col, a_col, b_col = st.columns([5, 5, 1.6])
            question = q_col.text_area(f"Example {n}: user message",
                                       key=keep(f"{ed}.ex{gen}.{eid}.q", ""), height=80)
            answer = a_col.text_area(f"Example {n}: answer",
                                     key=keep(f"{ed}.ex{gen}.{eid}.a", ""), height=80)
            b_col.write("")
            if n > 1:
                b_col.button("Up", key=f"{ed}.ex.up.{eid}", icon=":material/arrow_upward:",
                             help=f"Move example {n} up", on_click=_move_up, args=(f"{ed}.ex", eid))
            b_col.button("Remove", key=f"{ed}.ex.rm.{eid}", icon=":material/delete:",
                         help=f"Remove example {n}", on_click=_remove_row,
                         args=(f"{ed}.ex", eid))
            pairs.append((question, answer))
        st.button("Add an example", key=f"{ed}.ex.add", icon=":material/add:",
                  on_click=_add_row, args=(f"{ed}.ex",))
    return pairs


# -- answer format ------------------------------------------------------------------
FREE, FIELDS, ADVANCED = "Free text", "Fields I list", "A JSON schema (advanced)"
MODES = [FREE, FIELDS, ADVANCED]
KIND_NAMES = list(KINDS)


def load_answer_format(ed: str, schema: dict[str, Any] | None, gen: int) -> None:
    """Put a version's response schema in the editor: as fields when fields say it
    exactly, otherwise as JSON in the advanced box (never dropped)."""
    fields = fields_from_schema(schema)
    st.session_state[f"{ed}.fmt.json"] = json.dumps(schema, indent=2) if schema else ""
    if not schema:
        mode, fields = FREE, []
    elif fields is None:
        mode, fields = ADVANCED, []
    else:
        mode = FIELDS
    st.session_state[f"{ed}.fmt.mode"] = mode
    st.session_state[f"{ed}.fmt.custom"] = bool(schema) and mode == ADVANCED
    _reset_rows(f"{ed}.fmt", len(fields))
    for i, f in enumerate(fields):
        _put_field(ed, gen, i, f)


def _put_field(ed: str, gen: int, fid: int, f: AnswerField) -> None:
    st.session_state[f"{ed}.fmt{gen}.{fid}.name"] = f.name
    st.session_state[f"{ed}.fmt{gen}.{fid}.kind"] = f.kind
    st.session_state[f"{ed}.fmt{gen}.{fid}.req"] = f.required
    st.session_state[f"{ed}.fmt{gen}.{fid}.desc"] = f.description


def _current_fields(ed: str, gen: int) -> list[AnswerField]:
    state = st.session_state
    return [AnswerField(state.get(f"{ed}.fmt{gen}.{fid}.name", ""),
                        state.get(f"{ed}.fmt{gen}.{fid}.kind", "text"),
                        state.get(f"{ed}.fmt{gen}.{fid}.req", True),
                        state.get(f"{ed}.fmt{gen}.{fid}.desc", ""))
            for fid in _row_ids(f"{ed}.fmt")]


def _mode_changed(ed: str, gen: int) -> None:
    """Carry the format across a switch: fields become JSON, and JSON that fields
    can say becomes fields, so nobody types the same answer twice."""
    mode = st.session_state.get(f"{ed}.fmt.mode")
    if mode == ADVANCED:
        try:
            schema = schema_from_fields(_current_fields(ed, gen))
        except AnswerFormatError:
            return
        if schema:
            st.session_state[f"{ed}.fmt.json"] = json.dumps(schema, indent=2)
            st.session_state[f"{ed}.fmt.custom"] = False
    elif mode == FIELDS and not _row_ids(f"{ed}.fmt"):
        try:
            fields = fields_from_schema(parse_schema(st.session_state.get(f"{ed}.fmt.json")))
        except AnswerFormatError:
            return
        for f in fields or []:
            _put_field(ed, gen, _add_row(f"{ed}.fmt"), f)


def answer_format_editor(ed: str, gen: int) -> tuple[dict[str, Any] | None, str | None]:
    """The answer format: free text, a list of fields, or a pasted JSON schema.

    Returns (the JSON schema or None, a plain sentence when it cannot be used).
    """
    keep(f"{ed}.fmt.ids", [])
    keep(f"{ed}.fmt.next", 0)
    keep(f"{ed}.fmt.custom", False)
    with st.expander("Answer format", expanded=st.session_state.get(f"{ed}.fmt.mode",
                                                                     FREE) != FREE):
        mode = st.radio(
            "How should the model answer?", MODES, horizontal=True,
            key=keep(f"{ed}.fmt.mode", FREE, options=MODES),
            on_change=_mode_changed, args=(ed, gen),
            help="With fields or a JSON schema, each answer is checked against them (when "
                 "the guardrails are on). Ask for a JSON answer with these fields in the "
                 "system message or an example too.")
        if mode == FREE:
            st.caption("The model answers in its own words.")
            return None, None
        if mode == ADVANCED:
            if st.session_state.get(f"{ed}.fmt.custom"):
                st.caption("This version's format uses more than the field list can show, "
                           "so it is shown as a JSON schema; it is kept as it is unless you "
                           "change it.")
            text = st.text_area("JSON schema", key=keep(f"{ed}.fmt.json", ""), height=180,
                                placeholder='{"type": "object", "properties": {"reply": '
                                            '{"type": "string"}}}')
            try:
                schema = parse_schema(text)
            except AnswerFormatError as err:
                st.warning(err.user_message)
                return None, err.user_message
            if schema is None:
                problem = "Paste a JSON schema, or pick another answer format."
                st.caption(problem)
                return None, problem
            st.caption(f"The answer: {describe(schema)}.")
            return schema, None
        return _fields(ed, gen)


def _fields(ed: str, gen: int) -> tuple[dict[str, Any] | None, str | None]:
    st.caption("List what the answer must contain. The model is asked to answer with "
               "these fields, and each answer is checked against them.")
    fields: list[AnswerField] = []
    for n, fid in enumerate(_row_ids(f"{ed}.fmt"), start=1):
        c_name, c_kind, c_desc, c_req, c_rm = st.columns([3, 2, 3.4, 1.5, 1.9],
                                                         vertical_alignment="bottom")
        name = c_name.text_input(f"Field {n} name", key=keep(f"{ed}.fmt{gen}.{fid}.name", ""),
                                 placeholder="reply")
        kind = c_kind.selectbox("Kind", KIND_NAMES,
                                key=keep(f"{ed}.fmt{gen}.{fid}.kind", "text",
                                         options=KIND_NAMES))
        desc = c_desc.text_input("What it holds (optional)",
                                 key=keep(f"{ed}.fmt{gen}.{fid}.desc", ""))
        req = c_req.checkbox("Required", key=keep(f"{ed}.fmt{gen}.{fid}.req", True))
        c_rm.button("Remove", key=f"{ed}.fmt.rm.{fid}", icon=":material/delete:",
                    help=f"Remove field {n}", on_click=_remove_row, args=(f"{ed}.fmt", fid))
        fields.append(AnswerField(name, kind, req, desc))
    st.button("Add a field", key=f"{ed}.fmt.add", icon=":material/add:",
              on_click=_add_row, args=(f"{ed}.fmt",))
    if not fields:
        problem = "Add at least one field, or pick Free text."
        st.caption(problem)
        return None, problem
    try:
        schema = schema_from_fields(fields)
    except AnswerFormatError as err:
        st.warning(err.user_message)
        return None, err.user_message
    if schema is None:
        problem = "Give the fields names, or pick Free text."
        st.caption(problem)
        return None, problem
    return schema, None


# -- guards and documents --------------------------------------------------------
DEFAULT_POLICY = "Use the default"
NO_DOCUMENTS = "No documents"


def load_guard_and_documents(ed: str, cfg: Any) -> None:
    st.session_state[f"{ed}.guard"] = (cfg.guard_policy if cfg and cfg.guard_policy
                                       else DEFAULT_POLICY)
    st.session_state[f"{ed}.rag"] = (cfg.rag_collection if cfg and cfg.rag_collection
                                     else NO_DOCUMENTS)
    st.session_state[f"{ed}.top_k"] = cfg.rag_top_k if cfg else None


def guard_and_documents(ed: str, policies: list[str], collections: list[str], *,
                        default_policy: str, guards_on: bool, default_top_k: int,
                        ) -> dict[str, Any]:
    """The guardrail policy and the documents to answer from; returns config fields."""
    current = st.session_state.get(f"{ed}.guard")
    policy_options = [DEFAULT_POLICY, *policies]
    if current and current not in policy_options:
        policy_options.append(current)  # a policy since deleted: still shown, kept
    g_col, d_col, k_col = st.columns(3)
    policy = g_col.selectbox(
        "Guardrail policy", policy_options,
        key=keep(f"{ed}.guard", DEFAULT_POLICY, options=policy_options),
        help=f"The default is '{default_policy}'. Policies are edited on the Guardrails "
             "page." + ("" if guards_on else " Guardrails are switched off in this "
                                             "installation, so no policy runs now."))
    current_rag = st.session_state.get(f"{ed}.rag")
    rag_options = [NO_DOCUMENTS, *collections]
    if current_rag and current_rag not in rag_options:
        rag_options.append(current_rag)
    collection = d_col.selectbox(
        "Answer from documents", rag_options,
        key=keep(f"{ed}.rag", NO_DOCUMENTS, options=rag_options),
        help="A document collection from the Documents page: the passages that best match "
             "the user message are given to the model, with numbered sources.")
    top_k = k_col.number_input(
        "How many passages", 1, 50, value=None, step=1, key=keep(f"{ed}.top_k"),
        placeholder=f"default ({default_top_k})", disabled=collection == NO_DOCUMENTS,
        help="How many passages from the documents go with each question.")
    return {
        "guard_policy": None if policy == DEFAULT_POLICY else policy,
        "rag_collection": None if collection == NO_DOCUMENTS else collection,
        "rag_top_k": int(top_k) if top_k and collection != NO_DOCUMENTS else None,
    }


# -- diff --------------------------------------------------------------------------
def setting_text(key: str, value: Any) -> str:
    """A setting's value in words, for the diff table."""
    if key == "response_schema":
        return describe(value)
    if value is None:
        return {"guard_policy": "the default", "rag_collection": "no documents",
                "model": "the app default"}.get(key, "not set")
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "not set"
    return str(value)


def message_title(which: str) -> str:
    """'system' -> 'System message'; 'example 2: answer' -> 'Example 2: answer'."""
    if which.startswith("example"):
        return which[0].upper() + which[1:]
    return f"{which.capitalize()} message"


def show_diff(diff: VersionDiff, a: str, b: str) -> None:
    """A readable diff: changed messages and examples, settings, variables."""
    if diff.same:
        st.info(f"{a} and {b} are the same.")
        return
    ex_a, ex_b = diff.examples
    if ex_a != ex_b:
        st.markdown(f"**Example exchanges**: {ex_a} in {a}, {ex_b} in {b}.")
    for which, lines in diff.messages:
        st.markdown(f"**{message_title(which)}**")
        # Drop the file and hunk headers: only the changed lines mean anything here.
        st.code("\n".join(x for x in lines[2:] if not x.startswith("@@")), language="diff")
    if diff.config:
        st.markdown("**Settings**")
        # A plain table: a few rows, all of them readable at once (and in a browser's text).
        st.table(pd.DataFrame([{"Setting": config_label(k).capitalize(), a: setting_text(k, x),
                                b: setting_text(k, y)} for k, x, y in diff.config])
                 .set_index("Setting"))
        for k, x, y in diff.config:
            if k == "response_schema" and x and y and describe(x) == describe(y):
                # Two custom schemas: the JSON itself is the only readable difference.
                st.markdown("**Answer format (JSON schema)**")
                lines = difflib.unified_diff(
                    json.dumps(x, indent=2).splitlines(), json.dumps(y, indent=2).splitlines(),
                    lineterm="", n=2)
                st.code("\n".join(line for line in list(lines)[2:]
                                  if not line.startswith("@@")), language="diff")
    if diff.variables_added or diff.variables_removed:
        st.markdown("**Variables**: " + "; ".join(filter(None, [
            "added " + ", ".join(diff.variables_added) if diff.variables_added else "",
            "removed " + ", ".join(diff.variables_removed) if diff.variables_removed else ""])))
