"""Shared pieces of the three Monitoring pages: filters (mirrored into the URL),
cached readers over core.telemetry.queries, alert banners and rules, the
demo-traffic buttons, CSV export and the one-call drill-down.

Pages stay thin: they pick which views to show and how to chart them.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, time, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from app import eval_widgets, handles
from app.state import keep
from app.widgets import end_page, format_cost, format_ms
from core.guards.describe import report_sentences
from core.telemetry import alerts, demo, queries
from core.telemetry.alert_models import RULE_KINDS, RULE_THRESHOLDS
from core.telemetry.budget import daily_budget_usd
from core.telemetry.filters import LIST_FIELDS, RANGE_LABELS, RANGES, Filters, to_local, zone

PREFIX = "monitor.f."
SAVED = "monitor.filters"  # plain session key: survives switching between the pages
DEFAULT_RANGE = "30d"
DEMO_CALLS = 20_000
FILTER_LABELS = {"provider": "Provider", "model": "Model", "user": "User", "tag": "Tag",
                 "prompt": "Prompt", "source": "Source", "status": "Status"}


# -- cached readers (cleared after demo load/remove and rule edits) ---------


def _db():
    return handles.services().db


@st.cache_data(ttl=30, show_spinner="Reading latency…")
def latency_view(f: Filters) -> dict[str, pd.DataFrame]:
    return queries.latency_view(_db(), f)


@st.cache_data(ttl=30, show_spinner="Reading spend…")
def cost_view(f: Filters) -> dict[str, pd.DataFrame]:
    return queries.cost_view(_db(), f)


@st.cache_data(ttl=30, show_spinner="Reading errors…")
def errors_view(f: Filters) -> dict[str, pd.DataFrame]:
    return queries.errors_view(_db(), f)


@st.cache_data(ttl=30, show_spinner=False)
def quality_view(f: Filters) -> dict[str, pd.DataFrame]:
    return queries.quality_view(_db(), f)


@st.cache_data(ttl=60, show_spinner=False)
def filter_options() -> dict[str, list[str]]:
    return queries.filter_options(_db())


@st.cache_data(ttl=30, show_spinner=False)
def has_traffic() -> bool:
    return queries.has_traffic(_db())


@st.cache_data(ttl=30, show_spinner=False)
def demo_calls() -> int:
    return demo.demo_count(_db())


@st.cache_data(ttl=60, show_spinner=False)
def alert_check() -> list[alerts.Firing]:
    """Evaluate the rules (and notify new firings) at most once a minute."""
    svc = handles.services()
    alerts.ensure_default_rules(svc.db)
    url = svc.settings.alert_webhook_url
    firings, _ = alerts.check(svc.db, daily_budget_usd(svc.settings, svc.db),
                              url.get_secret_value() if url else None)
    return firings


def clear_readers() -> None:
    """Forget every cached monitoring figure (after the log or the rules change)."""
    for reader in (latency_view, cost_view, errors_view, quality_view, filter_options,
                   has_traffic, demo_calls, alert_check):
        reader.clear()
    handles.spend_today.clear()


# -- filters ----------------------------------------------------------------


def viewer_zone() -> str:
    """The browser's IANA time zone when Streamlit knows it, else UTC."""
    try:
        return st.context.timezone or "UTC"
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        return "UTC"


def _from_url() -> dict:
    qp = st.query_params
    out: dict = {}
    if qp.get("range") in (*RANGES, "custom"):
        out["range"] = qp.get("range")
    for key in ("start", "end"):
        with contextlib.suppress(ValueError):
            out[key] = date.fromisoformat(qp.get(key, ""))
    for name in LIST_FIELDS:
        values = [v for raw in qp.get_all(name) for v in raw.split(",") if v]
        if values:
            out[name] = values
    return out


FILTER_KEYS = ("range", "start", "end", *LIST_FIELDS)


