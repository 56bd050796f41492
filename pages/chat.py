"""Chat playground: try a model (or two side by side) and see what each answer cost.

Conversations are kept per user in the database (redacted, as the call log is);
the open one's id is in the URL (`?chat=`), so a refresh or a shared link finds it.
Every setting in the sidebar is kept across page switches (app/state.py).
"""

from __future__ import annotations

import logging

import streamlit as st

from app import (
    auth,
    eval_widgets,
    experiment_widgets,
    guard_widgets,
    handles,
    prompt_widgets,
    rag_widgets,
)
from app.state import keep
from app.widgets import format_cost, format_ms
from core.engine import CompletionRequest, CompletionResponse
from core.providers import Message
from core.providers.errors import TrellisError

log = logging.getLogger(__name__)

HISTORY = "chat.history"
#: The id of the open conversation, None until its first message is saved.
CONVERSATION = "chat.conversation"
URL_PARAM = "chat"
#: What the chat says while a call is in one of its stages (others keep the last line).
STAGE_LABELS = {
    "input_guards": "Checking for personal data…",
    "cache": "Looking for a saved answer…",
    "retrieve": "Searching documents…",
    "context_guards": "Checking the documents for personal data…",
    "route": "Choosing the model…",
    "provider": "Thinking…",
    "output_guards": "Checking the answer…",
}

DOCUMENT_STAGES = ("retrieve", "context_guards")

actor = auth.page("playground.use")
#: Whose conversations these are: the signed-in user; None for the one local user of an
#: install without sign-in (TRELLIS_AUTH=none), as for feedback.
USER_ID = None if actor.kind == "local" else actor.name
svc = handles.services()
conversations = svc.conversations
st.session_state.setdefault(HISTORY, [])
st.session_state.setdefault(CONVERSATION, None)


def _start_new_chat() -> None:
    st.session_state[HISTORY] = []
    st.session_state[CONVERSATION] = None
    st.query_params.pop(URL_PARAM, None)


def _open_conversation(conversation_id: str) -> bool:
    view = conversations.get(conversation_id, USER_ID)
    if view is None:
        return False
    st.session_state[HISTORY] = view.turns
    st.session_state[CONVERSATION] = view.id
    st.query_params[URL_PARAM] = view.id
    _restore_feedback(view.turns)
    return True


def _restore_feedback(turns: list[dict]) -> None:
    """Show the thumbs (and comments) this person gave earlier on a reopened conversation."""
    for turn in turns:
        for answer in turn.get("answers") or []:
            call_id = answer.get("call_id")
            if call_id is None:
                continue
            mine = [f for f in svc.telemetry.feedback_for(int(call_id)) if f.user_id == USER_ID]
            if not mine:
                continue
            key = f"chat.fb.{call_id}"
            st.session_state[key] = 1 if mine[-1].score > 0 else 0
            if mine[-1].comment:
                st.session_state[f"{key}.comment"] = mine[-1].comment


def _delete_conversation(conversation_id: str) -> None:
    conversations.delete(conversation_id, USER_ID)
    if st.session_state.get(CONVERSATION) == conversation_id:
        _start_new_chat()
    st.toast("Conversation deleted.")


def _sync_with_url() -> None:
    """Open the conversation the URL names (a refresh, a link); keep the URL on the open one."""
    wanted = st.query_params.get(URL_PARAM)
    current = st.session_state.get(CONVERSATION)
    if wanted and wanted != current:
        if not _open_conversation(wanted):
            _start_new_chat()
            st.info(
                "That conversation is not here any more (it was deleted, or it belongs to "
                "someone else), so this is a new chat.",
                icon=":material/info:",
            )
    elif current and not wanted:
        # Another page's URL has no ?chat=; put it back so a refresh still finds the chat.
        st.query_params[URL_PARAM] = current


_sync_with_url()
st.title("Chat playground")

models = handles.available_models()
default_model = svc.settings.default_model


def _second_default(first: str) -> str:
    """The right-hand model in compare mode: another local model, so the comparison is real."""
    for pool in ([m for m in models if m.startswith("local/")], models):
        for m in pool:
            if m != first:
                return m
    return first


