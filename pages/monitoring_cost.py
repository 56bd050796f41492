"""Monitoring · Cost: what does it cost? Spend over time against the budget, by
model/provider/user/tag/prompt version, unit costs, cache savings, forecast."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from app import handles
from app import monitoring as mon
from core.telemetry.budget import SPEND_BASIS, daily_budget_usd
from core.telemetry.filters import choose_bucket, to_local

PAGE = "cost"

f, tz = mon.page_header("Cost", PAGE)
v = mon.cost_view(f)
s = v["summary"].iloc[0] if not v["summary"].empty else None
fc = v["forecast"].iloc[0]
svc = handles.services()
budget = daily_budget_usd(svc.settings, svc.db)


def usd(x) -> str:
    return "–" if x is None or x != x else (f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}")


m = st.columns(6)
m[0].metric("Spend", usd(s["spend_usd"] if s is not None else 0.0))
m[1].metric("Cost per call", usd(s["cost_per_call_usd"] if s is not None else None))
m[2].metric("Cost per 1K tokens", usd(s["cost_per_1k_tokens_usd"] if s is not None else None))
m[3].metric("Cache savings", usd(s["saved_usd"] if s is not None else 0.0))
m[4].metric("Month to date (UTC)", usd(fc["month_to_date_usd"]))
m[5].metric("Month-end forecast", usd(fc["forecast_usd"]),
            help="Month to date plus the last 7 days' daily rate for the days left.")
if s is not None and s["unknown_cost_calls"]:
    st.caption(f"{int(s['unknown_cost_calls']):,} calls used a model with no known price; "
               "they are counted as calls but not in spend.")
mon.download(v["summary"], "summary", PAGE)
mon.download(v["forecast"], "forecast", PAGE)

over = to_local(v["over_time"], tz)
unit = choose_bucket(f.start, f.end)
fig = px.bar(over, x="bucket", y="spend_usd", title=f"Spend per {unit}",
             labels=mon.labels(spend_usd=f"Spend per {unit} (USD)"))
if budget and unit == "day":
    fig.add_hline(y=budget, line_dash="dash", line_color="red",
                  annotation_text=f"daily budget ${budget:,.2f}")
    if (not f.source or "demo" in f.source) and mon.demo_calls():
        st.caption(f"The bars include demo traffic unless Source leaves it out; the budget "
                   f"line does not. {SPEND_BASIS}")
elif not budget:
    st.caption(
        "No daily budget set (add a global daily budget on the Operations page), "
        "so no budget line."
    )
mon.chart(fig, key="cost.over_time")
mon.download(v["over_time"], "over-time", PAGE)

tabs = st.tabs(["By model", "By provider", "By prompt version", "Top users", "Top tags"])
for tab, key, label, x in (
    (tabs[0], "by_model", "model", "model"),
    (tabs[1], "by_provider", "provider", "provider"),
    (tabs[2], "by_prompt", "prompt version", "prompt"),
    (tabs[3], "by_user", "user", "user_id"),
    (tabs[4], "by_tag", "tag", "tag"),
):
    with tab:
        df = v[key]
        if key == "by_prompt":
            df = df.assign(prompt=mon.version_label(df["prompt_name"], df["prompt_version"]))
        if key == "by_user":
            df = df.assign(user_id=df["user_id"].fillna("(anonymous)"))
        top = df.head(15)
        mon.chart(px.bar(top, x=x, y="spend_usd", title=f"Spend by {label}",
                         labels=mon.labels(prompt="Prompt version")),
                  key=f"cost.{key}")
        mon.table(df)
        mon.download(v[key], key.replace("_", "-"), PAGE)

st.subheader("Cache savings")
fig = px.bar(over, x="bucket", y="saved_usd", title="Saved by cache hits, at list price",
             labels=mon.labels(saved_usd=f"Saved per {unit} (USD)"))
mon.chart(fig, key="cost.saved")

mon.footer(f, tz, PAGE)
