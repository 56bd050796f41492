"""Chat playground: try a model (or two side by side) and see what each answer cost."""

from __future__ import annotations

import uuid

import streamlit as st

from app import auth, eval_widgets, guard_widgets, handles, prompt_widgets, rag_widgets
from app.widgets import format_cost, format_ms
from core.engine import CompletionRequest, CompletionResponse
from core.providers import Message
from core.providers.errors import TrellisError

HISTORY = "chat.history"
SESSION = "chat.session_id"

auth.page("playground.use")
svc = handles.services()
st.session_state.setdefault(HISTORY, [])
st.session_state.setdefault(SESSION, uuid.uuid4().hex)

st.title("Chat playground")

models = handles.available_models()
default_model = svc.settings.default_model


def _model_picker(label: str, key: str, index: int = 0) -> str:
    options = list(models)
    typed = st.session_state.get(f"{key}.typed", "").strip()
    if not options:
        return typed or default_model
    if default_model in options and index == 0:
        index = options.index(default_model)
    choice = st.selectbox(label, options, index=min(index, max(len(options) - 1, 0)), key=key)
    return typed or choice or default_model


with st.sidebar:
    st.markdown("**Model and parameters**")
    compare = st.toggle("Compare two models", key="chat.compare")
    model_a = _model_picker("Model" if not compare else "Left model", "chat.model_a")
    model_b = _model_picker("Right model", "chat.model_b", index=1) if compare else None
    with st.expander("Other model id"):
        st.text_input(
            "Type a provider/model id to use instead (left model)",
            key="chat.model_a.typed",
            placeholder="openai/gpt-4.1",
        )
    temperature = st.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="chat.temperature")
    max_tokens = st.number_input(
        "Max tokens", 1, svc.settings.max_output_tokens, 256, key="chat.max_tokens"
    )
    system = st.text_area(
        "System prompt", key="chat.system", placeholder="You are a helpful assistant."
    )
    # Registry prompt (app/prompt_widgets.py): a picked prompt's messages go first.
    prompt_fields = prompt_widgets.chat_prompt_picker(svc) or {}
    prompt_widgets.save_as_prompt(svc, system)
    guard_policy = guard_widgets.policy_selector(svc)
    rag_options = rag_widgets.sidebar_options()
    if st.button("Clear chat", icon=":material/delete:", key="chat.clear", width="stretch"):
        st.session_state[HISTORY] = []
        st.rerun()

if not models:
    st.warning(
        "No model is available. The local model needs `make run` to install it; "
        "remote providers need a key in .env (see the sidebar for each reason)."
    )


def _figures(answer: dict) -> str:
    parts = [answer["model"]]
    if answer.get("status") == "cached":
        parts.append(f"cached ({answer.get('cache_hit')})")
    parts += [
        f"{answer['input_tokens']} → {answer['output_tokens']} tokens",
        format_cost(answer["cost_usd"]),
        f"latency {format_ms(answer['latency_ms'])}",
        f"TTFT {format_ms(answer['ttft_ms'])}",
    ]
    if answer.get("tokens_per_s"):
        parts.append(f"{answer['tokens_per_s']:.0f} tok/s")
    return " · ".join(parts)


def _on_feedback(call_id: int, key: str) -> None:
    value = st.session_state.get(key)
    if value is None:  # the thumb was clicked again: the rating is withdrawn
        svc.telemetry.clear_feedback(call_id)
        st.toast("Feedback removed.")
        return
    comment = st.session_state.get(f"{key}.comment") or None
    svc.telemetry.set_feedback(call_id, 1 if value == 1 else -1, comment)
    st.toast("Thanks: feedback saved.")


def _render_answer(answer: dict) -> None:
    if answer.get("error"):
        st.error(answer["error"], icon=":material/error:")
        st.caption(answer["model"])
        guard_widgets.render_report(answer)
        return
    st.markdown(answer["text"] or "_(empty answer)_")
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
                svc.telemetry.set_feedback(call_id, 1 if score == 1 else -1, comment)
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
        **guard_widgets.report_fields(resp),
        **rag_widgets.answer_extras(resp),
    }


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
    request = CompletionRequest(
        messages=_conversation(slot),
        model=model,
        system=system or None,
        temperature=temperature,
        max_tokens=int(max_tokens),
        source="playground",
        session_id=st.session_state[SESSION],
        options=_options(guard_policy, rag_options),
        **prompt_fields,
    )
    stream = svc.engine.stream(request)
    text = ""
    try:
        text = st.write_stream(stream)
    except TrellisError as err:
        st.error(err.user_message, icon=":material/error:")
        return _answer_dict(model, None, "", err)
    finally:
        handles.after_call()
    answer = _answer_dict(model, stream.response, text if isinstance(text, str) else "", None)
    st.caption(_figures(answer))
    return answer


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

prompt = st.chat_input(
    "Ask something…", disabled=not models and not st.session_state.get("chat.model_a.typed")
)
if prompt:
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
    # Rerun so the new answer renders with its feedback controls like the rest.
    st.rerun()
