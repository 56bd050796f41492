"""Widgets more than one page uses."""

from __future__ import annotations

import streamlit as st

from app import handles
from core.telemetry.budget import SPEND_BASIS

#: Set by app/main.py while a page runs inside the navigation shell.
IN_SHELL = "_trellis.in_shell"


class EndPage(Exception):  # noqa: N818 - a signal, not an error
    """A page has drawn all it has (an empty state); the shell catches it."""


def flash(key: str, kind: str, text: str) -> None:
    """Queue a note ("success", "info", "warning" or "error") for the page's next
    run, so it is seen after the `st.rerun()` that shows the new state."""
    st.session_state.setdefault(key, []).append((kind, text))


_FLASH_ICONS = {"success": ":material/check_circle:", "info": ":material/info:",
                "warning": ":material/warning:", "error": ":material/error:"}


def show_flashes(key: str) -> None:
    """Show, once, the notes queued under `key`."""
    for kind, text in st.session_state.pop(key, []):
        getattr(st, kind)(text, icon=_FLASH_ICONS.get(kind))


def end_page() -> None:
    """Stop drawing this page but let the shell finish: st.stop() would also stop the
    shell's sidebar (providers and today's spend) after the page. A page run on its
    own (AppTest.from_file of the page) stops as before."""
    if st.session_state.get(IN_SHELL):
        raise EndPage
    st.stop()


def sidebar_status() -> None:
    """Provider availability (with the reason when one is not) and today's spend."""
    with st.sidebar:
        st.markdown("**Providers**")
        for status in handles.provider_statuses():
            mark = ":green[●]" if status.available else ":gray[○]"
            st.markdown(f"{mark} {status.label}", help=status.reason)
            if not status.available:
                st.caption(status.reason)
        today = handles.spend_today()
        st.metric("Spend today (UTC)", f"${today.spend_usd:,.4f}",
                  help=f"{today.calls:,} calls since 00:00 UTC. {SPEND_BASIS}")
        if today.demo_calls:
            st.caption(f"Not counted: {today.demo_calls:,} demo calls today "
                       f"(${today.demo_spend_usd:,.2f}), as budgets do not count them either.")
        if today.unknown_cost_calls:
            st.caption(f"{today.unknown_cost_calls:,} call(s) today used a model with no "
                       "known price.")


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if cost == 0:
        return "$0"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:,.4f}"


def format_ms(ms: float | None) -> str:
    if ms is None or ms != ms:  # None or NaN: no value
        return "–"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"