def _model_picker(label: str, key: str, default: str) -> str:
    typed = st.session_state.get(f"{key}.typed", "").strip()
    if not models:
        return typed or default_model
    if default not in models:
        default = models[0]
    choice = st.selectbox(label, models, key=keep(key, default, options=models))
    return typed or choice or default_model


def _conversation_list() -> None:
    current = st.session_state.get(CONVERSATION)
    st.button(
        "New chat", icon=":material/add_comment:", key="chat.new", width="stretch",
        on_click=_start_new_chat,
        help="Start an empty conversation; this one stays in the list below.",
    )
    past = conversations.list(USER_ID, limit=30)
    if not past:
        return
    st.markdown("**Conversations**")
    for conv in past:
        title = conv.title if len(conv.title) <= 34 else conv.title[:33].rstrip() + "…"
        left, right = st.columns([6, 1], vertical_alignment="center", gap="small")
        left.button(
            title, key=f"chat.open.{conv.id}", width="stretch",
            type="secondary" if conv.id == current else "tertiary",
            help=f"{conv.title} · {conv.turns} messages",
            on_click=_open_conversation, args=(conv.id,),
        )
        right.button(
            "", icon=":material/delete:", key=f"chat.delete.{conv.id}", type="tertiary",
            help="Delete this conversation", on_click=_delete_conversation, args=(conv.id,),
        )


with st.sidebar:
    _conversation_list()
    st.divider()
    st.markdown("**Model and parameters**")
    compare = st.toggle("Compare two models", key=keep("chat.compare", False))
    keep("chat.model_a.typed", "")  # restored before the picker reads it
    model_a = _model_picker(
        "Model" if not compare else "Left model", "chat.model_a", default_model
    )
    model_b = (
        _model_picker("Right model", "chat.model_b", _second_default(model_a)) if compare else None
    )
    with st.expander("Other model id"):
        st.text_input(
            "Type a provider/model id to use instead (left model)",
            key=keep("chat.model_a.typed", ""),
            placeholder="openai/gpt-4.1",
        )
    temperature = st.slider("Temperature", 0.0, 2.0, step=0.05, key=keep("chat.temperature", 0.7))
    max_tokens = st.number_input(
        "Max tokens", 1, svc.settings.max_output_tokens, step=1,
        key=keep("chat.max_tokens", 256),
    )
    system = st.text_area(
        "System prompt", key=keep("chat.system", ""), placeholder="You are a helpful assistant."
    )
    # Registry prompt (app/prompt_widgets.py): a picked prompt's messages go first.
    prompt_fields = prompt_widgets.chat_prompt_picker(svc) or {}
    prompt_fields = experiment_widgets.variant_preview(svc, prompt_fields)
    prompt_widgets.save_as_prompt(svc, system)
    guard_policy = guard_widgets.policy_selector(svc)
    rag_options = rag_widgets.sidebar_options()

if not models:
    st.warning(
        "No model is available. The local model needs `make run` to install it; "
        "remote providers need a key in .env (see the sidebar for each reason)."
    )


def _figures(answer: dict) -> str:
    parts = [answer["model"]]
    if answer.get("prompt"):
        parts.append(answer["prompt"])
    if answer.get("status") == "cached":
        parts.append(f"cached ({answer.get('cache_hit')})")
    parts += [
        f"{answer['input_tokens']} → {answer['output_tokens']} tokens",
        format_cost(answer["cost_usd"]),
        f"latency {format_ms(answer['latency_ms'])}",
        f"TTFT {format_ms(answer['ttft_ms'])}",
    ]
    tps = answer.get("tokens_per_s")
    if tps:
        parts.append(f"{tps:.0f} tok/s" if tps >= 10 else f"{tps:.1f} tok/s")
    return " · ".join(parts)


def _on_feedback(call_id: int, key: str) -> None:
    value = st.session_state.get(key)
    if value is None:  # the thumb was clicked again: the rating is withdrawn
        svc.telemetry.clear_feedback(call_id, USER_ID)
        st.toast("Feedback removed.")
        return
    comment = st.session_state.get(f"{key}.comment") or None
    svc.telemetry.set_feedback(call_id, 1 if value == 1 else -1, comment, USER_ID)
    st.toast("Thanks: feedback saved.")


