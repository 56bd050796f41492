"""Access (admins): users and roles, API keys, and the audit trail."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app import auth, handles
from app.state import keep
from app.widgets import flash, show_flashes
from core.access import ROLES, TrellisError
from core.telemetry.models import utcnow

me = auth.page("users.manage")
svc = handles.services()
access = svc.access

st.title("Access")
if auth.mode() == "none":
    st.caption(
        "Sign-in is off (the embedded default): everyone using this app is the local admin. "
        "Users and roles below take effect when the app runs with TRELLIS_AUTH=password."
    )
else:
    st.caption("Who can sign in and with which role; API keys for the gateway; every change.")

FLASH = "access.flash"

#: Audit action codes -> words; others read "<thing>: <what>" (route.save -> route: save).
ACTION_WORDS = {
    "user.add": "user added", "user.remove": "user removed", "user.role": "role changed",
    "user.password": "password set", "user.locked": "account locked",
    "key.create": "API key created", "key.revoke": "API key revoked",
    "budget.save": "budget saved", "budget.delete": "budget deleted",
    "route.save": "route saved", "route.delete": "route deleted",
    "policy.save": "guard policy saved", "policy.delete": "guard policy deleted",
    "recognizer.save": "recognizer saved", "recognizer.delete": "recognizer deleted",
    "cache.settings": "cache settings saved", "cache.clear": "cache cleared",
    "settings.save": "settings saved", "breaker.reset": "breaker reset",
    "prompt.create": "prompt created", "prompt.save": "prompt version saved",
    "prompt.label_move": "prompt label moved", "prompt.archive": "prompt archived",
    "prompt.restore": "prompt restored", "prompt.gate": "prompt eval gate set",
    "prompt.gate_run": "prompt eval gate run", "eval.run": "eval run",
    "dataset.save": "dataset saved", "dataset.import": "dataset imported",
    "dataset.add_call": "call added to a dataset",
    "experiment.create": "experiment created", "experiment.start": "experiment started",
    "experiment.pause": "experiment paused", "experiment.stop": "experiment stopped",
    "experiment.ramp": "experiment traffic share changed",
    "experiment.weights": "experiment weights changed",
    "experiment.promote": "experiment winner promoted",
    "experiment.gate_override": "experiment promoted despite its gate",
}
KIND_WORDS = {"everything": "everything", "user": "users", "key": "API keys",
              "budget": "budgets", "route": "routes", "policy": "guard policies",
              "recognizer": "recognizers", "cache": "cache", "settings": "settings",
              "breaker": "circuit breakers", "document": "documents", "prompt": "prompts",
              "eval": "eval runs", "dataset": "eval datasets", "experiment": "experiments"}


def _action(code: str) -> str:
    if code in ACTION_WORDS:
        return ACTION_WORDS[code]
    thing, _, what = code.partition(".")
    return f"{thing}: {what.replace('_', ' ')}" if what else code


show_flashes(FLASH)
users_tab, keys_tab, audit_tab = st.tabs(["Users and roles", "API keys", "Audit trail"])


def _when(value: datetime | None, empty: str = "—") -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else empty


with users_tab:
    st.markdown(
        "**Roles.** Viewer: dashboards and document search. Editor: also the playground, "
        "prompts, evals, experiments and documents. Admin: also keys, budgets, routes, "
        "guardrail policies and users."
    )
    users = access.list_users()
    if users:
        now = utcnow()
        st.dataframe(
            pd.DataFrame([
                {"user": u.username, "role": u.role,
                 "signs in with": "password" if u.password_hash else "single sign-on",
                 "status": "locked" if u.locked_until and u.locked_until > now else "active",
                 "last sign-in (UTC)": _when(u.last_login_at, "never"),
                 "added (UTC)": _when(u.created_at)}
                for u in users
            ]),
            hide_index=True, width="stretch",
        )
    else:
        st.info("No users yet. Add the first admin here, or with "
                "`python -m core.cli users add NAME --admin`.")
    with st.form("access.add_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("User name (or e-mail for single sign-on)")
        role = c2.selectbox("Role", ROLES)
        password = c3.text_input("Password (at least 10 characters)", type="password",
                                 help="Leave empty for users who sign in with single sign-on.")
        if st.form_submit_button("Add user", type="primary", icon=":material/person_add:"):
            auth.require("users.manage")
            try:
                access.add_user(me, name, role, password or None)
                # Shown after the rerun that puts the user in the table.
                flash(FLASH, "success", f"User '{name.strip()}' added as {role}.")
                st.rerun()
            except TrellisError as err:
                st.error(err.user_message)
    if users:
        names = [u.username for u in users]
        st.markdown("**Change a role, reset a password or remove a user**")
        c1, c2, c3 = st.columns([2, 1, 1])
        who = c1.selectbox("User", names, key=keep("access.user", names[0], options=names))
        current = next(u for u in users if u.username == who)
        new_role = c2.selectbox("Role", ROLES, index=ROLES.index(current.role),
                                key=f"access.role.{who}")
        c3.write("")
        if c3.button("Change role", key="access.role_go", disabled=new_role == current.role):
            auth.require("users.manage")
            try:
                access.set_role(me, who, new_role)
                st.toast(f"{who} is now {new_role}.")
                st.rerun()
            except TrellisError as err:
                st.error(err.user_message)
        with st.expander(f"Reset the password of {who} or remove them"):
            with st.form("access.password", clear_on_submit=True):
                new_pw = st.text_input("New password", type="password")
                if st.form_submit_button("Set password (also unlocks the account)"):
                    auth.require("users.manage")
                    try:
                        access.set_password(me, who, new_pw)
                        st.success(f"Password of {who} changed.")
                    except TrellisError as err:
                        st.error(err.user_message)
            sure = st.checkbox(f"Remove {who}", key="access.remove_sure")
            if st.button("Remove user", disabled=not sure, key="access.remove_go"):
                auth.require("users.manage")
                try:
                    access.remove_user(me, who)
                    st.session_state.pop("access.user", None)
                    st.rerun()
                except TrellisError as err:
                    st.error(err.user_message)

with keys_tab:
    fresh = st.session_state.pop("access.new_key", None)
    if fresh:
        st.success(f"Key '{fresh['name']}' created. Copy it now: it is shown only this once "
                   "and Trellis keeps only a fingerprint of it.", icon=":material/key:")
        st.code(fresh["secret"], language=None)
    keys = access.list_keys()
    now = utcnow()
    if keys:
        def _state(k) -> str:  # noqa: ANN001 - ApiKey
            if k.revoked_at:
                return f"revoked {_when(k.revoked_at)}"
            if k.expires_at and k.expires_at <= now:
                return "expired"
            return f"expires {_when(k.expires_at)}" if k.expires_at else "active"

        st.dataframe(
            pd.DataFrame([
                {"name": k.name, "id": f"trl_{k.prefix}_…", "owner": k.owner,
                 "models": ", ".join(k.models) or "any", "prompts": ", ".join(k.prompts) or "any",
                 "requests/min": f"{k.rpm:,}" if k.rpm else "no limit",
                 "tokens/min": f"{k.tpm:,}" if k.tpm else "no limit",
                 "daily budget": f"${k.budget_usd:,.2f}" if k.budget_usd else "none",
                 "status": _state(k),
                 "created (UTC)": _when(k.created_at)}
                for k in keys
            ]),
            hide_index=True, width="stretch",
        )
    else:
        st.info("No API keys yet. Applications call the gateway (`make api`) with a key "
                "created here.")
    with st.form("access.create_key", clear_on_submit=True):
        st.markdown("**Create an API key**")
        c1, c2 = st.columns(2)
        key_name = c1.text_input("Name", placeholder="support-bot production")
        owner = c2.text_input("Owner", placeholder=me.name)
        choices = handles.available_models()
        models = c1.multiselect("Only these models or routes (none = any)", choices)
        prompts = c2.text_input("Only these prompts, comma-separated (empty = any)")
        c1, c2, c3, c4 = st.columns(4)
        days = c1.number_input("Expires after (days, 0 = never)", 0, 3650, 90)
        rpm = c2.number_input("Requests per minute (0 = no limit)", 0, 1_000_000, 0)
        tpm = c3.number_input("Tokens per minute (0 = no limit)", 0, 100_000_000, 0)
        budget = c4.number_input("Daily budget, USD (0 = none)", 0.0, 1e6, 0.0, step=1.0)
        if st.form_submit_button("Create key", type="primary", icon=":material/key:"):
            auth.require("keys.manage")
            try:
                new = access.create_key(
                    me, key_name, owner=owner or None, models=models,
                    prompts=[p for p in prompts.split(",") if p.strip()],
                    expires_at=utcnow() + timedelta(days=days) if days else None,
                    rpm=rpm or None, tpm=tpm or None, budget_usd=budget or None,
                )
                st.session_state["access.new_key"] = {"name": new.key.name,
                                                      "secret": new.secret}
                st.rerun()
            except TrellisError as err:
                st.error(err.user_message)
    live = [k for k in keys if not k.revoked_at]
    if live:
        labels = {k.id: f"{k.name} (trl_{k.prefix}_…, {k.owner})" for k in live}
        c1, c2 = st.columns([3, 1])
        doomed = c1.selectbox("Revoke a key", list(labels), format_func=labels.get,
                              key="access.revoke")
        c2.write("")
        if c2.button("Revoke", key="access.revoke_go", type="primary"):
            auth.require("keys.manage")
            try:
                gone = access.revoke_key(me, int(doomed))
                st.toast(f"Key '{gone.name}' revoked; every gateway refuses it within 2 s.")
                st.rerun()
            except TrellisError as err:
                st.error(err.user_message)

with audit_tab:
    c1, c2, c3, c4 = st.columns(4)
    everyone = sorted({e.actor for e in access.events(limit=5000)})
    actor = c1.selectbox("Who", ["everyone", *everyone],
                         key=keep("access.audit_actor", "everyone",
                                  options=["everyone", *everyone]))
    kinds = list(KIND_WORDS)
    kind = c2.selectbox("What", kinds, format_func=KIND_WORDS.get,
                        key=keep("access.audit_kind", "everything", options=kinds))
    target = c3.text_input("Target contains", key=keep("access.audit_target", ""))
    today = date.today()
    span = c4.date_input("Days (UTC)", key=keep("access.audit_days", (today - timedelta(30),
                                                                      today)))
    filters = {
        "actor": None if actor == "everyone" else actor,
        "action": None if kind == "everything" else kind,
        "target": target.strip() or None,
    }
    if isinstance(span, tuple | list) and len(span) == 2:
        filters["since"] = datetime.combine(span[0], time.min)
        filters["until"] = datetime.combine(span[1] + timedelta(days=1), time.min)
    events = access.events(**filters)
    if events:
        st.dataframe(
            pd.DataFrame([
                {"time (UTC)": _when(e.at), "who": e.actor, "action": _action(e.action),
                 "target": e.target or "", "before": e.before or "", "after": e.after or ""}
                for e in events
            ]),
            hide_index=True, width="stretch",
        )
        st.download_button("Download CSV", access.events_csv(**filters),
                           file_name="trellis-audit.csv", mime="text/csv",
                           icon=":material/download:")
    else:
        st.info("No changes match these filters.")
