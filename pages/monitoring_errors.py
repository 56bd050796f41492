"""Monitoring · Errors: what is breaking? Error rate, classes, providers,
recent errors with their plain messages, breaker openings and fallbacks."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app import monitoring as mon
from core.telemetry.filters import to_local

PAGE = "errors"

f, tz = mon.page_header("Errors", PAGE)
v = mon.errors_view(f)
s = v["summary"].iloc[0]

m = st.columns(6)
m[0].metric("Calls", f"{int(s['calls']):,}")
m[1].metric("Error rate", "–" if s["error_rate"] != s["error_rate"] else f"{s['error_rate']:.2%}")
m[2].metric("Errors", f"{int(s['errors']):,}")
m[3].metric("Guard blocks", f"{int(s['blocked']):,}")
m[4].metric("Fallbacks", f"{int(s['fallbacks']):,}")
m[5].metric("Breaker openings", f"{int(s['breaker_openings']):,}",
            help="Calls refused because a provider's circuit breaker was open (too many "
                 "recent failures).")
mon.download(v["summary"], "summary", PAGE)

over = to_local(v["over_time"], tz)
left, right = st.columns(2)
with left:
    fig = px.line(over, x="bucket", y=["error_rate", "blocked_rate"], markers=True,
                  title="Error and guard-block rate",
                  labels=mon.labels(value="Share of calls"))
    fig.update_yaxes(tickformat=".1%")
    mon.chart(fig, key="errors.rate",
              names={"error_rate": "Errors", "blocked_rate": "Blocked by guards"})
with right:
    fig = px.bar(over, x="bucket", y=["breaker_openings", "fallbacks"], barmode="group",
                 title="Breaker openings and fallbacks", labels=mon.labels(value="Calls"))
    mon.chart(fig, key="errors.breaker",
              names={"breaker_openings": "Breaker openings", "fallbacks": "Fallbacks"})
mon.download(v["over_time"], "over-time", PAGE)

left, right = st.columns(2)
with left:
    by_class = v["by_class"]
    named = mon.in_words(by_class.assign(error_class=by_class["error_class"].fillna("unknown")))
    mon.chart(px.bar(named, x="error_class", y="calls", color="status",
                     title="Errors by class", labels=mon.labels()), key="errors.by_class")
    mon.download(by_class, "by-class", PAGE)
with right:
    by_model = v["by_model"]
    fig = px.bar(by_model, x="model", y="errors", color="provider",
                 title="Errors by provider and model", labels=mon.labels())
    mon.chart(fig, key="errors.by_model")
    mon.download(by_model, "by-model", PAGE)
mon.table(by_model)

st.subheader("Recent errors")
recent = v["recent"]
mon.table(to_local(recent, tz))
mon.download(recent, "recent-errors", PAGE)
mon.call_picker(recent, PAGE, label="Inspect an error")

st.subheader("Refused at the gateway")
st.caption("Requests the API gateway turned away before calling a model: a missing, wrong, "
           "expired or revoked key, a key not allowed that model, a body too large or not "
           "valid, a key over its rate limit. They are not counted as calls above.")
refused = v["refused"]
if refused.empty:
    st.info("No requests were refused in this period.")
else:
    by_reason = v["refused_by_reason"]
    st.metric("Refused requests", f"{int(by_reason['requests'].sum()):,}")
    fig = px.bar(mon.in_words(by_reason), x="error_class", y="requests",
                 title="Refused requests by reason",
                 labels=mon.labels(requests="Requests", error_class="Reason"))
    fig.update_yaxes(rangemode="tozero", dtick=max(1, int(by_reason["requests"].max()) // 5))
    mon.chart(fig, key="errors.refused")
    mon.table(to_local(refused, tz))  # in words (mon.table); the CSV keeps the codes
    mon.download(refused, "refused", PAGE)

mon.footer(f, tz, PAGE)