def _defaults() -> dict:
    today = date.today()
    return {"range": DEFAULT_RANGE, "start": today - timedelta(days=7), "end": today,
            **{name: [] for name in LIST_FIELDS}}


def current_filters() -> dict:
    """The one filter state every Monitoring page shares: the URL when it names
    filters (a shared link, or the address bar), else this browser session's,
    else the defaults."""
    url = _from_url()
    saved = st.session_state.get(SAVED)
    if url:
        values = {**_defaults(), **url}
    elif saved:
        values = dict(saved)
    else:
        values = _defaults()
    st.session_state[SAVED] = values
    return values


def _on_filter_change() -> None:
    """A filter widget changed: it becomes the shared state (and the URL) before
    the page runs, so the URL's older values do not win it back."""
    values = dict(st.session_state.get(SAVED) or _defaults())
    for key in FILTER_KEYS:
        if PREFIX + key in st.session_state:
            values[key] = st.session_state[PREFIX + key]
    st.session_state[SAVED] = values
    _write_url(values)


def _seed_widgets(values: dict, options: dict[str, list[str]]) -> None:
    """Put the shared state into each filter widget. Always assigned, not only when
    missing: a value left over from another page's widget of the same key is
    widget state that a new page's widget does not pick up (the bug that reset
    the range around the Cost page)."""
    for key in FILTER_KEYS:
        value = values.get(key, [] if key in LIST_FIELDS else None)
        if key in LIST_FIELDS:
            # A shared link may name a value this install has not seen; keep it.
            options[key] = sorted(set(options.get(key, [])) | set(value))
        st.session_state[PREFIX + key] = value


def _write_url(values: dict) -> None:
    params: dict[str, str | list[str]] = {"range": values["range"]}
    if values["range"] == "custom":
        params["start"], params["end"] = values["start"].isoformat(), values["end"].isoformat()
    for name in LIST_FIELDS:
        if values[name]:
            params[name] = list(values[name])
    call = st.query_params.get("call")
    if call:
        params["call"] = call
    if {k: st.query_params.get_all(k) for k in st.query_params} != {
        k: (v if isinstance(v, list) else [v]) for k, v in params.items()
    }:
        st.query_params.from_dict(params)


def filter_sidebar() -> Filters:
    """The filter widgets (sidebar); returns the Filters they describe."""
    options = dict(filter_options())
    values = current_filters()
    _seed_widgets(values, options)
    tz = zone(viewer_zone())
    with st.sidebar:
        st.markdown("**Filters** (shared by Latency, Cost and Errors, and kept in the address)")
        span = st.selectbox(
            "Time range", [*RANGES, "custom"], key=PREFIX + "range",
            format_func=lambda k: RANGE_LABELS.get(k, "Custom dates"),
            on_change=_on_filter_change,
        )
        if span == "custom":
            st.date_input("From (local date)", key=PREFIX + "start", on_change=_on_filter_change)
            st.date_input("To (local date, inclusive)", key=PREFIX + "end",
                          on_change=_on_filter_change)
        for name in LIST_FIELDS:
            st.multiselect(FILTER_LABELS[name], options.get(name, []), key=PREFIX + name,
                           on_change=_on_filter_change,
                           format_func=(lambda v: STATUS_WORDS.get(v, v)) if name == "status"
                           else str)
    values = {k: st.session_state[PREFIX + k] for k in FILTER_KEYS}
    st.session_state[SAVED] = values
    _write_url(values)
    lists = {name: tuple(values[name]) for name in LIST_FIELDS}
    if span == "custom":
        start_d, end_d = values["start"], values["end"]
        if end_d < start_d:
            st.sidebar.error("The end date is before the start date; showing the start date only.")
            end_d = start_d
        start = datetime.combine(start_d, time.min, tzinfo=tz)
        end = datetime.combine(end_d + timedelta(days=1), time.min, tzinfo=tz)
        return Filters(start=start, end=end, **lists)
    return Filters.last(span, **lists)


