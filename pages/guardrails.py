"""Guardrails: edit the named guard policies and the custom PII recognizers."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from pydantic import ValidationError

from app import auth, handles
from app.state import forget, keep
from app.widgets import flash, show_flashes
from core.forms import plain_validation_error
from core.guards import BUILTIN_ENTITIES, CustomRecognizer, GuardPolicy, PolicyStore, guard_stats
from core.guards.describe import (
    PROVIDER_SHORT,
    count_words,
    entity_name,
    entity_rules,
    policy_sentences,
)
from core.guards.injection import provenance
from core.telemetry.models import utcnow

auth.page("guards.write")
svc = handles.services()
store = PolicyStore(svc.db)
NEW = "+ New policy"
SELECT = "guardrails.policy"
PENDING = "guardrails.select_next"  # the policy to show after a save (set before the widget)
FLASH = "guardrails.flash"

POLICY_LABELS = {
    "name": "Name", "description": "Description", "entities": "Entities",
    "injection_threshold": "Injection threshold", "leak_threshold": "Leak threshold",
}
RECOGNIZER_LABELS = {
    "name": "Name", "entity_type": "Entity type", "pattern": "Regular expression",
    "score": "Score",
}
PII_ACTIONS = {"redact": "replace it with placeholders", "flag": "report it only",
               "off": "do not check"}
INJECTION_ACTIONS = {"block": "refuse the message", "flag": "report it only",
                     "allow": "do not check"}
LEAK_ACTIONS = {"block": "withhold the answer", "flag": "report it only", "off": "do not check"}

st.title("Guardrails")
st.caption(
    "What the guards do with personal data, prompt injection (messages that try to override "
    "the instructions) and system-prompt leaks. A request picks a policy by name; without "
    f"one it gets '{svc.settings.guard_default_policy}'. Stored text has personal data "
    "replaced under every policy."
)


def done(message: str, select: str | None = None) -> None:
    """After a write: rerun, so the selector and the descriptions show the saved state."""
    flash(FLASH, "success", message)
    if select is not None:
        st.session_state[PENDING] = select
    st.rerun()


show_flashes(FLASH)

stats = guard_stats(svc.db, utcnow() - timedelta(days=7))
cols = st.columns(4)
cols[0].metric("Calls (7 days)", f"{stats['calls']:,}")
cols[1].metric("Blocked", f"{stats['blocked']:,}")
cols[2].metric("Possible injections", f"{stats['injection_flagged']:,}")
cols[3].metric("Values replaced", f"{sum(stats['redactions'].values()):,}")
if stats["redactions"]:
    st.caption(
        "Replaced in the last 7 days: "
        + ", ".join(count_words(k, v) for k, v in sorted(stats["redactions"].items()))
        + "."
    )

tab_policies, tab_recognizers = st.tabs(["Policies", "Custom recognizers"])

with tab_policies:
    policies = {p.name: p for p in store.policies()}
    if (pending := st.session_state.pop(PENDING, None)) in policies:
        st.session_state[SELECT] = pending
    default = svc.settings.guard_default_policy
    choice = st.selectbox(
        "Policy", [*policies, NEW],
        key=keep(SELECT, default if default in policies else next(iter(policies)),
                 options=[*policies, NEW]),
    )
    creating = choice == NEW
    # A new policy starts from the built-in settings, with no name or description.
    base = GuardPolicy(name="new-policy") if creating else policies[choice]
    if not creating:
        with st.container(border=True):
            st.markdown(f"**What '{base.name}' does**")
            for sentence in policy_sentences(base):
                st.markdown(f"- {sentence}")
            if base.pii_input != "off" or base.pii_output != "off":
                st.dataframe(
                    [{"Personal data": r.name, "Found when the detector is": r.when}
                     for r in entity_rules(base)],
                    hide_index=True, width="stretch",
                )
    custom_entities = sorted({r.entity_type for r in store.recognizers()})
    form = f"guardrails.policy_form.{choice}"
    with st.form(form):
        st.markdown("**New policy**" if creating else f"**Edit '{base.name}'**")
        name = st.text_input(
            "Name", disabled=not creating, placeholder="support-team",
            key=keep(f"guardrails.name.{choice}", "" if creating else base.name),
        )
        description = st.text_area(
            "Description", placeholder="Who this policy is for and what it does.",
            key=keep(f"guardrails.description.{choice}", "" if creating else base.description),
        )
        entity_options = sorted(set(BUILTIN_ENTITIES) | set(custom_entities) | set(base.entities),
                                key=lambda e: entity_name(e).lower())
        st.markdown(
            "**Personal data to look for.** Each detector scores what it finds from 0 to 1: "
            "the higher the threshold, the surer it must be. 0.3 catches more but may also "
            "hide ordinary words; 0.8 hides only clear cases."
        )
        table = st.data_editor(
            [
                {"entity": e, "what": entity_name(e), "on": e in base.entities,
                 "threshold": base.entities.get(e, 0.5)}
                for e in entity_options
            ],
            hide_index=True,
            disabled=["entity", "what"],
            # Words first; the detector's code (US_SSN) last, for engineers.
            column_order=["what", "on", "threshold", "entity"],
            column_config={
                "entity": st.column_config.TextColumn("Code (for engineers)"),
                "what": st.column_config.TextColumn("Personal data"),
                "on": st.column_config.CheckboxColumn("Look for it"),
                "threshold": st.column_config.NumberColumn(
                    "Threshold (0–1)", min_value=0.0, max_value=1.0, step=0.05, format="%.2f",
                    help="How sure the detector must be before it counts: 0 = any hint, "
                    "1 = certain.",
                ),
            },
            key=f"guardrails.entities.{choice}",
        )
        c1, c2, c3 = st.columns(3)
        pii_input = c1.selectbox(
            "Personal data in messages", list(PII_ACTIONS), format_func=PII_ACTIONS.get,
            key=keep(f"{form}.pii_input", base.pii_input),
        )
        pii_output = c2.selectbox(
            "Personal data in answers", list(PII_ACTIONS), format_func=PII_ACTIONS.get,
            key=keep(f"{form}.pii_output", base.pii_output),
        )
        providers = sorted({"local", "compat", "openai", "anthropic", *base.exempt_providers})
        exempt = c3.multiselect(
            "Providers that may see the original text", providers,
            key=keep(f"{form}.exempt", list(base.exempt_providers), options=providers),
            format_func=lambda p: PROVIDER_SHORT.get(p, p),
            help="Their calls receive personal data unchanged, e.g. the model that runs on "
            "this machine.",
        )
        deanonymize = st.checkbox(
            "Put the person's own values back into the answer they read",
            key=keep(f"{form}.deanonymize", base.deanonymize),
        )
        c4, c5 = st.columns(2)
        injection = c4.selectbox(
            "Prompt injection", list(INJECTION_ACTIONS), format_func=INJECTION_ACTIONS.get,
            key=keep(f"{form}.injection", base.injection),
        )
        inj_threshold = c5.slider(
            "Injection threshold (how sure the detector must be, 0–1)", 0.0, 1.0, step=0.01,
            key=keep(f"{form}.injection_threshold", base.injection_threshold),
        )
        leak = c4.selectbox(
            "Answer repeats the system prompt", list(LEAK_ACTIONS), format_func=LEAK_ACTIONS.get,
            key=keep(f"{form}.leak", base.leak),
        )
        leak_threshold = c5.slider(
            "Leak threshold (how much of the system prompt, 0–1)", 0.0, 1.0, step=0.01,
            key=keep(f"{form}.leak_threshold", base.leak_threshold),
        )
        submitted = st.form_submit_button("Save policy", type="primary")
    if submitted:
        try:
            policy = GuardPolicy(
                name=name.strip() if creating else base.name,
                description=description,
                entities={r["entity"]: float(r["threshold"]) for r in table if r["on"]},
                pii_input=pii_input,
                pii_output=pii_output,
                exempt_providers=exempt,
                deanonymize=deanonymize,
                injection=injection,
                injection_threshold=inj_threshold,
                leak=leak,
                leak_threshold=leak_threshold,
            )
        except ValidationError as exc:
            st.error("The policy was not saved. " + plain_validation_error(exc, POLICY_LABELS),
                     icon=":material/error:")
        else:
            if creating and policy.name in policies:
                st.error(f"The policy was not saved. A policy named '{policy.name}' exists "
                         "already; pick another name.", icon=":material/error:")
            else:
                auth.require("guards.write")
                store.save(policy)
                auth.record("policy.save", policy.name, after=policy.model_dump(mode="json"))
                if creating:  # the next new policy starts empty again
                    forget(*[k for k in list(st.session_state)
                             if isinstance(k, str) and k.endswith(NEW) or str(k).startswith(form)])
                done(f"Saved policy '{policy.name}'.", select=policy.name)
    if not creating and st.button("Delete this policy", key="guardrails.delete"):
        try:
            auth.require("guards.write")
            store.delete(choice)
            auth.record("policy.delete", choice)
        except ValueError as exc:
            st.error(str(exc))
        else:
            done(f"Deleted '{choice}'.", select=next(iter(policies)))

with tab_recognizers:
    st.caption(
        "Your own kinds of personal data (employee ids, ticket numbers), found by a pattern "
        "(a regular expression). Switch their code on in a policy to look for them."
    )
    recognizers = store.recognizers()
    if recognizers:
        st.dataframe(
            [
                {"Name": r.name, "Code": r.entity_type, "Personal data": entity_name(r.entity_type),
                 "Pattern": r.pattern, "Score": round(r.score, 2),
                 "Context words": ", ".join(r.context) or "–", "On": r.enabled}
                for r in recognizers
            ],
            hide_index=True, width="stretch",
        )
    with st.form("guardrails.recognizer_form", clear_on_submit=False):
        r_name = st.text_input("Name", placeholder="employee-id",
                               key=keep("guardrails.rec.name", ""))
        r_entity = st.text_input(
            "Entity type", placeholder="EMPLOYEE_ID", key=keep("guardrails.rec.entity", ""),
            help="The code policies use for it: capital letters, digits and underscores.",
        )
        r_pattern = st.text_input("Regular expression", placeholder=r"\bEMP-\d{6}\b",
                                  key=keep("guardrails.rec.pattern", ""))
        r_score = st.slider(
            "Score (how sure a match is, 0–1; a policy counts it when this reaches its "
            "threshold)", 0.0, 1.0, step=0.05, key=keep("guardrails.rec.score", 0.8),
        )
        r_context = st.text_input("Context words (comma separated, optional)",
                                  key=keep("guardrails.rec.context", ""))
        r_enabled = st.checkbox("Enabled", key=keep("guardrails.rec.enabled", True))
        add = st.form_submit_button("Save recognizer", type="primary")
    if add:
        try:
            rec = CustomRecognizer(
                name=r_name.strip(),
                entity_type=r_entity,
                pattern=r_pattern,
                score=r_score,
                context=[w.strip() for w in r_context.split(",") if w.strip()],
                enabled=r_enabled,
            )
        except ValidationError as exc:
            st.error("The recognizer was not saved. "
                     + plain_validation_error(exc, RECOGNIZER_LABELS), icon=":material/error:")
        else:
            auth.require("guards.write")
            store.save_recognizer(rec)
            auth.record("recognizer.save", rec.name, after=rec.model_dump(mode="json"))
            forget(*[k for k in list(st.session_state) if str(k).startswith("guardrails.rec.")])
            done(f"Saved recognizer '{rec.name}' for {rec.entity_type}.")
    if recognizers:
        gone = st.selectbox("Delete a recognizer", [r.name for r in recognizers], index=None)
        if gone and st.button("Delete", key="guardrails.rec_delete"):
            auth.require("guards.write")
            store.delete_recognizer(gone)
            auth.record("recognizer.delete", gone)
            done(f"Deleted recognizer '{gone}'.")

with st.expander("For engineers: how the injection classifier was trained"):
    st.json(provenance())