def _fallback_note(answer: dict) -> str | None:
    """"Answered by X after Y failed." when a route's fallback served the answer."""
    failed = [f for f in (answer.get("fallback_from") or "").split(",") if f]
    if not failed:
        return None
    names = failed[0] if len(failed) == 1 else ", ".join(failed[:-1]) + " and " + failed[-1]
    return f"Answered by {answer['model']} after {names} failed."


def _render_answer(answer: dict) -> None:
    if answer.get("error"):
        st.error(answer["error"], icon=":material/error:")
        st.caption(answer["model"])
        guard_widgets.render_report(answer)
        return
    if prompt_widgets.answer_fields(answer.get("text")) is not None:
        prompt_widgets.show_text(answer["text"])  # a prompt's answer format: its fields
    else:
        st.markdown(rag_widgets.answer_markdown(answer) or "_(empty answer)_")
    note = _fallback_note(answer)
    if note:
        st.caption(f":material/alt_route: {note}")
    if answer.get("finish_reason") == "length":
        st.caption(
            ":material/content_cut: The answer stopped at the Max tokens limit; raise it "
            "in the sidebar for a longer one."
        )
    rag_widgets.render_sources(answer)
    st.caption(_figures(answer))
    guard_widgets.render_report(answer)
    call_id = answer.get("call_id")
    if call_id is None:
        return
    key = f"chat.fb.{call_id}"
    cols = st.columns([1, 4])
    with cols[0]:
        st.feedback("thumbs", key=key, on_change=_on_feedback, args=(call_id, key))
    if st.session_state.get(key) == 0:  # thumbs down: keep the case for an eval dataset
        eval_widgets.add_to_dataset(call_id)
    with cols[1], st.popover("Comment", icon=":material/comment:"):
        st.text_input("What was good or bad?", key=f"{key}.comment")
        if st.button("Save comment", key=f"{key}.save"):
            score = st.session_state.get(key)
            comment = st.session_state.get(f"{key}.comment") or None
            if score is None:
                st.warning("Pick thumbs up or down first, then save the comment.")
            elif comment is None:
                st.warning("Type a comment first.")
            else:
                svc.telemetry.set_feedback(call_id, 1 if score == 1 else -1, comment, USER_ID)
                st.toast("Comment saved.")


def _answer_dict(
    model: str, resp: CompletionResponse | None, text: str, err: TrellisError | None
) -> dict:
    if err is not None or resp is None:
        return {
            "model": model, "error": err.user_message if err else "No answer.", "text": text,
            **guard_widgets.error_fields(err),
        }
    return {
        "model": resp.model,
        "text": resp.text,
        "input_tokens": resp.usage.input_tokens,
        "output_tokens": resp.usage.output_tokens,
        "cost_usd": resp.cost_usd,
        "latency_ms": resp.latency_ms,
        "ttft_ms": resp.ttft_ms,
        "tokens_per_s": resp.tokens_per_s,
        "status": resp.status,
        "cache_hit": resp.cache_hit,
        "call_id": resp.call_id,
        "fallback_from": resp.fallback_from,
        "finish_reason": resp.finish_reason,
        "prompt": _prompt_served(resp),
        **guard_widgets.report_fields(resp),
        **rag_widgets.answer_extras(resp),
    }


def _prompt_served(resp: CompletionResponse) -> str | None:
    """"support-reply v3 (production)" when a registry prompt served the answer."""
    span = next((s for s in resp.spans if s.name == "render" and s.detail), None)
    if span is None or not span.detail.get("prompt"):
        return None
    detail = span.detail
    label = f" ({detail['label']})" if detail.get("label") else ""
    return f"{detail['prompt']} v{detail['version']}{label}"


def _conversation(slot: int) -> list[Message]:
    """The turns so far as model `slot` saw them (each side keeps its own answers)."""
    messages: list[Message] = []
    for turn in st.session_state[HISTORY]:
        if turn["role"] == "user":
            messages.append(Message("user", turn["content"]))
        else:
            answers = turn["answers"]
            answer = answers[slot] if slot < len(answers) else answers[0]
            if not answer.get("error"):
                messages.append(Message("assistant", answer["text"]))
    return messages


