"""Guardrails: edit the named guard policies and the custom PII recognizers."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st
from pydantic import ValidationError

from app import auth, handles
from core.guards import BUILTIN_ENTITIES, CustomRecognizer, GuardPolicy, PolicyStore, guard_stats
from core.guards.injection import provenance
from core.telemetry.models import utcnow

auth.page("guards.write")
svc = handles.services()
store = PolicyStore(svc.db)

st.title("Guardrails")
st.caption(
    "What the guards do with PII, prompt injection and system-prompt leaks. A request picks "
    f"a policy by name; without one it gets '{svc.settings.guard_default_policy}'. Stored text "
    "is redacted under every policy."
)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "value"
    return f"{where}: {first.get('msg', 'is not valid')}".replace("Value error, ", "")


stats = guard_stats(svc.db, utcnow() - timedelta(days=7))
cols = st.columns(4)
cols[0].metric("Calls (7 days)", stats["calls"])
cols[1].metric("Blocked", stats["blocked"])
cols[2].metric("Injection flagged", stats["injection_flagged"])
cols[3].metric("Values redacted", sum(stats["redactions"].values()))
if stats["redactions"]:
    st.caption(
        "Redactions by type: "
        + ", ".join(f"{k} {v}" for k, v in sorted(stats["redactions"].items()))
    )

tab_policies, tab_recognizers = st.tabs(["Policies", "Custom recognizers"])

with tab_policies:
    policies = {p.name: p for p in store.policies()}
    choice = st.selectbox("Policy", [*policies, "+ New policy"], key="guardrails.policy")
    creating = choice == "+ New policy"
    base = policies.get(svc.settings.guard_default_policy) if creating else policies[choice]
    base = base or next(iter(policies.values()))
    custom_entities = sorted({r.entity_type for r in store.recognizers()})
    with st.form("guardrails.policy_form"):
        name = st.text_input("Name", value="" if creating else base.name, disabled=not creating)
        description = st.text_area("Description", value=base.description)
        entity_options = sorted(set(BUILTIN_ENTITIES) | set(custom_entities) | set(base.entities))
        st.markdown("**Entities and thresholds** (a finding counts at or above its threshold)")
        table = st.data_editor(
            [
                {"entity": e, "on": e in base.entities, "threshold": base.entities.get(e, 0.5)}
                for e in entity_options
            ],
            hide_index=True,
            disabled=["entity"],
            key=f"guardrails.entities.{choice}",
        )
        c1, c2, c3 = st.columns(3)
        actions = ["redact", "flag", "off"]
        pii_input = c1.selectbox("PII in input", actions, index=actions.index(base.pii_input))
        pii_output = c2.selectbox("PII in answers", actions, index=actions.index(base.pii_output))
        exempt = c3.multiselect(
            "Providers that see raw text",
            sorted({"local", "compat", "openai", "anthropic", *base.exempt_providers}),
            default=base.exempt_providers,
        )
        deanonymize = st.checkbox("Restore the user's own values in the answer", base.deanonymize)
        c4, c5 = st.columns(2)
        inj_actions = ["block", "flag", "allow"]
        injection = c4.selectbox(
            "Prompt injection", inj_actions, index=inj_actions.index(base.injection)
        )
        inj_threshold = c5.slider("Injection threshold", 0.0, 1.0, base.injection_threshold, 0.01)
        leak_actions = ["block", "flag", "off"]
        leak = c4.selectbox("System-prompt leak", leak_actions, index=leak_actions.index(base.leak))
        leak_threshold = c5.slider("Leak threshold", 0.0, 1.0, base.leak_threshold, 0.01)
        saved = st.form_submit_button("Save policy", type="primary")
    if saved:
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
            st.error(f"The policy was not saved: {_problem(exc)}.")
        else:
            if creating and policy.name in policies:
                st.error(f"A policy named '{policy.name}' exists already; pick another name.")
            else:
                auth.require("guards.write")
                store.save(policy)
                auth.record("policy.save", policy.name, after=policy.model_dump(mode="json"))
                st.success(f"Saved policy '{policy.name}'.")
    if not creating and st.button("Delete this policy", key="guardrails.delete"):
        try:
            auth.require("guards.write")
            store.delete(choice)
            auth.record("policy.delete", choice)
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.success(f"Deleted '{choice}'.")
            st.rerun()

with tab_recognizers:
    st.caption(
        "Regular expressions for your own identifiers (employee ids, ticket numbers). "
        "Switch their entity type on in a policy to redact them."
    )
    recognizers = store.recognizers()
    if recognizers:
        st.dataframe(
            [r.model_dump() for r in recognizers], hide_index=True, width="stretch"
        )
    with st.form("guardrails.recognizer_form", clear_on_submit=False):
        r_name = st.text_input("Name", placeholder="employee-id")
        r_entity = st.text_input("Entity type", placeholder="EMPLOYEE_ID")
        r_pattern = st.text_input("Regular expression", placeholder=r"\bEMP-\d{6}\b")
        r_score = st.slider("Score", 0.0, 1.0, 0.8, 0.05)
        r_context = st.text_input("Context words (comma separated, optional)")
        r_enabled = st.checkbox("Enabled", True)
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
            st.error(f"The recognizer was not saved: {_problem(exc)}.")
        else:
            auth.require("guards.write")
            store.save_recognizer(rec)
            auth.record("recognizer.save", rec.name, after=rec.model_dump(mode="json"))
            st.success(f"Saved recognizer '{rec.name}' for {rec.entity_type}.")
            st.rerun()
    if recognizers:
        gone = st.selectbox("Delete a recognizer", [r.name for r in recognizers], index=None)
        if gone and st.button("Delete", key="guardrails.rec_delete"):
            auth.require("guards.write")
            store.delete_recognizer(gone)
            auth.record("recognizer.delete", gone)
            st.rerun()

with st.expander("Injection classifier provenance"):
    st.json(provenance())
