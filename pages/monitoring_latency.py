"""Monitoring · Latency: is it slow? Percentiles, TTFT, throughput, the slowest calls."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import monitoring as mon
from app.widgets import format_ms
from core.telemetry.filters import choose_bucket, to_local

PAGE = "latency"

f, tz = mon.page_header("Latency", PAGE)
v = mon.latency_view(f)
s = v["summary"].iloc[0]

m = st.columns(6)
m[0].metric("Calls", f"{int(s['calls']):,}")
m[1].metric("p50 latency", format_ms(s["p50_ms"]))
m[2].metric("p95 latency", format_ms(s["p95_ms"]))
m[3].metric("p99 latency", format_ms(s["p99_ms"]))
m[4].metric("p50 time to first token", format_ms(s["ttft_p50_ms"]))
m[5].metric("Output tokens/s (mean)", "–" if s["tokens_per_s"] != s["tokens_per_s"]
            else f"{s['tokens_per_s']:,.0f}")
st.caption("Latency figures use successful calls (ok and cached) unless a status filter is set; "
           "traffic counts every call. Time to first token exists for streamed calls only.")
mon.download(v["summary"], "summary", PAGE)

over = to_local(v["over_time"], tz)
left, right = st.columns(2)
with left:
    fig = px.line(over, x="bucket", y=["p50_ms", "p95_ms", "p99_ms"], markers=True,
                  title="End-to-end latency", labels=mon.labels(value="Latency (ms)"))
    mon.chart(fig, key="latency.over_time",
              names={"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"})
with right:
    fig = px.line(over, x="bucket", y=["ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms"],
                  markers=True, title="Time to first token",
                  labels=mon.labels(value="Time to first token (ms)"))
    mon.chart(fig, key="latency.ttft",
              names={"ttft_p50_ms": "p50", "ttft_p95_ms": "p95", "ttft_p99_ms": "p99"})
left, right = st.columns(2)
with left:
    mon.chart(px.bar(over, x="bucket", y="calls", title="Traffic",
                     labels=mon.labels(calls=f"Calls per {choose_bucket(f.start, f.end)}")),
              key="latency.traffic")
with right:
    mon.chart(px.line(over, x="bucket", y="tokens_per_s", markers=True,
                      title="Output tokens per second (mean)", labels=mon.labels()),
              key="latency.tps")
mon.download(v["over_time"], "over-time", PAGE)

st.subheader("By model")
by = v["by_model"]
mon.table(by)
mon.download(by, "by-model", PAGE)
ranked = by.sort_values("p95_ms").assign(label=lambda d: d["provider"] + "/" + d["model"])
fig = px.bar(ranked, x="p95_ms", y="label", color="provider", orientation="h",
             title="p95 latency by model",
             labels=mon.labels(p95_ms="p95 latency (ms)", label="Model"),
             height=max(260, 46 * len(ranked) + 120))
mon.chart(fig, key="latency.by_model")

st.subheader("Distribution")
dist = v["distribution"]
if dist.empty:
    st.caption("No successful calls in this view.")
else:
    fig = go.Figure(go.Bar(
        x=(dist["lo_ms"] + dist["hi_ms"]) / 2, y=dist["calls"], width=dist["hi_ms"] - dist["lo_ms"],
        customdata=dist[["lo_ms", "hi_ms"]],
        hovertemplate="%{customdata[0]:,.0f}–%{customdata[1]:,.0f} ms: %{y:,} calls<extra></extra>",
    ))
    fig.update_layout(title="How long calls took (bars on a logarithmic scale)",
                      xaxis_title="Latency", yaxis_title="Calls", bargap=0.05)
    mon.ms_axis(fig, float(dist["lo_ms"].min()), float(dist["hi_ms"].max()))
    mon.chart(fig, key="latency.distribution")
mon.download(dist, "distribution", PAGE)

st.subheader("Slowest calls")
mon.table(to_local(v["slowest"], tz))
mon.download(v["slowest"], "slowest-calls", PAGE)
mon.call_picker(v["slowest"], PAGE)

mon.footer(f, tz, PAGE)
