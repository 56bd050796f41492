"""Cached handles on the core engine, shared by every page and session.

Settings are built here, once, and handed to core; pages ask for
`services()` and never build their own. Reads that pages repeat are cached
briefly with `st.cache_data`; a page that writes clears just those readers.
"""

from __future__ import annotations

import threading

import streamlit as st

from core.config import Settings
from core.providers.base import ProviderStatus
from core.services import Services
from core.telemetry.store import SpendSummary, day_start


@st.cache_resource(show_spinner="Starting Trellis…")
def services() -> Services:
    svc = Services.build(Settings())
    if svc.settings.rag_ingest_worker == "thread":
        # Queued document uploads run here, outside any page script: a refresh,
        # a second tab or a closed browser neither stops nor repeats them.
        svc.jobs.start()
    if svc.settings.warm_up:
        # The PII analyzer, the default model and the embedder take seconds to load;
        # load them now, off the page's thread, not on the first message.
        threading.Thread(target=svc.warm_up, name="trellis-warm-up", daemon=True).start()
    return svc


@st.cache_data(ttl=15, show_spinner=False)
def provider_statuses() -> list[ProviderStatus]:
    return services().registry.statuses()


@st.cache_data(ttl=15, show_spinner=False)
def available_models() -> list[str]:
    """Callable model ids, then the named routes (fallback chains) from Operations."""
    svc = services()
    routes = [f"route/{name}" for name in svc.reliability.routes.all()]
    return svc.registry.available_models() + routes


@st.cache_data(ttl=10, show_spinner=False)
def spend_today() -> SpendSummary:
    """Today's (UTC) known spend and calls: real calls, with the demo traffic apart."""
    return services().telemetry.spend_summary(day_start())


def after_call() -> None:
    """Clear the readers a new call row invalidates."""
    spend_today.clear()
