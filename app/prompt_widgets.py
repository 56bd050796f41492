"""Prompt registry widgets: the editor's pieces, the try-it runner, and the
chat playground's prompt picker and "save as prompt"."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app import auth, handles
from app.state import keep
from app.widgets import format_cost, format_ms
from core.engine import CompletionRequest
from core.prompts import DEFAULT_LABEL, PromptError, PromptVersion, find_variables
from core.prompts.stage import request_for
from core.providers.errors import TrellisError
from core.services import Services


def current_user() -> str:
    """Who the session acts as (the signed-in user; the local admin without sign-in)."""
    who = auth.actor()
    return who.name if who else "local user"


def detect_variables(*texts: str) -> tuple[list[str], str | None]:
    """Variables used by the texts, and a plain sentence when a text cannot be read."""
    try:
        return find_variables(*(t for t in texts if t)), None
    except PromptError as err:
        return [], err.user_message


def variable_inputs(names: list[str], defaults: dict[str, str], key: str,
                    label: str = "{name}") -> dict[str, str]:
    """One box per variable (an example value by default); returns the values typed."""
    values: dict[str, str] = {}
    if not names:
        st.caption("No variables yet: write {{ name }} in a message to add one.")
        return values
    cols = st.columns(min(len(names), 3))
    for i, name in enumerate(names):
        wkey = keep(f"{key}.{name}", defaults.get(name, ""))
        with cols[i % len(cols)]:
            values[name] = st.text_input(label.format(name=name), key=wkey,
                                         help=f"For {{{{ {name} }}}} in the messages")
    return values


def figures(answer: dict[str, Any]) -> str:
    return " · ".join([
        answer["model"],
        f"{answer['input_tokens']} → {answer['output_tokens']} tokens",
        format_cost(answer["cost_usd"]),
        f"latency {format_ms(answer['latency_ms'])}",
    ])


def run_streamed(svc: Services, request: CompletionRequest) -> dict[str, Any]:
    """Stream one request into the page; returns what to keep of the answer."""
    stream = svc.engine.stream(request)
    slot = st.empty()
    try:
        with slot:
            text = st.write_stream(stream)
    except TrellisError as err:
        st.error(err.user_message, icon=":material/error:")
        return {"error": err.user_message}
    finally:
        handles.after_call()
    resp = stream.response
    if resp is None:
        return {"error": "The answer stopped before it finished."}
    answer = {
        "text": text if isinstance(text, str) else resp.text,
        "model": resp.model,
        "input_tokens": resp.usage.input_tokens,
        "output_tokens": resp.usage.output_tokens,
        "cost_usd": resp.cost_usd,
        "latency_ms": resp.latency_ms,
    }
    if answer_fields(answer["text"]) is not None:
        # Streamed as it came; once whole, an answer in fields is shown as fields.
        with slot.container():
            show_text(answer["text"])
    st.caption(figures(answer))
    return answer


def try_draft(svc: Services, draft: PromptVersion, values: dict[str, str],
              model: str | None = None) -> dict[str, Any]:
    """Run an unsaved draft through the engine on the example values."""
    try:
        request = request_for(draft, values, source="prompt-editor", tags=["prompt-draft"],
                              **({"model": model} if model else {}))
    except PromptError as err:
        st.error(err.user_message, icon=":material/error:")
        return {"error": err.user_message}
    if request.model is None:
        request.model = svc.settings.default_model
    try:
        # Saved versions get this check in the engine's render stage; a draft is
        # sent as plain messages, so it is checked here against the same model.
        svc.render.check_fit(draft.label, list(request.messages), request.model,
                             request.max_tokens, request.options.get("json_schema"))
    except PromptError as err:
        st.error(err.user_message, icon=":material/error:")
        return {"error": err.user_message}
    return run_streamed(svc, request)


def try_saved(svc: Services, name: str, values: dict[str, str], *, label: str = "production",
              model: str | None = None) -> dict[str, Any]:
    """Run the version `label` points at, through the engine's render stage."""
    return run_streamed(svc, CompletionRequest(
        messages=[], prompt_name=name, prompt_label=label, variables=values, model=model,
        source="prompt-editor",
    ))