# -- page frame -------------------------------------------------------------


def page_header(title: str, page: str) -> tuple[Filters, str]:
    """Title, filters, alert banners and the empty state. Stops the page when
    there is no traffic yet. Returns the filters and the viewer's zone."""
    st.title(title)
    if not has_traffic():
        empty_state(page)
        end_page()
    f = filter_sidebar()
    alert_banners()
    alert_panel(page)
    tz = viewer_zone()
    local_start = to_local(pd.DataFrame({"t": [f.start, f.end]}), tz)["t"]
    st.caption(
        f"{local_start.iloc[0]:%Y-%m-%d %H:%M} → {local_start.iloc[1]:%Y-%m-%d %H:%M} "
        f"({tz}). Figures come from the call log; demo rows carry source = demo."
    )
    return f, tz


def empty_state(page: str) -> None:
    st.info(
        "No traffic yet. Every call made in the Chat playground (or with `python -m core.cli "
        "chat`) appears here. To look around first, load demo traffic: synthetic calls over "
        "the past 30 days, labelled source = demo, removable in one click."
    )
    if st.button("Load demo traffic", key=f"{page}.load_demo", type="primary",
                 icon=":material/dataset:"):
        load_demo()


def load_demo() -> None:
    with st.spinner(f"Writing {DEMO_CALLS:,} demo calls…"):
        result = demo.generate_demo(_db(), DEMO_CALLS, seed=None)
    clear_readers()
    st.session_state["monitor.flash"] = f"Loaded {result.calls:,} demo calls."
    st.rerun()


def demo_controls(page: str) -> None:
    """The sidebar's demo buttons: remove exactly the demo rows, or add more."""
    n = demo_calls()
    with st.sidebar:
        if flash := st.session_state.pop("monitor.flash", None):
            st.success(flash)
        if n:
            st.caption(f"{n:,} demo calls (source = demo) are in the log.")
            if st.button("Remove demo traffic", key=f"{page}.remove_demo",
                         icon=":material/delete_sweep:"):
                removed = demo.remove_demo(_db())
                clear_readers()
                st.session_state["monitor.flash"] = f"Removed {removed:,} demo calls."
                st.rerun()
        elif st.button("Load demo traffic", key=f"{page}.add_demo", icon=":material/dataset:"):
            load_demo()


# -- alerts -----------------------------------------------------------------


def alert_banners() -> None:
    for firing in alert_check():
        st.error(f"**Alert: {firing.rule_name}.** {firing.message}", icon=":material/warning:")


RULES_OPEN = "monitor.rules.open"


def _rule_saved(message: str) -> None:
    clear_readers()
    st.session_state["monitor.rules.flash"] = message
    st.session_state[RULES_OPEN] = True
    st.rerun()


def _rule_note(rule, budget: float | None) -> str:
    """What the rule watches, in a sentence with its own numbers."""
    x = f"{rule.threshold:,.6g}"
    n = f"{int(rule.window_minutes):,}"
    note = {
        "error_rate": f"Fires when more than {x}% of calls fail over the last {n} minutes.",
        "p95_latency": f"Fires when the p95 latency is above {x} ms over the last {n} minutes.",
        "user_spend": f"Fires when one user spends more than ${x} over the last {n} minutes.",
        "tag_spend": f"Fires when one tag spends more than ${x} over the last {n} minutes.",
        "daily_budget": f"Fires when today's spend (UTC) passes {x}% of the daily budget.",
    }.get(rule.kind, RULE_KINDS.get(rule.kind, "") + ".")
    if rule.kind == "daily_budget" and not budget:
        note += " Quiet until a daily budget is set (Operations → Budgets)."
    return note


