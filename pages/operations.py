"""Operations: routes and fallbacks, breakers, rate limits, budgets and caches."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from app import auth, handles
from core.providers.errors import TrellisError
from core.reliability.models import Budget
from core.telemetry.store import since

auth.page("operations.view")
svc = handles.services()
rel = svc.reliability

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
        name = st.text_input("Name", key="ops.route_name", placeholder="main")
        chain = st.text_area(
            "Deployments, first choice first, one per line",
            key="ops.route_chain",
            placeholder="anthropic/claude-haiku-4-5\nopenai/gpt-4o-mini\nlocal/gemma-3-270m",
        )
        if st.form_submit_button("Save route"):
            try:
                auth.require("routes.write")
                rel.routes.save(name, chain.splitlines())
                auth.record("route.save", f"route/{name}", before=routes.get(name),
                            after=chain.splitlines())
                st.success(f"Route '{name}' saved.")
            except TrellisError as err:
                st.error(err.user_message)
    if routes:
        doomed = st.selectbox("Delete a route", ["—", *routes], key="ops.route_delete")
        if doomed != "—" and st.button("Delete route", key="ops.route_delete_btn"):
            auth.require("routes.write")
            rel.routes.delete(doomed)
            auth.record("route.delete", f"route/{doomed}", before=routes[doomed])
            st.rerun()

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

with limits_tab:
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
            "max_retries": c1.number_input("Retries per deployment", 0, 10, cfg.max_retries),
            "backoff_base_s": c1.number_input("Backoff base (s)", 0.01, 30.0, cfg.backoff_base_s),
            "attempt_timeout_s": c1.number_input(
                "Per-attempt timeout (s)", 0.1, 600.0, cfg.attempt_timeout_s
            ),
            "deadline_s": c1.number_input("Total deadline (s)", 0.1, 3600.0, cfg.deadline_s),
            "breaker_failures": c2.number_input(
                "Breaker: consecutive failures", 1, 1000, cfg.breaker_failures
            ),
            "breaker_cooldown_s": c2.number_input(
                "Breaker: cool-down (s)", 0.1, 3600.0, cfg.breaker_cooldown_s
            ),
            "breaker_failure_rate": c2.number_input(
                "Breaker: failure rate", 0.01, 1.0, cfg.breaker_failure_rate
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
            limits[key] = c3.number_input(label, 0, 10_000_000, current or 0, key=f"ops.{key}")
        if st.form_submit_button("Save settings"):
            try:
                auth.require("limits.write")
                rel.update_config(**values, **{k: (v or None) for k, v in limits.items()})
                auth.record("settings.save", "retries and rate limits", after={**values, **limits})
                st.success("Settings saved.")
            except ValidationError as err:
                st.error(f"Not saved: {err.errors()[0]['msg']}.")

with budgets_tab:
    for status in rel.budgets.status():
        b = status.budget
        who = {"global": "everyone", "user": "each user", "tag": "each tag"}[b.scope]
        if b.subject:
            who = f"{b.scope} {b.subject}"
        line = (
            f"**{b.name}** · {b.period} · {who} · {b.policy}"
            + (f" → {b.downgrade_model}" if b.policy == "downgrade" else "")
            + ("" if b.enabled else " · disabled")
        )
        st.markdown(
            line + (f" · `{status.subject}`" if status.subject not in ("*", b.subject) else "")
        )
        st.progress(
            min(status.used_fraction, 1.0),
            text=f"${status.spent_usd:,.4f} spent"
            + (f" + ${status.reserved_usd:,.4f} in flight" if status.reserved_usd else "")
            + f" of ${b.limit_usd:,.2f}",
        )
    budgets = rel.budgets.list()
    with st.form("ops.budget_form"):
        st.markdown("**Add or change a budget**")
        existing = {b.name: b for b in budgets}
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", key="ops.budget_name")
        limit = c1.number_input("Limit (USD)", 0.0, 1e9, 10.0, key="ops.budget_limit")
        period = c1.selectbox("Period", ["daily", "monthly"], key="ops.budget_period")
        scope = c2.selectbox("Applies to", ["global", "user", "tag"], key="ops.budget_scope")
        subject = c2.text_input(
            "Only this user or tag (blank = each one)", key="ops.budget_subject"
        )
        policy = c2.selectbox("When spent", ["block", "downgrade"], key="ops.budget_policy")
        target = c2.text_input(
            "Downgrade to model", key="ops.budget_target", placeholder="openai/gpt-4o-mini"
        )
        threshold = c1.slider("Alert at", 0.1, 1.0, 0.8, key="ops.budget_threshold")
        if st.form_submit_button("Save budget"):
            auth.require("budgets.write")
            old = existing.get(name.strip())
            try:
                rel.budgets.save(
                    Budget(
                        id=old.id if old else None,
                        name=name.strip(),
                        limit_usd=limit,
                        period=period,
                        scope=scope,
                        subject=subject.strip() or None,
                        policy=policy,
                        downgrade_model=target.strip() or None,
                        alert_threshold=threshold,
                    )
                )
                auth.record("budget.save", name.strip(),
                            before=old and {"limit_usd": old.limit_usd, "period": old.period},
                            after={"limit_usd": limit, "period": period})
                st.success(f"Budget '{name.strip()}' saved.")
                st.rerun()
            except TrellisError as err:
                st.error(err.user_message)
    if budgets:
        doomed = st.selectbox(
            "Delete a budget", ["—", *[b.name for b in budgets]], key="ops.budget_delete"
        )
        if doomed != "—" and st.button("Delete budget", key="ops.budget_delete_btn"):
            auth.require("budgets.write")
            rel.budgets.delete(next(b.id for b in budgets if b.name == doomed))
            auth.record("budget.delete", doomed)
            st.rerun()

with cache_tab:
    cfg = rel.config()
    summary = svc.telemetry.cache_summary(since(24))
    stats = rel.cache.stats()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Cache mode", cfg.cache_mode)
    c2.metric(
        "Hit rate, 24 h",
        f"{summary['hit_rate']:.0%}",
        help=f"{summary['hits']} of {summary['calls']} calls",
    )
    c3.metric("Saved, 24 h", f"${summary['saved_usd']:,.4f}")
    c4.metric("Entries", f"{stats['entries']:,}")
    with st.form("ops.cache_form"):
        mode = st.selectbox(
            "Cache",
            ["off", "exact", "semantic", "both"],
            index=["off", "exact", "semantic", "both"].index(cfg.cache_mode),
            key="ops.cache_mode",
        )
        ttl = st.number_input(
            "Time to live (s)", 1.0, 30 * 86400.0, cfg.cache_ttl_s, key="ops.cache_ttl"
        )
        threshold = st.slider(
            "Semantic similarity threshold", 0.5, 1.0, cfg.semantic_threshold, key="ops.cache_sim"
        )
        if st.form_submit_button("Save cache settings"):
            auth.require("cache.write")
            rel.update_config(cache_mode=mode, cache_ttl_s=ttl, semantic_threshold=threshold)
            auth.record("cache.settings", "cache", after={"mode": mode, "ttl_s": ttl})
            st.success("Cache settings saved.")
    if st.button("Clear the cache", key="ops.cache_clear"):
        auth.require("cache.write")
        auth.record("cache.clear", "cache")
        st.toast(f"Removed {rel.cache.invalidate()} cached answers.")
