"""Prompts: find, edit, try, save, compare and deploy versioned prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app import auth, handles, rag_widgets
from app import prompt_editor as pe
from app import prompt_widgets as pw
from app.state import forget, keep
from app.widgets import flash, show_flashes
from core.guards import PolicyStore
from core.prompts import (
    LATEST,
    Prompt,
    PromptError,
    PromptVersion,
    diff_versions,
)

who = auth.page("dashboards.view")
svc = handles.services()
reg = svc.prompts
me = who.name
can_write = who.can("prompts.write")
OPEN = "prompts.open"
FLASH = "prompts.flash"
CONFIRM = "prompts.confirm"

st.title("Prompts")
st.caption("Every save is a new version. The version labelled **production** is the one "
           "apps and the API get; moving the label deploys or rolls back.")

if not can_write:
    st.info("Your role can look at prompts but not change them; ask an admin for the "
            "editor role.")

show_flashes(FLASH)


def _when(ts) -> str:  # noqa: ANN001 - datetime or None
    return ts.strftime("%Y-%m-%d %H:%M UTC") if ts else ""


# -- list -------------------------------------------------------------------
with (
    st.popover("New prompt", icon=":material/add:", disabled=not can_write),
    st.form("prompts.new", clear_on_submit=True, border=False),
):
    new_name = st.text_input("Name", placeholder="support-reply",
                             help="Lowercase letters, digits and dashes; other characters "
                                  "become dashes.")
    new_desc = st.text_input("What is it for?", placeholder="Replies to support emails")
    new_tags = st.text_input("Tags (separate with commas)", placeholder="support, email")
    if st.form_submit_button("Create prompt", disabled=not can_write):
        auth.require("prompts.write")
        try:
            created = reg.create(new_name, by=me, description=new_desc,
                                 tags=[t for t in new_tags.split(",") if t.strip()])
        except PromptError as err:
            st.error(err.user_message)
        else:
            note = "" if created.name == new_name.strip() else (
                f" (names use lowercase letters, digits and dashes, so '{new_name}' "
                f"is saved as '{created.name}')")
            flash(FLASH, "success", f"Created prompt '{created.name}'{note}. Write its messages "
                              "below and save the first version.")
            st.session_state[OPEN] = created.name
            auth.record("prompt.create", created.name)
            st.rerun()

left, right = st.columns([2, 1])
search = left.text_input("Search prompts", key=keep("prompts.search", ""),
                         placeholder="name or purpose")
tags = reg.tags()
tag_options = ["All tags", *tags]
tag = right.selectbox("Tag", tag_options,
                      key=keep("prompts.tag", "All tags", options=tag_options))
show_archived = st.checkbox("Show archived prompts", key=keep("prompts.archived", False))
prompts = reg.list(search, tag=None if tag == "All tags" else tag, include_archived=show_archived)

if not prompts:
    st.info("No prompts yet. Create one with **New prompt** above." if not search and
            tag == "All tags" else "No prompt matches the search.")
else:
    st.dataframe(
        pd.DataFrame([{
            "Prompt": p.name,
            "Tags": ", ".join(p.tags),
            "Production": f"v{p.production_version}" if p.production_version else "none yet",
            "Latest": f"v{p.latest_version}" if p.latest_version else "no versions",
            "Last change": _when(p.updated_at),
            "Purpose": p.description or "",
            **({"Archived": "yes" if p.archived else ""} if show_archived else {}),
        } for p in prompts]),
        hide_index=True, width="stretch",
    )

names = [p.name for p in prompts]
opened = st.session_state.get(OPEN)
if opened and opened not in names and reg.exists(opened):
    names.insert(0, opened)
if not names:
    st.stop()
name = st.selectbox("Open prompt", names, key=keep(OPEN, names[0], options=names))
prompt: Prompt = reg.prompt(name)
versions = reg.versions(name)
by_number = {v.version: v for v in versions}

st.subheader(prompt.name)
if can_write and len(versions) >= 2 and st.button(
        "A/B test versions of this prompt", key="prompts.experiment", icon=":material/science:"):
    st.session_state["experiments.new_for"] = name
    # The page as app/main.py registered it (an absolute path).
    st.switch_page(str(Path(__file__).resolve().parent / "experiments.py"))
if prompt.archived:
    st.warning("This prompt is archived: it is hidden from the list and apps cannot use it.")
    if st.button("Restore it", key="prompts.restore", icon=":material/unarchive:"):
        auth.require("prompts.write")
        reg.restore(name, by=me)
        auth.record("prompt.restore", name)
        flash(FLASH, "success", f"Restored '{name}'; apps can use it again.")
        st.rerun()
label_text = ", ".join(f"{lab.name} → v{lab.version}" for lab in prompt.labels
                       if lab.version is not None) or "no labels set yet"
st.caption(f"{prompt.description or 'No description'} · tags: {', '.join(prompt.tags) or 'none'}"
           f" · {label_text}")

# -- history and label moves --------------------------------------------------
def _ask_confirm(label: str, version: int, what: str) -> None:
    st.session_state[CONFIRM] = {"prompt": name, "label": label, "version": version,
                                 "what": what}


def _confirm_box() -> None:
    pending = st.session_state.get(CONFIRM)
    if not pending or pending["prompt"] != name:
        return
    lab = prompt.label(pending["label"])
    current = lab.version if lab else None
    verb = "Roll back" if pending["what"] == "rollback" else "Move"
    protected = " It is a protected label." if lab and lab.protected else ""
    st.warning(f"{verb} '{pending['label']}' from v{current} to v{pending['version']}? "
               f"Apps using '{pending['label']}' get v{pending['version']} within a second."
               f"{protected}")
    reason = st.text_input("Why? (kept in the history)", key="prompts.confirm.reason")
    y, n = st.columns(2)
    if y.button(f"Yes, {verb.lower()} to v{pending['version']}", key="prompts.confirm.yes",
                type="primary"):
        auth.require("labels.protected" if lab and lab.protected else "prompts.write")
        try:
            reg.move_label(name, pending["label"], pending["version"], by=me,
                           reason=reason or ("roll back" if verb == "Roll back" else None))
        except PromptError as err:
            st.error(err.user_message)
        else:
            auth.record("prompt.label_move", f"{name}:{pending['label']}",
                        before=current, after=pending["version"])
            flash(FLASH, "success", f"'{pending['label']}' now points at v{pending['version']}.")
            st.session_state.pop(CONFIRM, None)
            st.session_state.pop("prompts.confirm.reason", None)
            st.rerun()
    if n.button("Cancel", key="prompts.confirm.no"):
        st.session_state.pop(CONFIRM, None)
        st.rerun()


with st.expander("Purpose and tags"), st.form(f"prompts.details.{name}", border=False):
    desc = st.text_input("What is it for?", value=prompt.description or "",
                         key=f"prompts.details.{name}.desc")
    tag_text = st.text_input("Tags (separate with commas)", value=", ".join(prompt.tags),
                             key=f"prompts.details.{name}.tags")
    if st.form_submit_button("Save purpose and tags"):
        auth.require("prompts.write")
        reg.update_details(name, by=me, description=desc,
                           tags=[t for t in tag_text.split(",") if t.strip()])
        flash(FLASH, "success", "Saved the purpose and tags.")
        st.rerun()

_confirm_box()
edit_tab, history_tab, compare_tab, labels_tab = st.tabs(
    ["Edit and try", "History", "Compare versions", "Labels"])


# -- editor -------------------------------------------------------------------
def _load(version: PromptVersion | None, ed: str) -> None:
    cfg = version.config if version else None
    st.session_state[f"{ed}.system"] = version.system if version else ""
    st.session_state[f"{ed}.user"] = version.user if version else ""
    st.session_state[f"{ed}.model"] = (cfg.model if cfg and cfg.model else "(app default)")
    # An empty box means "model default" (the widgets take value=None).
    for key in ("temperature", "max_tokens"):
        st.session_state[f"{ed}.{key}"] = getattr(cfg, key) if cfg else None
    st.session_state[f"{ed}.stop"] = "\n".join(cfg.stop or []) if cfg else ""
    # Fresh keys for the variable boxes, so they start from this version's examples.
    gen = st.session_state[f"{ed}.gen"] = st.session_state.get(f"{ed}.gen", 0) + 1
    pe.load_examples(ed, (version.examples_pairs or []) if version else [], gen)
    pe.load_answer_format(ed, cfg.response_schema if cfg else None, gen)
    pe.load_guard_and_documents(ed, cfg)
    st.session_state[f"{ed}.examples"] = version.examples() if version else {}
    st.session_state[f"{ed}.descriptions"] = (
        {v.name: v.description for v in version.variables} if version else {})


with edit_tab:
    ed = f"prompts.ed.{name}"
    just_saved = st.session_state.pop(f"{ed}.saved", None)
    if just_saved:
        # The editor now shows the saved version (its fields already hold that text).
        st.session_state[f"{ed}.base"] = st.session_state[f"{ed}.loaded"] = just_saved
        forget(f"{ed}.note")
    numbers = [v.version for v in versions]
    base_no = None
    if numbers:
        base_no = st.selectbox(
            "Start from version", numbers, key=keep(f"{ed}.base", numbers[0], options=numbers),
            format_func=lambda n: f"v{n} · {by_number[n].note or 'no note'}"
            + (" (production)" if n == prompt.production_version else ""),
        )
    if f"{ed}.loaded" not in st.session_state or st.session_state[f"{ed}.loaded"] != base_no:
        _load(by_number.get(base_no) if base_no else None, ed)
        st.session_state[f"{ed}.loaded"] = base_no
    base = by_number.get(base_no) if base_no else None
    gen = st.session_state[f"{ed}.gen"]
    # A version whose messages are not system, example pairs, user (imported, or saved
    # from code) keeps its messages as they are; only its system and last user message
    # are edited here.
    fixed_shape = base is not None and base.examples_pairs is None
    if fixed_shape:
        st.info("This version's messages are in an order the editor cannot show as "
                "examples; they are kept as they are. Edit the system and user messages "
                "here.")

    system = st.text_area("System message", key=keep(f"{ed}.system", ""), height=120,
                          placeholder="You are a friendly support agent for {{ company }}.")
    examples: list[tuple[str, str]] = [] if fixed_shape else pe.examples_editor(ed, gen)
    user = st.text_area("User message", key=keep(f"{ed}.user", ""), height=100,
                        placeholder="Customer question: {{ question }}")
    found, problem = pw.detect_variables(system, *(t for pair in examples for t in pair), user)
    if problem:
        st.warning(problem)
    st.markdown("**Variables** (found in the messages; type an example value for each)")
    values = pw.variable_inputs(found, st.session_state.get(f"{ed}.examples", {}),
                                f"{ed}.var{gen}")
    descriptions: dict[str, str] = {}
    if found:
        with st.expander("Describe the variables (optional)"):
            descriptions = pw.variable_inputs(
                found, st.session_state.get(f"{ed}.descriptions", {}), f"{ed}.desc{gen}",
                label="What is {name}?")

    models = handles.available_models()
    current_model = st.session_state.get(f"{ed}.model")
    model_options = ["(app default)", *models]
    if current_model and current_model not in model_options:
        model_options.append(current_model)
    with st.expander("Model and settings", expanded=False):
        c1, c2, c3 = st.columns(3)
        default_name = f"The app's default ({svc.settings.default_model})"
        model = c1.selectbox("Model", model_options,
                             key=keep(f"{ed}.model", "(app default)", options=model_options),
                             format_func=lambda m: default_name if m == "(app default)" else m,
                             help="The app's default model is the one the chat starts with; "
                                  "it can change in the app's settings.")
        temperature = c2.number_input("Temperature", 0.0, 2.0, value=None, step=0.1,
                                      key=keep(f"{ed}.temperature"),
                                      placeholder="model default")
        max_tokens = c3.number_input("Max tokens", 1, svc.settings.max_output_tokens,
                                     value=None, step=16,
                                     key=keep(f"{ed}.max_tokens"), placeholder="model default")
        stop = st.text_area("Stop sequences (one per line)", key=keep(f"{ed}.stop", ""),
                            height=68)
        more = pe.guard_and_documents(
            ed, PolicyStore(svc.db).names(), rag_widgets.collection_names(),
            default_policy=svc.settings.guard_default_policy,
            guards_on=svc.settings.guards_enabled, default_top_k=svc.settings.rag_top_k)
    schema, schema_problem = pe.answer_format_editor(ed, gen)

    config = dict(base.config.set_fields()) if base else {}
    config.update(model=None if model == "(app default)" else model,
                  temperature=temperature, max_tokens=int(max_tokens) if max_tokens else None,
                  stop=[s for s in stop.splitlines() if s.strip()] or None,
                  response_schema=schema, **more)
    variables = [{"name": n, "example": values.get(n, ""),
                  "description": descriptions.get(n, "")} for n in found]

    def _draft() -> PromptVersion:
        if schema_problem:
            raise PromptError(f"The answer format is not ready: {schema_problem}")
        if fixed_shape:
            assert base is not None
            msgs = list(base.messages)
            sys_i = next((i for i, m in enumerate(msgs) if m.role == "system"), None)
            user_i = max(i for i, m in enumerate(msgs) if m.role == "user")
            msgs[user_i] = type(msgs[user_i])("user", user)
            if sys_i is not None:
                msgs[sys_i] = type(msgs[sys_i])("system", system)
            return reg.draft(name, messages=msgs, variables=variables, config=config)
        return reg.draft(name, system=system, user=user, examples=examples,
                         variables=variables, config=config)

    st.divider()
    st.markdown("**Try before saving**")
    try:
        size = svc.render.size_note(_draft().render(values), config.get("model")
                                    or svc.settings.default_model, config.get("max_tokens"),
                                    config.get("response_schema"))
    except PromptError:
        size = None  # a missing example value or a broken template: said elsewhere
    if size:
        st.caption(size)
    t1, t2 = st.columns([2, 1], vertical_alignment="bottom")
    second_options = ["(no second model)", *models]
    second = t2.selectbox("Also try the draft on", second_options,
                          key=keep(f"{ed}.second", second_options[0], options=second_options))
    tried = f"prompts.try.{name}"
    # What the shown answers were made from: they are marked once the draft changes.
    fingerprint = repr((system, user, examples, sorted(config.items(), key=str),
                        sorted(values.items()), second))
    pinned_key = f"prompts.pin.{name}"
    pinned: PromptVersion | None = st.session_state.get(pinned_key)
    p1, p2 = st.columns([3, 1], vertical_alignment="center")
    if pinned is None:
        p1.caption("To compare two unsaved drafts, pin this one, edit, and try again: "
                   "both run side by side.")
        if p2.button("Pin this draft", icon=":material/push_pin:", key=f"{ed}.pin"):
            try:
                st.session_state[pinned_key] = _draft()
            except PromptError as err:
                st.error(err.user_message)
            else:
                st.rerun()
    else:
        n_ex = len(pinned.examples_pairs or ())
        p1.caption("A pinned draft runs next to this one: "
                   f"“{pinned.user[:80]}{'…' if len(pinned.user) > 80 else ''}”"
                   + (f" with {n_ex} example{'s' if n_ex != 1 else ''}" if n_ex else ""))
        if p2.button("Unpin", icon=":material/close:", key=f"{ed}.unpin"):
            st.session_state.pop(pinned_key, None)
            st.rerun()
        with st.expander("How this draft differs from the pinned one"):
            try:
                pe.show_diff(diff_versions(pinned, _draft()), "Pinned draft", "This draft")
            except PromptError as err:
                st.caption(err.user_message)
    if t1.button("Try the draft", icon=":material/play_arrow:", key=f"{ed}.try", type="primary"):
        try:
            draft = _draft()
        except PromptError as err:
            st.error(err.user_message)
        else:
            runs: list[tuple[str, str]] = [("Draft (not saved)", "draft")]
            if pinned is not None:
                runs.append(("Pinned draft", "pinned"))
            if prompt.production_version:
                runs.append((f"Production (v{prompt.production_version})", "production"))
            if second != "(no second model)":
                runs.append((f"Draft on {second}", "second"))
            results: list[tuple[str, Any]] = []
            for col, (title, kind) in zip(st.columns(len(runs)), runs, strict=True):
                with col:
                    st.markdown(f"**{title}**")
                    if kind == "draft":
                        answer = pw.try_draft(svc, draft, values)
                    elif kind == "pinned":
                        assert pinned is not None
                        answer = pw.try_draft(svc, pinned, values)
                    elif kind == "second":
                        answer = pw.try_draft(svc, draft, values, model=second)
                    else:
                        answer = pw.try_saved(svc, name, values)
                results.append((title, answer))
            st.session_state[tried] = (fingerprint, results)
    elif st.session_state.get(tried):
        shown_for, results = st.session_state[tried]
        if shown_for != fingerprint:
            st.info("These answers come from an earlier draft. Press **Try the draft** to "
                    "run what is on the page now.", icon=":material/history:")
        for col, (title, answer) in zip(st.columns(len(results)), results, strict=True):
            with col:
                st.markdown(f"**{title}**")
                pw.show_answer(answer)

    st.divider()
    st.markdown("**Save**")
    s1, s2 = st.columns([3, 1], vertical_alignment="bottom")
    note = s1.text_input("What changed? (a short note for the history)",
                         key=keep(f"{ed}.note", ""),
                         placeholder="Friendlier greeting")
    if s2.button("Save new version", icon=":material/save:", key=f"{ed}.save"):
        if not note.strip():
            st.warning("Write a short note saying what changed, then save.")
        else:
            auth.require("prompts.write")
            try:
                d = _draft()
                saved = reg.save_version(name, by=me, messages=list(d.messages),
                                         variables=variables, config=config, note=note)
            except PromptError as err:
                st.error(err.user_message)
            else:
                n = saved.version.version
                if saved.created:
                    auth.record("prompt.save", name, after={"version": n, "note": note})
                    extra = " It is production now (first version)." if n == 1 else (
                        " Production is still "
                        f"v{prompt.production_version}; make v{n} production in History.")
                    flash(FLASH, "success", f"Saved version {n}.{extra}")
                    # Applied before the widgets are drawn on the rerun.
                    st.session_state[f"{ed}.saved"] = n
                else:
                    flash(FLASH, "info", f"Nothing changed since version {n}, so no new version "
                                   "was saved.")
                st.rerun()


with history_tab:
    if not versions:
        st.info("No versions yet: write the messages in **Edit and try** and save.")
    else:
        at_version: dict[int, list[str]] = {}
        for lab in prompt.labels:
            if lab.version is not None:
                at_version.setdefault(lab.version, []).append(lab.name)
        st.dataframe(pd.DataFrame([{
            "Version": f"v{v.version}",
            "Labels": ", ".join(at_version.get(v.version, [])),
            "Note": v.note or "",
            "Author": v.author,
            "Saved": _when(v.created_at),
        } for v in versions]), hide_index=True, width="stretch")
        prod = prompt.production_version
        h1, h2 = st.columns(2)
        # Keyed by the count so a newly saved version comes up first.
        pick = h1.selectbox("Version", [v.version for v in versions],
                            key=f"prompts.hist.pick.{name}.{len(versions)}",
                            format_func=lambda n: f"v{n}")
        h2.write("")
        if pick != prod and h2.button(f"Make v{pick} production", key="prompts.make_prod",
                                      icon=":material/rocket_launch:"):
            _ask_confirm("production", pick, "make")
            st.rerun()
        # Offer a roll back only to an older version production held before (going
        # forward again is "Make vN production").
        earlier = [m.from_version for m in reg.history(name, label="production")
                   if m.to_version == prod and m.from_version is not None
                   and prod is not None and m.from_version < prod]
        if earlier and st.button(f"Roll back production to v{earlier[0]}",
                                 key="prompts.rollback", icon=":material/undo:"):
            _ask_confirm("production", earlier[0], "rollback")
            st.rerun()
        moves = reg.history(name)
        st.markdown("**Label moves**")
        if moves:
            st.dataframe(pd.DataFrame([{
                "When": _when(m.moved_at),
                "Label": m.label,
                "From": f"v{m.from_version}" if m.from_version else "nothing",
                "To": f"v{m.to_version}",
                "Who": m.moved_by,
                "Why": m.reason or "",
            } for m in moves]), hide_index=True, width="stretch")
        else:
            st.caption("No label has moved yet.")


# -- diff -----------------------------------------------------------------------------
with compare_tab:
    if len(versions) < 2:
        st.info("Save at least two versions to compare them.")
    else:
        numbers = [v.version for v in versions]
        c1, c2 = st.columns(2)
        a = c1.selectbox("From", numbers, index=1, key="prompts.diff.a",
                         format_func=lambda n: f"v{n}")
        b = c2.selectbox("To", numbers, index=0, key="prompts.diff.b",
                         format_func=lambda n: f"v{n}")
        pe.show_diff(reg.diff(name, a, b), f"v{a}", f"v{b}")


# -- labels -----------------------------------------------------------------------
with labels_tab:
    st.dataframe(pd.DataFrame([{
        "Label": lab.name,
        "Points at": f"v{lab.version}" if lab.version else "nothing yet",
        "Protected": "yes" if lab.protected else "",
        "Last moved by": "moves by itself" if lab.name == LATEST else (
            lab.updated_by if lab.version is not None else ""),
    } for lab in prompt.labels]), hide_index=True, width="stretch")
    movable = [lab.name for lab in prompt.labels if lab.name != LATEST]
    if versions:
        m1, m2, m3 = st.columns(3, vertical_alignment="bottom")
        which = m1.selectbox("Label", movable, key="prompts.lab.which")
        to = m2.selectbox("Point it at", [v.version for v in versions], key="prompts.lab.to",
                          format_func=lambda n: f"v{n}")
        if m3.button("Move label", key="prompts.lab.move"):
            _ask_confirm(which, to, "make")
            st.rerun()
    p1, p2 = st.columns([2, 1], vertical_alignment="bottom")
    guarded = p1.selectbox("Label to protect or unprotect", movable, key="prompts.lab.guard")
    is_protected = bool(prompt.label(guarded) and prompt.label(guarded).protected)
    if p2.button("Unprotect" if is_protected else "Protect", key="prompts.lab.protect"):
        auth.require("labels.protected")
        reg.set_protected(name, guarded, not is_protected, by=me)
        flash(FLASH, "success", f"'{guarded}' is {'no longer ' if is_protected else ''}protected.")
        st.rerun()
    with st.form("prompts.lab.add", clear_on_submit=True):
        a1, a2 = st.columns([2, 1], vertical_alignment="bottom")
        new_label = a1.text_input("New label", placeholder="canary")
        protect = a2.checkbox("Protected (asks for confirmation)")
        if st.form_submit_button("Add label"):
            auth.require("prompts.write")
            try:
                made = reg.add_label(name, new_label, by=me, protected=protect)
            except PromptError as err:
                st.error(err.user_message)
            else:
                flash(FLASH, "success", f"Added label '{made.name}'.")
                st.rerun()
    with st.expander("Archive", expanded=False):
        st.caption("An archived prompt is hidden from the list and no longer served; its "
                   "versions and history stay and it can be restored.")
        if not prompt.archived and st.button("Archive this prompt", key="prompts.archive"):
            auth.require("prompts.write")
            reg.archive(name, by=me)
            auth.record("prompt.archive", name)
            flash(FLASH, "success", f"Archived '{name}'.")
            st.rerun()