def _rule_editor(rule, page: str, budget: float | None) -> None:
    """One rule as a small form: name, threshold, window and on/off, all editable."""
    svc = handles.services()
    base = f"{page}.rule.{rule.id}"
    with st.form(base):
        cols = st.columns([4, 2, 2, 1])
        name = cols[0].text_input("Name", rule.name, key=f"{base}.name")
        threshold = cols[1].number_input(
            RULE_THRESHOLDS.get(rule.kind, "Threshold"), min_value=0.0,
            value=float(rule.threshold), key=f"{base}.threshold",
        )
        daily = rule.kind == "daily_budget"
        window = cols[2].number_input(
            "Over the last (minutes)", min_value=1, value=int(rule.window_minutes), step=5,
            key=f"{base}.window", disabled=daily,
            help="Today (UTC) for the daily-budget rule." if daily else None,
        )
        enabled = cols[3].checkbox("On", rule.enabled, key=f"{base}.on")
        st.caption(_rule_note(rule, budget))
        left, right = st.columns([1, 5])
        save = left.form_submit_button("Save rule")
        delete = right.form_submit_button("Delete rule")
    if save:
        try:
            alerts.save_rule(svc.db, rule_id=rule.id, name=name, kind=rule.kind,
                             threshold=threshold, window_minutes=int(window), enabled=enabled)
        except ValueError as err:
            st.error(f"The rule was not saved. {err}")
        else:
            _rule_saved(f"Rule '{name.strip()}' saved.")
    if delete:
        alerts.delete_rule(svc.db, rule.id)
        _rule_saved(f"Rule '{rule.name}' deleted.")


def alert_panel(page: str) -> None:
    """The alert rules, each editable, with a form for a new one, recent
    notifications and the webhook's state. Drawn under the page title."""
    svc = handles.services()
    rules = alerts.list_rules(svc.db)
    on = sum(r.enabled for r in rules)
    firing = len(alert_check())
    label = (f"Alert rules · {on} of {len(rules)} on · "
             + (f"{firing} firing" if firing else "none firing"))
    flash = st.session_state.pop("monitor.rules.flash", None)
    # Open once the person has saved something here, and from then on: an `expanded` that
    # flips back to False closes the panel and hides a refusal shown inside it.
    with st.expander(label, icon=":material/notifications:",
                     expanded=bool(flash) or st.session_state.get(RULES_OPEN, False)):
        if flash:
            st.success(flash)
        hook = "set" if svc.settings.alert_webhook_url else "not set"
        budget = daily_budget_usd(svc.settings, svc.db)
        st.caption(
            "Rules are checked when a Monitoring page opens (at most once a minute) and by "
            "`python -m core.cli check-alerts` (for cron). Webhook for notifications "
            f"(TRELLIS_ALERT_WEBHOOK_URL): {hook}. Daily budget: "
            f"{f'${budget:,.2f}' if budget else 'not set (Operations → Budgets)'}."
        )
        for rule in rules:
            _rule_editor(rule, page, budget)
        if not rules:
            st.caption("No rules: add one below.")
        with st.form(f"{page}.rule.new", clear_on_submit=True):
            st.markdown("**New rule**")
            name = st.text_input("Name", key=f"{page}.rule.name")
            kind = st.selectbox("Kind", list(RULE_KINDS), key=f"{page}.rule.kind",
                                format_func=lambda k: RULE_KINDS[k][:1].upper() + RULE_KINDS[k][1:])
            threshold = st.number_input("Threshold X", min_value=0.0, value=5.0,
                                        key=f"{page}.rule.threshold")
            window = st.number_input("Window N (minutes)", min_value=1, value=60, step=5,
                                     key=f"{page}.rule.window")
            if st.form_submit_button("Add rule"):
                try:
                    alerts.save_rule(svc.db, name=name, kind=kind, threshold=threshold,
                                     window_minutes=int(window))
                except ValueError as err:
                    st.error(f"The rule was not added. {err}")
                else:
                    _rule_saved(f"Rule '{name.strip()}' added.")
        events = alerts.recent_events(svc.db, limit=20)
        if not events.empty:
            st.markdown("**Recent notifications**")
            shown = to_local(events, viewer_zone()).rename(columns={
                "fired_at": "When", "rule": "Rule", "subject": "User or tag", "value": "Value",
                "threshold": "Threshold", "message": "What happened", "delivery": "Webhook"})
            st.dataframe(tidy(shown), hide_index=True)


