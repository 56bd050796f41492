"""Chat playground: preview one variant of an experiment on the picked prompt."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.state import keep
from core.services import Services

NONE = "(as served)"


def variant_preview(svc: Services, fields: dict[str, Any]) -> dict[str, Any]:
    """Offer the variants of the picked prompt's experiments; pin the chosen one's version.

    A preview is not live traffic: the call names the version, so no experiment
    assigns it and it never counts in the results.
    """
    name = fields.get("prompt_name")
    if not name:
        return fields
    live = [e for e in svc.experiments.list(name) if e.state != "stopped"]
    if not live:
        return fields
    options = [NONE] + [f"{e.name} · {v.name}" for e in live for v in e.variants]
    pick = st.selectbox("Preview an experiment variant", options,
                        key=keep(f"chat.variant.{name}", NONE, options=options))
    if pick == NONE:
        return fields
    exp_name, _, variant = pick.rpartition(" · ")
    choice = svc.experiments.preview(exp_name, variant)
    note = f"Variant {variant} is version {choice.version}"
    if choice.model:
        note += f" on {choice.model}; pick that model above to preview it exactly"
    st.caption(note + ".")
    return {**fields, "prompt_label": None, "prompt_version": choice.version}
