"""Sign-in and role checks for the web app, on core/access.

`TRELLIS_AUTH=none` (the embedded default): one local admin, no sign-in.
`TRELLIS_AUTH=password`: a sign-in form in the app shell; sessions expire
after `TRELLIS_SESSION_HOURS`; core/access locks an account after repeated
failures. `TRELLIS_AUTH=oidc`: Streamlit's own `st.login` (see README).

Pages call `page(action)` at the top (a page the role cannot open stops with
a sentence), `can(action)` to hide or disable a control, and `require(action)`
just before a write: the check is in core/access, so a hidden button is not
the only thing standing between a viewer and a write.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from app import handles
from core.access import LOCAL_ADMIN, AccessDenied, Actor, SignInFailed

_SESSION = "auth.user"


def mode() -> str:
    return handles.services().settings.auth.strip().lower()


def actor() -> Actor | None:
    """Who is using this session now, or None when nobody is signed in."""
    how = mode()
    if how == "none":
        return LOCAL_ADMIN
    access = handles.services().access
    if how == "oidc":
        user = getattr(st, "user", None)
        if user is None or not user.get("is_logged_in"):
            return None
        return access.current(str(user.get("email") or ""))
    session = st.session_state.get(_SESSION)
    if not session:
        return None
    if session["expires"] <= time.time():
        st.session_state.pop(_SESSION, None)
        st.session_state["auth.notice"] = "Your session expired; sign in again."
        return None
    # The stored role, not the one at sign-in: a demotion applies at once.
    return access.current(session["name"])


def can(action: str) -> bool:
    who = actor()
    return who is not None and who.can(action)


def require(action: str) -> Actor:
    """The actor, if they may do `action`; otherwise the page says why and stops."""
    who = actor()
    if who is None:
        st.warning("Sign in to do that.", icon=":material/lock:")
        st.stop()
    try:
        handles.services().access.require(who, action)
    except AccessDenied as err:
        st.error(err.user_message, icon=":material/block:")
        st.stop()
    return who


def page(action: str) -> Actor:
    """Top of a page: stop with a sentence unless the session may open it."""
    return require(action)


def record(action: str, target: str | None = None, *, before: Any = None,
           after: Any = None) -> None:
    """Put a change the session just made on the audit trail."""
    who = actor() or LOCAL_ADMIN
    handles.services().access.audit(who, action, target, before=before, after=after)


def sign_in_gate() -> Actor:
    """In the app shell, before navigation: the signed-in actor, or the sign-in form."""
    who = actor()
    if who is not None:
        if mode() == "password":
            with st.sidebar:
                st.caption(f"Signed in as **{who.name}** ({who.role})")
                if st.button("Sign out", key="auth.sign_out", icon=":material/logout:"):
                    st.session_state.pop(_SESSION, None)
                    st.rerun()
        return who
    if mode() == "oidc":
        st.title("Trellis")
        user = getattr(st, "user", None)
        if user is not None and user.get("is_logged_in"):
            st.warning(f"{user.get('email')} has no Trellis account yet; ask an admin to add "
                       "you with your e-mail address as the user name.")
            st.button("Sign out", on_click=st.logout)
        else:
            st.button("Sign in", on_click=st.login, type="primary")
        st.stop()
    _sign_in_form()
    st.stop()
    raise AssertionError("unreachable")


def _sign_in_form() -> None:
    st.title("Sign in to Trellis")
    notice = st.session_state.pop("auth.notice", None)
    if notice:
        st.info(notice)
    with st.form("auth.sign_in", clear_on_submit=True):
        name = st.text_input("User name", key="auth.name")
        password = st.text_input("Password", type="password", key="auth.password")
        submitted = st.form_submit_button("Sign in", type="primary")
    svc = handles.services()
    if not submitted:
        if not svc.access.has_admin():
            st.warning("Nobody can sign in yet: create the first admin on the server with "
                       "`python -m core.cli users add NAME --admin`.")
        else:
            st.caption("No account yet? Ask an admin to add you on the Access page.")
        return
    try:
        who = svc.access.authenticate(name, password)
    except SignInFailed as err:
        st.error(err.user_message)
        return
    hours = svc.settings.session_hours
    st.session_state[_SESSION] = {"name": who.name, "expires": time.time() + hours * 3600}
    st.rerun()


#: The action a page needs (by its script's name); pages not named need "dashboards.view".
PAGE_NEEDS = {
    "chat": "playground.use",
    "operations": "operations.view",
    "guardrails": "guards.write",
    "access": "users.manage",
}


def visible(who: Actor, sections: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The navigation without the pages `who` cannot open (each page checks again)."""
    out = {}
    for section, pages in sections.items():
        allowed = [p for p in pages if who.can(PAGE_NEEDS.get(_name(p), "dashboards.view"))]
        if allowed:
            out[section] = allowed
    return out


def _name(page: Any) -> str:
    """A page's script name: `url_path` is empty for the default page, so use the file."""
    source = getattr(page, "_page", None)
    if isinstance(source, str | Path):
        return Path(source).stem
    return page.url_path