# -- export, charts, drill-down ---------------------------------------------


#: Column names -> words with units, for chart axes, legends and table headers.
LABELS: dict[str, str] = {
    "bucket": "Time (your zone)", "calls": "Calls", "ok_calls": "Successful calls",
    "p50_ms": "p50 latency (ms)", "p95_ms": "p95 latency (ms)", "p99_ms": "p99 latency (ms)",
    "ttft_p50_ms": "p50 time to first token (ms)", "ttft_p95_ms": "p95 time to first token (ms)",
    "ttft_p99_ms": "p99 time to first token (ms)", "tokens_per_s": "Output tokens per second",
    "lo_ms": "From (ms)", "hi_ms": "To (ms)", "id": "Call", "created_at": "When (your zone)",
    "source": "Source", "user_id": "User", "provider": "Provider", "model": "Model",
    "prompt_name": "Prompt", "prompt_version": "Version", "prompt": "Prompt version",
    "version": "Prompt version", "status": "Status", "error_class": "Error class",
    "error_message": "What went wrong", "latency_ms": "Latency (ms)",
    "ttft_ms": "Time to first token (ms)", "input_tokens": "Input tokens",
    "output_tokens": "Output tokens", "cost_usd": "Cost (USD)", "retries": "Retries",
    "fallback_from": "Fallback from", "priced_calls": "Calls with a known price",
    "spend_usd": "Spend (USD)", "saved_usd": "Saved by the cache (USD)",
    "priced_tokens": "Tokens with a known price", "cache_hits": "Cache hits",
    "unknown_cost_calls": "Calls with no known price", "cost_per_call_usd": "Cost per call (USD)",
    "cost_per_1k_tokens_usd": "Cost per 1K tokens (USD)", "tag": "Tag", "errors": "Errors",
    "blocked": "Blocked by guards", "fallbacks": "Fallbacks",
    "breaker_openings": "Breaker openings", "error_rate": "Error rate",
    "blocked_rate": "Guard-block rate", "ups": "Thumbs up", "downs": "Thumbs down",
    "up_rate": "Thumbs-up rate", "variable": "", "duration_ms": "Duration (ms)",
    "start_ms": "Start (ms)", "name": "Stage", "requests": "Requests",
    "http_status": "HTTP status", "api_key": "API key (name)", "tags": "Tags",
}

#: Pipeline stage -> words, for a call's trace.
STAGE_NAMES = {
    "validate": "Check the request", "limits": "Limits and budgets",
    "input_guards": "Input guards", "render": "Render the prompt", "cache": "Cache lookup",
    "retrieve": "Retrieve documents", "context_guards": "Document guards",
    "route": "Pick the model", "provider": "Model call", "output_guards": "Output guards",
    "cache_store": "Store in cache", "record": "Record the call",
}

#: Call status -> words, for tables, charts, filters and the drill-down.
STATUS_WORDS = {"ok": "answered", "cached": "answered from cache", "degraded": "answered, degraded",
                "error": "failed", "blocked": "blocked by a guard", "cancelled": "stopped",
                "refused": "refused at the gateway"}

