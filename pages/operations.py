"""Operations: routes and fallbacks, breakers, rate limits, budgets and caches."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from app import auth, handles
from app import monitoring as mon
from app.state import keep
from app.widgets import flash, show_flashes
from core.forms import plain_validation_error
from core.providers.errors import TrellisError
from core.reliability.budgets import parse_usd
from core.reliability.models import Budget
from core.telemetry.budget import BUDGET_BASIS
from core.telemetry.store import since

auth.page("operations.view")
svc = handles.services()
rel = svc.reliability
FLASH = "ops.flash"


def saved(area: str, message: str) -> None:
    """After a write: rerun so every figure on the page is the saved state, and say
    so at the top of the tab that was edited."""
    flash(f"{FLASH}.{area}", "success", message)
    st.rerun()


st.title("Operations")
st.caption(
    "Everything here is stored in the database and applies to every replica within a few seconds."
)

for alert in rel.budgets.alerts():
    verb = "is spent" if alert.level == "exhausted" else "passed its alert threshold"
    cols = st.columns([6, 1])
    cols[0].warning(
        f"Budget #{alert.budget_id} ({alert.subject}) {verb}: "
        f"${alert.spent_usd:,.4f} of ${alert.limit_usd:,.4f}.",
        icon=":material/savings:",
    )
    if cols[1].button("Dismiss", key=f"ops.ack.{alert.id}"):
        auth.require("budgets.write")
        rel.budgets.acknowledge(alert.id)
        st.rerun()

routes_tab, breakers_tab, limits_tab, budgets_tab, cache_tab = st.tabs(
    ["Routes", "Circuit breakers", "Retries and rate limits", "Budgets", "Caches"]
)

with routes_tab:
    show_flashes(f"{FLASH}.routes")
    routes = rel.routes.all()
    if routes:
        st.dataframe(
            pd.DataFrame(
                [
                    {"route": f"route/{n}", "fallback chain": " → ".join(c)}
                    for n, c in routes.items()
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No routes yet. A route is a model id (route/NAME) served by a fallback chain.")
    with st.form("ops.route_form"):
        st.markdown("**Add or change a route**")
        name = st.text_input("Name", key=keep("ops.route_name", ""), placeholder="main")
        chain = st.text_area(
            "Deployments, first choice first, one per line",
            key=keep("ops.route_chain", ""),
            placeholder="anthropic/claude-haiku-4-5\nopenai/gpt-4o-mini\nlocal/gemma-3-270m",
        )
        submitted = st.form_submit_button("Save route")
    if submitted:
        try:
            auth.require("routes.write")
            rel.routes.save(name, chain.splitlines(), providers=svc.registry.names())
        except TrellisError as err:
            st.error(err.user_message)
        else:
            auth.record("route.save", f"route/{name.strip()}", before=routes.get(name.strip()),
                        after=chain.splitlines())
            handles.available_models.clear()  # the model pickers list routes
            saved("routes", f"Route '{name.strip()}' saved: pick route/{name.strip()} as a model.")
    if routes:
        doomed = st.selectbox("Delete a route", ["—", *routes],
                              key=keep("ops.route_delete", "—", options=["—", *routes]))
        if doomed != "—" and st.button("Delete route", key="ops.route_delete_btn"):
            auth.require("routes.write")
            rel.routes.delete(doomed)
            auth.record("route.delete", f"route/{doomed}", before=routes[doomed])
            handles.available_models.clear()
            saved("routes", f"Route '{doomed}' deleted.")

with breakers_tab:
    views = rel.breakers.views()
    if not views:
        st.info("No deployment has been called yet; breakers appear after the first call.")
    for view in views:
        cols = st.columns([4, 2, 2, 3, 2])
        badge = {
            "closed": ":green[closed]",
            "open": ":red[open]",
            "half_open": ":orange[half-open]",
        }
        cols[0].markdown(f"`{view.deployment}`")
        cols[1].markdown(badge.get(view.state, view.state))
        cols[2].markdown(f"{view.failures} failures")
        reopens = (
            f"reopens {view.reopens_at:%H:%M:%S} UTC"
            if view.state == "open" and view.reopens_at
            else f"opened {view.opened_count}×"
        )
        cols[3].markdown(reopens)
        if cols[4].button(
            "Reset", key=f"ops.reset.{view.deployment}", disabled=view.state == "closed"
        ):
            auth.require("breakers.reset")
            rel.breakers.reset(view.deployment)
            auth.record("breaker.reset", view.deployment)
            st.toast(f"Breaker for {view.deployment} reset.")
            st.rerun()

SETTING_LABELS = {
    "max_retries": "Retries per deployment", "backoff_base_s": "Backoff base",
    "attempt_timeout_s": "Per-attempt timeout", "deadline_s": "Total deadline",
    "breaker_failures": "Breaker: consecutive failures", "breaker_cooldown_s": "Breaker: cool-down",
    "breaker_failure_rate": "Breaker: failure rate", "rpm_global": "Requests/min, all users",
    "rpm_user": "Requests/min, each user", "tpm_global": "Tokens/min, all users",
    "tpm_user": "Tokens/min, each user", "max_concurrent": "Calls at once",
    "cache_ttl_s": "Time to live", "semantic_threshold": "Semantic similarity threshold",
}

with limits_tab:
    show_flashes(f"{FLASH}.limits")
    cfg = rel.config()
    usage = rel.limiter.usage()
    st.markdown("**Traffic in the last minute (this replica)**")
    for label, used, cap in (
        ("Requests", usage["requests"], cfg.rpm_global),
        ("Tokens", usage["tokens"], cfg.tpm_global),
        ("In flight", usage["in_flight"], cfg.max_concurrent),
    ):
        if cap:
            st.progress(min(used / cap, 1.0), text=f"{label}: {used:,.0f} of {cap:,}")
        else:
            st.caption(f"{label}: {used:,.0f} (no limit)")
    with st.form("ops.settings_form"):
        c1, c2, c3 = st.columns(3)
        values = {
            "max_retries": c1.number_input(
                "Retries per deployment", 0, 10, key=keep("ops.max_retries", cfg.max_retries)
            ),
            "backoff_base_s": c1.number_input(
                "Backoff base (s)", 0.01, 30.0, key=keep("ops.backoff", cfg.backoff_base_s)
            ),
            "attempt_timeout_s": c1.number_input(
                "Per-attempt timeout (s)", 0.1, 600.0,
                key=keep("ops.attempt_timeout", cfg.attempt_timeout_s),
            ),
            "deadline_s": c1.number_input(
                "Total deadline (s)", 0.1, 3600.0, key=keep("ops.deadline", cfg.deadline_s)
            ),
            "breaker_failures": c2.number_input(
                "Breaker: consecutive failures", 1, 1000,
                key=keep("ops.breaker_failures", cfg.breaker_failures),
            ),
            "breaker_cooldown_s": c2.number_input(
                "Breaker: cool-down (s)", 0.1, 3600.0,
                key=keep("ops.breaker_cooldown", cfg.breaker_cooldown_s),
            ),
            "breaker_failure_rate": c2.number_input(
                "Breaker: failure rate", 0.01, 1.0,
                key=keep("ops.breaker_rate", cfg.breaker_failure_rate),
            ),
        }
        limits = {}
        for key, label, current in (
            ("rpm_global", "Requests/min, all users (0 = none)", cfg.rpm_global),
            ("rpm_user", "Requests/min, each user", cfg.rpm_user),
            ("tpm_global", "Tokens/min, all users", cfg.tpm_global),
            ("tpm_user", "Tokens/min, each user", cfg.tpm_user),
            ("max_concurrent", "Calls at once", cfg.max_concurrent),
        ):
            limits[key] = c3.number_input(
                label, 0, 10_000_000, key=keep(f"ops.{key}", current or 0)
            )
        submitted = st.form_submit_button("Save settings")
    if submitted:
        try:
            auth.require("limits.write")
            rel.update_config(**values, **{k: (v or None) for k, v in limits.items()})
        except ValidationError as err:
            st.error(f"The settings were not saved: {plain_validation_error(err, SETTING_LABELS)}")
        else:
            auth.record("settings.save", "retries and rate limits", after={**values, **limits})
            saved("limits", "Settings saved; every replica uses them within a few seconds.")

with budgets_tab:
    show_flashes(f"{FLASH}.budgets")
    st.caption(BUDGET_BASIS)
    for status in rel.budgets.status():
        b = status.budget
        who = {"global": "everyone", "user": "each user", "tag": "each tag"}[b.scope]
        if b.subject:
            who = f"{b.scope} {b.subject}"
        when_spent = (f"then downgrade to {b.downgrade_model}" if b.policy == "downgrade"
                      else "then block calls")
        line = (
            f"**{b.name}** · {b.period} · {who} · {when_spent}"
            + ("" if b.enabled else " · disabled")
        )
        st.markdown(
            line + (f" · `{status.subject}`" if status.subject not in ("*", b.subject) else "")
        )
        st.progress(
            min(status.used_fraction, 1.0),
            text=f"${status.spent_usd:,.4f} spent"
            + (f" + ${status.reserved_usd:,.4f} in flight" if status.reserved_usd else "")
            + f" of ${b.limit_usd:,.2f} this {'day' if b.period == 'daily' else 'month'}",
        )
    budgets = rel.budgets.list()
    targets = handles.available_models()
    with st.form("ops.budget_form"):
        st.markdown("**Add or change a budget** (an existing name changes that budget)")
        existing = {b.name: b for b in budgets}
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key=keep("ops.budget_name", ""), placeholder="daily-cap")
        limit = c1.text_input("Limit (USD)", key=keep("ops.budget_limit", ""), placeholder="25",
                              help="An amount in dollars, such as 25 or 1,000.50.")
        period = c1.selectbox(
            "Period", ["daily", "monthly"], key=keep("ops.budget_period", "daily")
        )
        scope = c2.selectbox(
            "Applies to", ["global", "user", "tag"], key=keep("ops.budget_scope", "global"),
            format_func={"global": "all calls together", "user": "each user",
                         "tag": "each tag"}.get,
        )
        subject = c2.text_input(
            "Only this user or tag (blank = each one)", key=keep("ops.budget_subject", "")
        )
        policy = c2.selectbox(
            "When spent", ["block", "downgrade"], key=keep("ops.budget_policy", "block"),
            format_func={"block": "block further calls",
                         "downgrade": "switch to a cheaper model"}.get,
        )
        target = c2.selectbox(
            "Cheaper model (when spent: switch)", targets,
            key=keep("ops.budget_target", None, options=targets),
            placeholder="Choose a model or route…",
        )
        threshold_pct = c1.slider("Alert when this share of the limit is spent", 10, 100,
                                  step=5, key=keep("ops.budget_threshold_pct", 80),
                                  format="%d%%")
        submitted = st.form_submit_button("Save budget")
    if submitted:
        auth.require("budgets.write")
        old = existing.get(name.strip())
        try:
            budget_id = rel.budgets.save(
                Budget(
                    id=old.id if old else None,
                    name=name.strip(),
                    limit_usd=parse_usd(limit),
                    period=period,
                    scope=scope,
                    subject=subject.strip() or None,
                    policy=policy,
                    downgrade_model=target,
                    alert_threshold=threshold_pct / 100,
                ),
                known_models=targets,
            )
        except TrellisError as err:
            st.error(f"The budget was not saved. {err.user_message}", icon=":material/error:")
        else:
            auth.record("budget.save", name.strip(),
                        before=old and {"limit_usd": old.limit_usd, "period": old.period},
                        after={"limit_usd": parse_usd(limit), "period": period})
            mon.alert_check.clear()  # the daily-budget alert reads the budget
            saved("budgets", f"Budget '{name.strip()}' saved: ${parse_usd(limit):,.2f} "
                             f"{period}.")
    if budgets:
        doomed = st.selectbox(
            "Delete a budget", ["—", *[b.name for b in budgets]],
            key=keep("ops.budget_delete", "—", options=["—", *[b.name for b in budgets]]),
        )
        if doomed != "—" and st.button("Delete budget", key="ops.budget_delete_btn"):
            auth.require("budgets.write")
            rel.budgets.delete(next(b.id for b in budgets if b.name == doomed))
            auth.record("budget.delete", doomed)
            mon.alert_check.clear()
            saved("budgets", f"Budget '{doomed}' deleted.")

CACHE_MODES = {
    "off": "Off: every call goes to the model",
    "exact": "Exact: the same prompt gets the stored answer",
    "semantic": "Similar: a close enough prompt gets the stored answer",
    "both": "Exact, then similar",
}

with cache_tab:
    show_flashes(f"{FLASH}.cache")
    cfg = rel.config()
    summary = svc.telemetry.cache_summary(since(24))
    stats = rel.cache.stats()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Cache now", CACHE_MODES[cfg.cache_mode].split(":")[0])
    c2.metric(
        "Hit rate, last 24 h",
        f"{summary['hit_rate']:.0%}" if summary["calls"] else "–",
        help=f"{summary['hits']:,} of {summary['calls']:,} calls in the last 24 hours",
    )
    c3.metric("Saved, last 24 h", f"${summary['saved_usd']:,.4f}")
    c4.metric("Stored answers", f"{stats['entries']:,}")
    period = (
        f"Hit rate and savings cover the real calls of the last 24 hours "
        f"({summary['hits']:,} of {summary['calls']:,} answered from the cache); "
        "demo traffic is not counted."
    )
    if cfg.cache_mode == "off" and summary["hits"]:
        period += " The cache is off now: those hits were served while it was on."
    elif cfg.cache_mode == "off":
        period += " The cache is off, so the hit rate stays at 0% until you switch it on."
    st.caption(period)
    with st.form("ops.cache_form"):
        modes = list(CACHE_MODES)
        mode = st.selectbox(
            "Cache", modes, key=keep("ops.cache_mode", cfg.cache_mode, options=modes),
            format_func=CACHE_MODES.get,
        )
        ttl = st.number_input(
            "Keep answers for (seconds)", 1.0, 30 * 86400.0, step=60.0, format="%.0f",
            key=keep("ops.cache_ttl", cfg.cache_ttl_s),
        )
        threshold = st.slider(
            "Similarity needed for a similar prompt (1.0 = identical)", 0.5, 1.0,
            key=keep("ops.cache_sim", cfg.semantic_threshold),
        )
        submitted = st.form_submit_button("Save cache settings")
    if submitted:
        try:
            auth.require("cache.write")
            rel.update_config(cache_mode=mode, cache_ttl_s=ttl, semantic_threshold=threshold)
        except ValidationError as err:
            st.error("The cache settings were not saved: "
                     + plain_validation_error(err, SETTING_LABELS))
        else:
            auth.record("cache.settings", "cache", after={"mode": mode, "ttl_s": ttl})
            saved("cache", f"Cache settings saved: {CACHE_MODES[mode].split(':')[0].lower()}.")
    if st.button("Clear the cache", key="ops.cache_clear"):
        auth.require("cache.write")
        auth.record("cache.clear", "cache")
        st.toast(f"Removed {rel.cache.invalidate()} cached answers.")
