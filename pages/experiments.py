"""Experiments: A/B tests of prompt versions on live traffic, with eval-gated promotion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import auth, handles
from app.state import keep
from app.widgets import end_page, flash, show_flashes
from core.evals.results import EvalStore
from core.prompts import PromptError
from core.prompts.experiments import METRICS, UNITS, Variant, plan

who = auth.page("dashboards.view")
svc = handles.services()
exps = svc.experiments
can_write = who.can("experiments.write")
FLASH = "experiments.flash"
OPEN = "experiments.open"
STATE_WORDS = {"draft": "Draft (not serving)", "running": "Running", "paused": "Paused",
               "stopped": "Stopped"}
UNIT_WORDS = {"user": "User (else session)",
              "session": "Session", "request": "Request (every call drawn anew)"}

st.title("Experiments")
st.caption("Try a new prompt version or model on part of the live traffic. Each user keeps "
           "one variant; results stay valid however often you look.")

show_flashes(FLASH)


def _act(fn, ok: str):  # noqa: ANN001, ANN202 - a core call and its success sentence
    try:
        result = fn()
    except PromptError as err:
        st.error(err.user_message)
        return None
    flash(FLASH, "success", ok)
    st.rerun()
    return result


prompts = [p.name for p in svc.prompts.list()]

# -- create ---------------------------------------------------------------------
if can_write and prompts:
    wanted = st.session_state.pop("experiments.new_for", None)
    if wanted is not None:
        # Stays open across the reruns that typing causes (a changing `expanded` would not).
        st.session_state["experiments.new.open"] = True
    with st.expander("New experiment", icon=":material/add:",
                     expanded=st.session_state.get("experiments.new.open", False)):
        if wanted in prompts:
            st.session_state["experiments.new.prompt"] = wanted
        c1, c2 = st.columns(2)
        prompt = c1.selectbox("Prompt", prompts,
                              key=keep("experiments.new.prompt", prompts[0], options=prompts))
        name = c2.text_input("Experiment name", key=keep("experiments.new.name", ""),
                             placeholder="warmer-tone")
        hypothesis = st.text_input("Hypothesis", key=keep("experiments.new.hypothesis", ""),
                                   placeholder="A warmer tone earns more thumbs up.")
        versions = sorted(v.version for v in svc.prompts.versions(prompt))
        prod = next((lab.version for lab in svc.prompts.labels(prompt)
                     if lab.name == "production" and lab.version is not None), None)
        c1, c2, c3 = st.columns(3)
        unit = c1.selectbox("Who keeps a variant", UNITS, format_func=UNIT_WORDS.get,
                            key=keep("experiments.new.unit", "user", options=list(UNITS)))
        metric_keys = list(METRICS)
        primary = c2.selectbox("Primary metric", metric_keys,
                               format_func=lambda k: METRICS[k][0],
                               key=keep("experiments.new.metric", "thumbs_up",
                                        options=metric_keys))
        guard = c3.multiselect("Guardrail metrics", [k for k in metric_keys if k != primary],
                               format_func=lambda k: METRICS[k][0],
                               key=keep("experiments.new.guard", ["error_rate", "latency",
                                                                  "cost"]))
        live: list[dict] = []
        if "eval_score" in (primary, *guard):
            lines = st.text_area(
                "Assertions that grade live answers (one per line, like 'icontains: refund' "
                "or 'regex: ^Dear')", key=keep("experiments.new.asserts", ""))
            for text in lines.splitlines():
                kind, _, value = text.partition(":")
                kind = kind.strip()
                if kind:
                    field = "pattern" if kind == "regex" else "value"
                    live.append({"type": kind, **({field: value.strip()} if value.strip()
                                                  else {})})
        c1, c2, c3 = st.columns(3)
        base_pct = c1.number_input("Baseline rate today (%)", 1.0, 99.0, step=1.0,
                                   key=keep("experiments.new.base", 60.0))
        mde_pts = c2.number_input("Smallest change worth finding (points)", 0.5, 50.0,
                                  step=0.5, key=keep("experiments.new.mde", 5.0))
        ramp_pct = c3.slider("Share of traffic in the experiment (%)", 5, 100, step=5,
                             key=keep("experiments.new.ramp", 100))
        n_var = st.number_input("Variants", 2, 10, step=1, key=keep("experiments.new.n", 2))
        rows = []
        for i in range(int(n_var)):
            c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
            vname = c1.text_input("Name", key=keep(f"experiments.new.v{i}.name",
                                                   chr(ord("A") + i)))
            vver = c2.selectbox("Version", versions,
                                key=keep(f"experiments.new.v{i}.version",
                                         (prod if i == 0 and prod else versions[-1])
                                         if versions else None, options=versions),
                                format_func=lambda n: f"v{n}" + (" (production)"
                                                                 if n == prod else ""))
            vmodel = c3.text_input("Model (optional)", key=keep(f"experiments.new.v{i}.model",
                                                                ""),
                                   placeholder="the version's own model")
            vweight = c4.number_input("Weight", 0.0, 100.0, step=1.0,
                                      key=keep(f"experiments.new.v{i}.weight", 1.0))
            rows.append((vname, vver, vmodel, vweight))
        names = [r[0] for r in rows]
        control = st.radio("Control (what users get today)", names, horizontal=True,
                           key=keep("experiments.new.control", names[0], options=names))
        try:
            need = plan(base_pct / 100, mde_pts / 100)
            st.info(f"Plan: about **{need:,} users per variant** ({need * len(rows):,} in all, "
                    f"before the ramp) to detect a {mde_pts:g}-point change from "
                    f"{base_pct:g}% with 80% power.", icon=":material/calculate:")
        except PromptError as err:
            st.warning(err.user_message)
        if st.button("Create experiment", type="primary", key="experiments.create"):
            actor = auth.require("experiments.write")
            variants = [Variant(n, int(v) if v is not None else -1, w, n == control,
                                m or None) for n, v, m, w in rows]
            try:
                made = exps.create(actor, name, prompt, variants, hypothesis=hypothesis,
                                   unit=unit, primary_metric=primary, guardrails=guard,
                                   baseline_rate=base_pct / 100, mde=mde_pts / 100,
                                   ramp=ramp_pct / 100, live_asserts=live)
            except PromptError as err:
                st.error(err.user_message)
            else:
                st.session_state[OPEN] = made.name
                flash(FLASH, "success", f"Created '{made.name}' as a draft; start it when ready.")
                st.rerun()
elif not can_write:
    st.info("Your role can look at experiments but not change them; ask an admin for the "
            "editor role.")

all_exps = exps.list()
if not all_exps:
    st.info("No experiments yet." + (" Create one above." if can_write and prompts else
                                     " An experiment tries versions of a saved prompt: "
                                     "create a prompt first." if not prompts else ""))
    if not prompts and st.button("Go to Prompts", key="experiments.to_prompts",
                                 icon=":material/edit_note:"):
        # The page as app/main.py registered it (an absolute path).
        st.switch_page(str(Path(__file__).resolve().parent / "prompts.py"))
    end_page()

names = [e.name for e in all_exps]
opened = st.session_state.get(OPEN)
if opened in names:
    st.session_state[OPEN] = opened
sel = st.selectbox("Open experiment", names, key=keep(OPEN, names[0], options=names),
                   format_func=lambda n: f"{n} · {STATE_WORDS[exps.get(n).state]}")
exp = exps.get(sel)

st.subheader(exp.name)
st.caption(f"Prompt **{exp.prompt}** · {STATE_WORDS[exp.state]} · who keeps a variant: "
           f"{UNIT_WORDS.get(exp.unit, exp.unit).lower()} · "
           f"traffic: {exp.ramp:.0%} · created by {exp.created_by}")
if exp.hypothesis:
    st.markdown(f"*Hypothesis:* {exp.hypothesis}")
if exp.decision:
    st.success(f"Decision by {exp.decided_by}: {exp.decision}")
st.dataframe(pd.DataFrame([{
    "Variant": v.name + (" (control)" if v.control else ""), "Version": f"v{v.version}",
    "Model": v.model or "the version's own", "Weight": v.weight,
} for v in exp.variants]), hide_index=True)

# -- controls ---------------------------------------------------------------------
if can_write and exp.state != "stopped":
    c1, c2, c3 = st.columns([1, 2, 2])
    if exp.state in ("draft", "paused"):
        if c1.button("Start", type="primary", key="experiments.start",
                     icon=":material/play_arrow:"):
            actor = auth.require("experiments.write")
            _act(lambda: exps.start(actor, exp.name),
                 f"'{exp.name}' is running: production traffic for '{exp.prompt}' now gets "
                 "the variants.")
    elif c1.button("Pause", key="experiments.pause", icon=":material/pause:"):
        actor = auth.require("experiments.write")
        _act(lambda: exps.pause(actor, exp.name),
             f"'{exp.name}' is paused; everyone gets production again.")
    new_ramp = c2.slider("Traffic share (%)", 5, 100, step=5,
                         key=keep(f"experiments.ramp.{exp.name}", int(round(exp.ramp * 100))))
    if new_ramp != round(exp.ramp * 100) and c2.button("Apply traffic share",
                                                       key="experiments.ramp.apply"):
        actor = auth.require("experiments.write")
        _act(lambda: exps.set_ramp(actor, exp.name, new_ramp / 100),
             f"Traffic share is now {new_ramp}%; nobody already in the experiment moved.")
    with c3.popover("Change weights", icon=":material/balance:"):
        st.caption("Only the users the new split needs to move change variant.")
        new_w = {v.name: st.number_input(f"Weight of {v.name}", 0.0, 100.0, float(v.weight),
                                         step=1.0, key=f"experiments.w.{exp.name}.{v.name}")
                 for v in exp.variants}
        if st.button("Save weights", key="experiments.w.save"):
            actor = auth.require("experiments.write")
            _act(lambda: exps.set_weights(actor, exp.name, new_w), "Saved the new weights.")
    with c3.popover("Stop without promoting", icon=":material/stop:"):
        why = st.text_area("Decision and reason", key="experiments.stop.why")
        if st.button("Stop the experiment", key="experiments.stop"):
            actor = auth.require("experiments.write")
            _act(lambda: exps.stop(actor, exp.name, why),
                 f"Stopped '{exp.name}'; production is unchanged.")

# -- results ------------------------------------------------------------------------
st.markdown("### Results")
res = exps.results(exp.name)
if res.planned_per_variant:
    done = min(v.units for v in res.variants)
    st.progress(min(done / res.planned_per_variant, 1.0),
                text=f"{done:,} of the planned {res.planned_per_variant:,} users per variant "
                f"(to detect a {exp.mde * 100:g}-point change from {exp.baseline_rate:.0%}"
                + ("; revised from how users have rated so far" if res.plan_revised else "")
                + ").")
if res.srm:
    st.warning(res.srm_sentence(), icon=":material/warning:")
if exp.unit == "user" and res.fallback_share > 0:
    st.caption(f"{res.fallback_share:.1%} of the calls had no user id and were assigned by "
               "session instead.")
if res.units == 0:
    st.info("No traffic yet. Results appear here as production calls for "
            f"'{exp.prompt}' arrive while the experiment runs.")
else:
    for line in res.verdicts:
        st.markdown(f"**{line}**")
    table = []
    for v in res.variants:
        row = {"Variant": v.name + (" (control)" if v.control else ""),
               "Users": v.units, "Calls": v.calls,
               "Latency p50 (ms)": None if v.latency_p50 is None else round(v.latency_p50),
               "Latency p95 (ms)": None if v.latency_p95 is None else round(v.latency_p95)}
        for m in v.metrics.values():
            rate = METRICS[m.metric][1] == "rate"
            fmt = (lambda x: f"{x:.1%}") if rate else (
                (lambda x: f"{x:,.0f} ms") if m.metric == "latency" else (lambda x: f"${x:.5f}"))
            ok = m.interval.low == m.interval.low  # not NaN
            head = m.label[0].upper() + m.label[1:]
            row[head] = fmt(m.value) + (f" ({fmt(m.interval.low)}–{fmt(m.interval.high)})"
                                           if ok and m.n else "")
            d = m.comparison.difference if m.comparison is not None and m.n else None
            row[f"{head} vs control"] = ("" if d is None else
                                         f"{d * 100:+.1f} pts" if rate else fmt(d))
        table.append(row)
    st.dataframe(pd.DataFrame(table), hide_index=True)
    with st.expander("Guardrails"):
        for v in res.variants:
            for m in v.metrics.values():
                if m.metric != exp.primary_metric and m.verdict:
                    mw = m.distribution_p
                    shape = ("" if mw is None else
                             f" Distributions {'differ' if mw < 0.05 else 'look alike'}"
                             f" (Mann–Whitney p = {mw:.2g}, for reading only).")
                    st.markdown(f"- {m.verdict}{shape}")
    line = exps.timeline(exp.name)
    label = METRICS[exp.primary_metric][0]
    c1, c2 = st.columns(2)
    fig = go.Figure()
    for vname, pts in line["variants"].items():
        xs = [p[0] for p in pts]
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[p[3] for p in pts] + [p[2] for p in
                                                                            pts][::-1],
                                 fill="toself", opacity=0.2, line={"width": 0},
                                 showlegend=False, hoverinfo="skip", name=vname))
        fig.add_trace(go.Scatter(x=xs, y=[p[1] for p in pts], mode="lines+markers",
                                 name=vname))
    fig.update_layout(title=f"{label[0].upper() + label[1:]} per variant (95% band)", height=340,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    c1.plotly_chart(fig, key="experiments.chart.metric")
    fig = go.Figure()
    for vname, pts in line["difference"].items():
        kept = [p for p in pts if p[2] is not None]
        xs = [p[0] for p in kept]
        if kept:
            fig.add_trace(go.Scatter(x=xs + xs[::-1], y=[p[3] for p in kept] +
                                     [p[2] for p in kept][::-1], fill="toself", opacity=0.2,
                                     line={"width": 0}, showlegend=False, hoverinfo="skip"))
        # Before each variant has enough data there is no interval; those looks are left out.
        fig.add_trace(go.Scatter(x=xs, y=[p[1] for p in kept], mode="lines+markers",
                                 name=f"{vname} − control"))
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(title="Difference against control (always-valid 95% interval)",
                      height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    c2.plotly_chart(fig, key="experiments.chart.diff")

# -- promotion ---------------------------------------------------------------------
if exp.state != "stopped":
    st.markdown("### Promote")
    suite = exps.gate_suite(exp.prompt)
    suites = EvalStore(svc.db).suites()
    if who.can("labels.protected"):
        options = ["(no gate)", *suites]
        current = suite if suite in suites else "(no gate)"
        pick = st.selectbox("Eval suite that must pass before production moves", options,
                            key=keep(f"experiments.gate.{exp.prompt}", current,
                                     options=options))
        if pick != current and st.button("Save gate", key="experiments.gate.save"):
            actor = auth.require("labels.protected")
            _act(lambda: exps.set_gate(actor, exp.prompt, None if pick == "(no gate)"
                                       else pick),
                 f"Production moves of '{exp.prompt}' now need "
                 + ("no eval." if pick == "(no gate)" else f"a passing run of '{pick}'."))
    st.caption(f"Gating eval suite: **{suite}**" if suite else
               "This prompt has no gating eval suite, so a winner can be promoted directly.")
    winner = res.winner
    choices = [v.name for v in exp.variants if not v.control]
    target = st.selectbox("Variant to promote", choices,
                          index=choices.index(winner) if winner in choices else 0,
                          key=f"experiments.promote.pick.{exp.name}")
    version = exp.variant(target).version
    check = exps.gate_check(exp.prompt, version)
    (st.success if check.passed else st.warning)(check.sentence)
    if check.failing:
        st.dataframe(pd.DataFrame(check.failing, columns=["Case", "Why it failed"]),
                     hide_index=True)
    c1, c2 = st.columns(2)
    if suite and can_write and c2.button(f"Run '{suite}' on v{version}",
                                         key="experiments.gate.run"):
        actor = auth.require("evals.run")
        with st.spinner("Running the eval suite…"):
            try:
                done = exps.run_gate(actor, svc, exp.prompt, version)
            except PromptError as err:
                st.error(err.user_message)
            else:
                flash(FLASH, "success" if done.passed else "warning", done.sentence)
                st.rerun()
    if winner is None:
        st.caption("No variant has beaten the control yet.")
    if can_write and c1.button("Promote the winner" if target == winner
                               else f"Promote {target}", type="primary",
                               key="experiments.promote", disabled=not check.passed):
        actor = auth.require("experiments.write")
        _act(lambda: exps.promote(actor, exp.name, target),
             f"Production of '{exp.prompt}' now serves v{version}; the experiment is stopped.")
    if not check.passed and who.can("labels.protected"):
        with st.popover("Override the gate (admins)", icon=":material/gavel:"):
            reason = st.text_area("Why promote without a passing eval? (kept in the audit "
                                  "history)", key="experiments.override.why")
            if st.button("Promote anyway", key="experiments.override"):
                actor = auth.require("labels.protected")
                _act(lambda: exps.promote(actor, exp.name, target, override_reason=reason),
                     f"Production of '{exp.prompt}' now serves v{version}; the override and "
                     "its reason are in the audit history.")