#: Error class -> a few words, for charts, tables and the drill-down (CSV keeps the code).
ERROR_CLASSES = {
    "auth": "key refused", "bad_request": "request refused", "budget": "budget spent",
    "cancelled": "stopped by the reader", "circuit_open": "breaker open",
    "connection": "no connection", "context_length": "too long for the model",
    "guard_block": "blocked by a guard", "guard_error": "guard failed",
    "internal": "Trellis error", "rate_limit": "rate limited", "schema": "wrong answer format",
    "server": "provider error", "stream_cut": "stream cut off", "timeout": "timed out",
    "unavailable": "provider unavailable", "validation": "invalid request",
    # requests the gateway refused before the engine (api/refusals.py)
    "invalid_api_key": "API key missing, wrong, expired or revoked",
    "model_not_allowed": "key not allowed that model", "prompt_not_allowed":
    "key not allowed that prompt", "model_not_found": "unknown model",
    "request_too_large": "body too large", "invalid_json": "body not valid JSON",
    "invalid_value": "field not valid", "unsupported_value": "value not supported",
    "rate_limit_exceeded": "key over its rate limit",
}


def in_words(df: pd.DataFrame) -> pd.DataFrame:
    """Status and error-class codes as words (for people; CSV downloads keep the codes)."""
    out = df.copy()
    for col, words in (("status", STATUS_WORDS), ("error_class", ERROR_CLASSES)):
        if col in out.columns:
            out[col] = [words.get(v, v) if isinstance(v, str) else v for v in out[col]]
    return out


def labels(**extra: str) -> dict[str, str]:
    """Plotly Express `labels=`: every column in words, plus this chart's own."""
    return {**LABELS, **extra}


def _digits(col: str) -> str:
    if col.endswith("_rate"):
        return "{:.1%}"
    if col.endswith("_usd"):
        return "${:,.4f}"
    if col.endswith("_ms") or col == "tokens_per_s":
        return "{:,.0f}"
    if col.endswith("_version"):  # whole numbers held as floats because of gaps
        return "{:.0f}"
    return "{:,.2f}"


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """A table for people: headers in words, numbers rounded, "–" where there is no
    value (never "None" or "nan"). CSV downloads keep the raw data."""
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_float_dtype(series):
            fmt = _digits(str(col))
            out[col] = [("–" if pd.isna(v) else
                         (f"${v:.6f}" if fmt.startswith("$") and 0 < abs(v) < 0.01
                          else fmt.format(v))) for v in series]
        elif pd.api.types.is_integer_dtype(series) and series.isna().any():
            out[col] = [("–" if pd.isna(v) else f"{int(v):,}") for v in series]
        elif pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[col] = [("–" if v is None or (isinstance(v, float) and pd.isna(v))
                         or v in ("", "None") else v) for v in series.astype(object)]
    return out.rename(columns={c: LABELS.get(str(c), str(c)) for c in out.columns})


def table(df: pd.DataFrame, **kwargs) -> None:
    """`tidy(df)` as a table, whole numbers with thousands separators, codes in words."""
    shown = tidy(in_words(df))
    config = {c: st.column_config.NumberColumn(c, format="localized")
              for c in shown.columns if pd.api.types.is_integer_dtype(shown[c])
              and c != LABELS["id"]}
    st.dataframe(shown, hide_index=True, column_config=config, **kwargs)


def version_label(names: pd.Series, versions: pd.Series) -> list[str]:
    """"support-answer v2" per row; "(no prompt)" where a call used none."""
    return [
        "(no prompt)" if n is None or (isinstance(n, float) and pd.isna(n))
        else (f"{n} v{int(v)}" if pd.notna(v) else str(n))
        for n, v in zip(names.astype(object), versions.astype(object), strict=True)
    ]


def ms_axis(fig, lo: float, hi: float, axis: str = "x") -> None:
    """A logarithmic milliseconds axis with ticks people read: 5 ms, 100 ms, 2 s."""
    ticks = [m * 10 ** e for e in range(0, 7) for m in (1, 2, 5)]
    shown = [t for t in ticks if lo / 1.5 <= t <= hi * 1.5] or [lo, hi]
    text = [format_ms(t).replace(".0 s", " s") if t >= 10_000 else
            (f"{t / 1000:g} s" if t >= 1000 else f"{t:g} ms") for t in shown]
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    update(type="log", tickvals=shown, ticktext=text)


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def download(df: pd.DataFrame, name: str, page: str) -> None:
    """A CSV download button for exactly the data behind a chart or table."""
    st.download_button(
        f"CSV: {name}", csv_bytes(df), file_name=f"trellis-{page}-{name}.csv", mime="text/csv",
        key=f"{page}.csv.{name}", icon=":material/download:",
    )


