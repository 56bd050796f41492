"""Guard widgets for the chat page: the policy selector and each answer's guard report."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.state import keep
from core.guards import PolicyStore
from core.guards.describe import (
    entity_name,
    entity_rules,
    pii_input_sentence,
    report_sentences,
    threshold_words,
)
from core.guards.injection import rule_words
from core.services import Services

POLICY_KEY = "chat.guard_policy"
_STAGES = ("validate", "input_guards", "context_guards", "output_guards")


def policy_selector(svc: Services) -> str | None:
    """A sidebar select box of the stored policies; returns the chosen name."""
    if not svc.settings.guards_enabled:
        return None
    # One indexed SELECT; not cached so an edit on the Guardrails page shows at once.
    names = PolicyStore(svc.db).names()
    default = svc.settings.guard_default_policy
    if default not in names:
        default = names[0] if names else None
    return st.selectbox(
        "Guardrail policy",
        names,
        key=keep(POLICY_KEY, default, options=names),
        help="What the guards do with PII, prompt injection and leaks; edit them on the "
        "Guardrails page.",
    )


def report_fields(resp: Any) -> dict[str, Any]:
    """What an answer keeps for its guard report: the report and the guard stage timings."""
    spans = {s.name: s.duration_ms for s in getattr(resp, "spans", []) if s.name in _STAGES}
    return {"guard_report": dict(getattr(resp, "guard_report", {}) or {}), "guard_spans": spans}


def error_fields(err: Any) -> dict[str, Any]:
    """The guard report a blocked call carries (counts and scores only)."""
    report = getattr(err, "report", None)
    return {"guard_report": dict(report)} if report else {}


def _policy(name: str | None):
    """The named policy as it is now (for its thresholds), or None."""
    if not name:
        return None
    from app import handles

    try:
        return PolicyStore(handles.services().db).get(name)
    except Exception:  # noqa: BLE001 - the report still shows without the policy
        return None


def render_report(answer: dict[str, Any]) -> None:
    """An expander with what the guards did, in sentences: what personal data was
    found and what happened to it (counts, never values), what the policy looks for
    and how sure each detector must be, the injection and leak checks, validation
    and the stage timings."""
    report = answer.get("guard_report") or {}
    if not report:
        return
    pii = report.get("pii") or {}
    inj = report.get("injection") or {}
    leak = report.get("leak") or {}
    flags = []
    if pii.get("input"):
        flags.append({"redacted": "personal data hidden from the model",
                      "flagged": "personal data found", "exempt": "personal data sent as is"
                      }.get(pii.get("action", ""), "personal data found"))
    if inj.get("decision") in ("flag", "block"):
        flags.append("message refused" if inj["decision"] == "block"
                     else "possible prompt injection")
    if leak.get("decision") in ("flag", "block"):
        flags.append("answer withheld" if leak["decision"] == "block"
                     else "possible system-prompt leak")
    errors = report.get("errors") or {}
    if errors:
        flags.append("some guards could not run")
    title = f"Guard report · policy {report.get('policy', '?')}"
    if flags:
        title += " · " + ", ".join(flags)
    with st.expander(title, icon=":material/shield:"):
        if errors:
            names = {"pii": "PII scan", "injection": "injection detector",
                     "leak": "leak check", "context_pii": "document PII scan",
                     "output_pii": "answer PII scan"}
            st.warning(
                "The answer was produced without these guards, which failed: "
                + ", ".join(names.get(k, k) for k in errors)
                + "; tell an admin if this keeps happening.",
                icon=":material/warning:",
            )
        for sentence in report_sentences(report):
            st.markdown(sentence)
        policy = _policy(report.get("policy"))
        rows = []
        for side, key in (("message", "input"), ("documents", "context"), ("answer", "output")):
            for entity, count in sorted((pii.get(key) or {}).items()):
                threshold = policy.entities.get(entity) if policy else None
                rows.append({
                    "Found in": side, "Personal data": entity_name(entity), "How many": count,
                    "Policy looks for it when the detector is": (
                        threshold_words(threshold) if threshold is not None else "–"),
                })
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        if policy is not None and policy.pii_input != "off":
            with st.popover("What this policy looks for", icon=":material/policy:"):
                st.markdown(pii_input_sentence(policy))
                st.dataframe(
                    [{"Personal data": r.name, "Found when the detector is": r.when}
                     for r in entity_rules(policy)],
                    hide_index=True, width="stretch",
                )
        if inj and inj.get("decision") not in (None, "error"):
            rules = rule_words(inj.get("rules") or [])
            st.caption(
                f"Prompt-injection check: score {inj.get('score', 0):.2f} of 1 (the policy acts "
                f"at {inj.get('threshold', 0):.2f}) → {inj.get('decision')}; "
                f"classifier {_num(inj.get('classifier'))}, matching rules: {rules}."
            )
        if leak:
            st.caption(
                f"System-prompt leak check: score {leak.get('score', 0):.2f} of 1 "
                f"→ {leak.get('decision')}."
            )
        val = report.get("validation") or {}
        if val:
            parts = [f"about {val.get('input_tokens_est', 0):,} input tokens "
                     f"(limit {val.get('input_tokens_limit', 0):,})"]
            if "json_schema" in val:
                parts.append(f"JSON Schema: {val['json_schema']}")
            st.caption("Validation: " + "; ".join(parts) + ".")
        timings = answer.get("guard_spans") or {}
        inner = report.get("timings_ms") or {}
        if timings or inner:
            cells = [f"{name} {ms:,.1f} ms" for name, ms in timings.items()]
            for side in ("input", "output"):
                for name, ms in (inner.get(side) or {}).items():
                    if name != "total":
                        cells.append(f"{side}.{name} {ms:,.1f} ms")
            st.caption("Timings: " + " · ".join(cells))
        if report.get("stream_buffered"):
            st.caption("The answer was held back until the output guards had checked it.")


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"
