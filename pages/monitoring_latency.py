"""Monitoring · Latency: is it slow? Percentiles, TTFT, throughput, the slowest calls."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app import monitoring as mon
from app.widgets import format_ms
from core.telemetry.filters import to_local

PAGE = "latency"

f, tz = mon.page_header("Latency", PAGE)
v = mon.latency_view(f)
s = v["summary"].iloc[0]

m = st.columns(6)
m[0].metric("Calls", f"{int(s['calls']):,}")
m[1].metric("p50 latency", format_ms(s["p50_ms"]))
m[2].metric("p95 latency", format_ms(s["p95_ms"]))
m[3].metric("p99 latency", format_ms(s["p99_ms"]))
m[4].metric("p50 TTFT", format_ms(s["ttft_p50_ms"]))
m[5].metric("Tokens/s (mean)", "–" if s["tokens_per_s"] != s["tokens_per_s"]
            else f"{s['tokens_per_s']:,.0f}")
st.caption("Latency figures use successful calls (ok and cached) unless a status filter is set; "
           "traffic counts every call. TTFT exists for streamed calls only.")
mon.download(v["summary"], "summary", PAGE)

over = to_local(v["over_time"], tz)
left, right = st.columns(2)
with left:
    fig = px.line(over, x="bucket", y=["p50_ms", "p95_ms", "p99_ms"], markers=True,
                  title="End-to-end latency (ms)")
    mon.chart(fig, key="latency.over_time")
with right:
    fig = px.line(over, x="bucket", y=["ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms"],
                  markers=True, title="Time to first token (ms)")
    mon.chart(fig, key="latency.ttft")
left, right = st.columns(2)
with left:
    mon.chart(px.bar(over, x="bucket", y="calls", title="Traffic (calls per bucket)"),
              key="latency.traffic")
with right:
    mon.chart(px.line(over, x="bucket", y="tokens_per_s", markers=True,
                      title="Output tokens per second (mean)"), key="latency.tps")
mon.download(v["over_time"], "over-time", PAGE)

st.subheader("By model")
by = v["by_model"]
left, right = st.columns([3, 2])
with left:
    st.dataframe(by, hide_index=True)
    mon.download(by, "by-model", PAGE)
with right:
    fig = px.bar(by, x="p95_ms", y="model", color="provider", orientation="h",
                 title="p95 latency by model (ms)")
    mon.chart(fig, key="latency.by_model")

st.subheader("Distribution")
dist = v["distribution"]
fig = px.bar(dist, x="lo_ms", y="calls", title="Latency distribution (logarithmic bins)")
fig.update_xaxes(type="log", title="latency (ms, lower bound of bin)")
mon.chart(fig, key="latency.distribution")
mon.download(dist, "distribution", PAGE)

st.subheader("Slowest calls")
slow = to_local(v["slowest"], tz)
st.dataframe(slow, hide_index=True)
mon.download(v["slowest"], "slowest-calls", PAGE)
mon.call_picker(v["slowest"], PAGE)

mon.footer(f, tz, PAGE)