def chart(fig, key: str, *, names: dict[str, str] | None = None) -> None:
    """Draw a figure the same way everywhere: title at the left, a one-line legend
    at the top right (so it does not squeeze the plot). `names`: short words for
    the traces of a wide-form chart, which are named after their columns."""
    if names:
        fig.for_each_trace(lambda t: t.update(name=names.get(t.name, t.name)))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 70, "b": 10}, legend_title_text="",
                      title={"x": 0, "xanchor": "left"},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0,
                              "xanchor": "right", "x": 1})
    st.plotly_chart(fig, key=key)


def _url_call() -> int | None:
    wanted = st.query_params.get("call", "")
    return int(wanted) if wanted.isdigit() else None


def _call_changed(key: str) -> None:
    """The chosen call goes into the address before the page runs, so the
    address never wins back a choice the viewer changed or cleared."""
    chosen = st.session_state.get(key)
    if chosen is None:
        st.query_params.pop("call", None)
    else:
        st.query_params["call"] = str(int(chosen))


def call_picker(df: pd.DataFrame, page: str, label: str = "Inspect a call") -> None:
    """A selector over a table's calls; the chosen call's detail opens below it and
    its id goes into the address (`?call=<id>`), so a shared link opens the same
    call. The choice is kept across page switches (app/state.keep)."""
    raw = st.query_params.get("call", "")
    wanted = int(raw) if raw.isdigit() else None
    row_of = {int(r.id): r for r in df.itertuples()} if not df.empty else {}
    key = f"{page}.call"
    if wanted in row_of and st.session_state.get(key) != wanted:
        st.session_state[key] = wanted  # a link names the call: it wins
    choice = None
    if row_of:
        choice = st.selectbox(
            label, list(row_of), index=None, placeholder="Choose a call id…",
            key=keep(key, None, options=list(row_of)), on_change=_call_changed, args=(key,),
            format_func=lambda i: f"#{i} · {row_of[i].model} · "
            f"{STATUS_WORDS.get(row_of[i].status, row_of[i].status)} · "
            f"{format_ms(row_of[i].latency_ms)}",
        )
    if choice is not None:
        if wanted != int(choice):
            st.query_params["call"] = str(int(choice))
        st.caption("This page's address now opens this call: copy it to share the call.")
        call_detail(int(choice), page)
    elif wanted is not None and wanted not in row_of:
        # A link to a call outside this table (another filter, an older call).
        st.caption(f"Call #{wanted}, opened from the link.")
        call_detail(wanted, page)


@st.cache_data(ttl=30, show_spinner=False)
def _detail(call_id: int) -> dict | None:
    return queries.call_detail(_db(), call_id)


def _messages(text: str | None) -> str:
    if not text:
        return "(nothing stored)"
    try:
        msgs = json.loads(text)
        return "\n\n".join(f"**{m.get('role', '?')}:** {m.get('content', '')}" for m in msgs)
    except (ValueError, TypeError, AttributeError):
        return text