def _options(guard_policy: str | None, rag_options: dict | None) -> dict:
    options: dict = {}
    if guard_policy:
        options["guard_policy"] = guard_policy
    if rag_options:
        options["rag"] = rag_options
    return options


def _ask(model: str, slot: int) -> dict:
    progress = st.empty()
    with progress:
        status = st.status("Starting…", state="running")

    def on_stage(stage: str) -> None:
        if stage in DOCUMENT_STAGES and not rag_options:
            return  # the stage runs but has nothing to search: do not claim it does
        label = STAGE_LABELS.get(stage)
        if label:
            status.update(label=label)

    request = CompletionRequest(
        messages=_conversation(slot),
        model=model,
        system=system or None,
        temperature=temperature,
        max_tokens=int(max_tokens),
        source="playground",
        session_id=st.session_state[CONVERSATION],
        options=_options(guard_policy, rag_options),
        **prompt_fields,
        on_stage=on_stage,
    )
    stream = svc.engine.stream(request)

    def deltas():
        first = True
        for delta in stream:
            if first:
                progress.empty()  # the answer itself now shows progress
                first = False
            yield delta

    text = ""
    try:
        text = st.write_stream(deltas())
    except TrellisError as err:
        progress.empty()
        st.error(err.user_message, icon=":material/error:")
        return _answer_dict(model, None, "", err)
    finally:
        handles.after_call()
    progress.empty()
    answer = _answer_dict(model, stream.response, text if isinstance(text, str) else "", None)
    st.caption(_figures(answer))
    return answer


def _save(turn: dict) -> None:
    """Add a turn to the open conversation (creating it on the first message)."""
    try:
        conv = st.session_state[CONVERSATION]
        if conv is None:
            conv = conversations.create(USER_ID)
            st.session_state[CONVERSATION] = conv
            st.query_params[URL_PARAM] = conv
        if turn["role"] == "user":
            conversations.add_user_turn(conv, turn["content"])
        else:
            conversations.add_assistant_turn(conv, turn["answers"])
    except Exception:  # noqa: BLE001 - the chat goes on; saving it is what failed
        log.exception("could not save the conversation")
        st.warning(
            "This conversation could not be saved, so it will be gone after a refresh; "
            "tell an admin if this keeps happening.",
            icon=":material/warning:",
        )


for turn in st.session_state[HISTORY]:
    with st.chat_message(turn["role"]):
        if turn["role"] == "user":
            st.markdown(turn["content"])
        elif len(turn["answers"]) == 1:
            _render_answer(turn["answers"][0])
        else:
            for col, answer in zip(st.columns(len(turn["answers"])), turn["answers"], strict=True):
                with col:
                    _render_answer(answer)

hint = st.empty()
if not st.session_state[HISTORY] and models:
    hint.caption(
        f"Ask something below; {model_a} answers"
        + (f" on the left and {model_b} on the right." if model_b else ".")
        + " Past conversations are in the sidebar; turn on *Compare two models* there to see "
        "two answers side by side."
    )

prompt = st.chat_input(
    "Ask something…", disabled=not models and not st.session_state.get("chat.model_a.typed")
)
if prompt:
    hint.empty()
    st.session_state[HISTORY].append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        if model_b:
            cols = st.columns(2)
            answers = []
            for slot, (col, model) in enumerate(zip(cols, (model_a, model_b), strict=True)):
                with col:
                    st.caption(model)
                    answers.append(_ask(model, slot))
        else:
            answers = [_ask(model_a, 0)]
    st.session_state[HISTORY].append({"role": "assistant", "answers": answers})
    # Saved once answered: redacting for storage needs the PII analyzer, which the
    # call itself has loaded by now, so the question shows at once.
    _save(st.session_state[HISTORY][-2])
    _save(st.session_state[HISTORY][-1])
    # Rerun so the new answer renders with its feedback controls like the rest.
    st.rerun()