def show_answer(answer: dict[str, Any]) -> None:
    if answer.get("error"):
        st.error(answer["error"], icon=":material/error:")
        return
    show_text(answer["text"])
    st.caption(figures(answer))


def show_text(text: str | None) -> None:
    fields = answer_fields(text)
    if fields is None:
        st.markdown(text or "_(empty answer)_")
        return
    # An answer in the prompt's answer format reads as its fields, not as JSON.
    st.markdown("\n".join(f"- **{k}**: {_field_text(v)}" for k, v in fields.items())
                or "_(no fields)_")
    with st.expander("As JSON"):
        st.code(text or "", language="json")


def answer_fields(text: str | None) -> dict[str, Any] | None:
    """The answer's fields when it is one JSON object (a ```json fence allowed), else None."""
    body = (text or "").strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    if not body.startswith("{"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_field_text(v) for v in value) or "(none)"
    if value is None:
        return "(empty)"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- the chat playground ----------------------------------------------------
PICK = "chat.prompt"


def chat_prompt_picker(svc: Services) -> dict[str, Any] | None:
    """Sidebar: pick a registry prompt and label and fill its variables.

    Returns the request fields to use (prompt_name, prompt_label, variables),
    or None when no prompt is picked.
    """
    names = [p.name for p in svc.prompts.list() if p.latest_version]
    with st.expander("Prompt from the registry", expanded=bool(st.session_state.get(PICK))):
        if not names:
            st.caption("No saved prompts yet; create one on the Prompts page.")
            return None
        options = ["(none)", *names]
        name = st.selectbox("Prompt", options, key=keep(PICK, "(none)", options=options))
        if not name or name == "(none)":
            return None
        prompt = svc.prompts.prompt(name)
        labels = [lab.name for lab in prompt.labels if lab.version is not None]
        label = st.selectbox("Label", labels,
                             key=keep(f"{PICK}.label", DEFAULT_LABEL, options=labels))
        try:
            version = svc.prompts.get(name, label=label)
        except PromptError as err:
            st.warning(err.user_message)
            return None
        st.caption(f"Version {version.version}: {version.note or 'no note'}. Its messages go "
                   "first and your chat follows; a System prompt typed above replaces the "
                   "prompt's own.")
        values = variable_inputs(version.variable_names, version.examples(),
                                 f"{PICK}.{name}.var")
    return {"prompt_name": name, "prompt_label": label, "variables": values}


def save_as_prompt(svc: Services, system: str) -> None:
    """Turn the playground's system prompt into a new prompt, or a new version of one."""
    with st.popover("Save as prompt", icon=":material/bookmark_add:", width="stretch"):
        if not (system or "").strip():
            st.caption("Write a system prompt first.")
            return
        names = [p.name for p in svc.prompts.list()]
        target = st.selectbox("Save into", ["A new prompt", *names], key="chat.save.target")
        new_name = ""
        if target == "A new prompt":
            new_name = st.text_input("Name", key="chat.save.name", placeholder="support-reply")
        user = st.text_area("User message", value="{{ question }}", key="chat.save.user",
                            help="The message the variables go into; {{ question }} is the "
                                 "playground's question.")
        note = st.text_input("What is this version? (a short note)", key="chat.save.note")
        if st.button("Save prompt", key="chat.save.go"):
            auth.require("prompts.write")
            by = current_user()
            try:
                name = target
                if target == "A new prompt":
                    name = svc.prompts.create(new_name, by=by).name
                saved = svc.prompts.save_version(name, by=by, system=system, user=user,
                                                 note=note or "saved from the chat playground")
            except PromptError as err:
                st.error(err.user_message)
                return
            if saved.created:
                st.success(f"Saved as {name} version {saved.version.version}.")
            else:
                st.info(f"{name} version {saved.version.version} already has this text.")