def call_detail(call_id: int, page: str) -> None:
    """One call: figures, spans, stored (redacted) text, guard report, retries, fallback."""
    detail = _detail(call_id)
    if detail is None:
        st.warning(f"There is no call #{call_id} in the log: it may have been removed "
                   "(retention, or the demo traffic was removed). Check the link's number.")
        return
    c = detail["call"]
    tz = viewer_zone()
    with st.container(border=True):
        when = to_local(pd.DataFrame({"t": [c["created_at"]]}), tz)["t"].iloc[0]
        st.markdown(f"**Call #{c['id']}** · {c['provider']}/{c['model']} · {when:%Y-%m-%d %H:%M:%S}"
                    f" ({tz}) · source {c['source']} · user {c['user_id'] or 'anonymous'}")
        m = st.columns(6)
        m[0].metric("Status", STATUS_WORDS.get(c["status"], c["status"]))
        m[1].metric("Latency", format_ms(c["latency_ms"]))
        m[2].metric("Time to first token", format_ms(c["ttft_ms"]),
                    help=None if c["ttft_ms"] is not None else "Not streamed: no first token.")
        m[3].metric("Tokens", f"{c['input_tokens']} → {c['output_tokens']}")
        m[4].metric("Cost", format_cost(c["cost_usd"]))
        m[5].metric("Retries", c["retries"])
        if c["fallback_from"]:
            st.info(f"Served by fallback: the first choice was {c['fallback_from']}.")
        if c["error_message"]:
            kind = ERROR_CLASSES.get(c["error_class"] or "", c["error_class"] or "unknown")
            st.error(f"{c['error_message']} (kind of error: {kind})")
        spans = detail["spans"]
        if spans.empty:
            st.caption("No stage spans were recorded for this call.")
        else:
            named = spans.assign(name=[STAGE_NAMES.get(n, n) for n in spans["name"]])
            fig = px.bar(named, y="name", x="duration_ms", base="start_ms", color="status",
                         orientation="h", title="Stages of this call (ms from its start)",
                         labels=labels(duration_ms="Milliseconds from the start of the call"))
            fig.update_yaxes(autorange="reversed")
            chart(fig, key=f"{page}.call.{call_id}.spans")
            download(spans.drop(columns="detail"), f"call-{call_id}-spans", page)
        left, right = st.columns(2)
        left.markdown("**Input (as stored: redacted when input guards are on)**")
        left.markdown(_messages(c["input_text"]))
        right.markdown("**Output (as stored)**")
        right.markdown(c["output_text"] or "(no output)")
        eval_widgets.add_to_dataset(call_id, key=f"{page}.evals.{call_id}")
        st.markdown("**Guard report**")
        sentences = report_sentences(c["guard_actions"] or {})
        for sentence in sentences or ["No guard acted on this call."]:
            st.markdown(f"- {sentence}")
        if c["guard_actions"]:
            with st.expander("The exact record (for engineers)"):
                st.json(c["guard_actions"], expanded=False)
        if not detail["feedback"].empty:
            st.markdown("**Feedback**")
            table(to_local(detail["feedback"], tz))


def quality_strip(f: Filters, tz: str, page: str) -> None:
    """Thumbs-up rate over time and by model/prompt version."""
    q = quality_view(f)
    st.subheader("Quality: thumbs up")
    over, by = q["feedback_over_time"], q["feedback_by_version"]
    if by.empty:
        st.caption("No thumbs up/down on calls in this view yet.")
        return
    left, right = st.columns(2)
    with left:
        fig = px.line(to_local(over, tz), x="bucket", y="up_rate", markers=True,
                      title="Thumbs-up rate over time", labels=labels())
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
        chart(fig, key=f"{page}.quality.over_time")
        download(over, "feedback-over-time", page)
    with right:
        rated = by.assign(version=version_label(by["prompt_name"], by["prompt_version"]))
        shown = rated[["provider", "model", "version", "ups", "downs", "up_rate"]]
        st.dataframe(shown.rename(columns=LABELS), hide_index=True, column_config={
            LABELS["up_rate"]: st.column_config.ProgressColumn(
                LABELS["up_rate"], format="percent", min_value=0.0, max_value=1.0)})
        download(by, "feedback-by-version", page)


def footer(f: Filters, tz: str, page: str) -> None:
    quality_strip(f, tz, page)
    demo_controls(page)
