"""The three Monitoring pages through AppTest, on demo data: charts present,
filters change the figures (and reach the URL), CSV downloads hold exactly
the query's data, an alert banner shows when a rule fires, and the empty
state loads and removes demo traffic."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from app.monitoring import csv_bytes
from core.services import Services
from core.telemetry import alerts, queries
from core.telemetry.demo import demo_count, generate_demo
from core.telemetry.filters import Filters
from tests.conftest import ROOT

PAGES = {"latency": "monitoring_latency.py", "cost": "monitoring_cost.py",
         "errors": "monitoring_errors.py"}


def _app(page: str) -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "pages" / PAGES[page]), default_timeout=120)


@pytest.fixture
def demo_db(services: Services):
    generate_demo(services.db, 3000, seed=3, span_fraction=0.2)
    return services.db


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _qp(at: AppTest, key: str) -> list[str]:
    value = at.query_params.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _download_matches(at: AppTest, key: str, expected: bytes, file_name: str) -> bool:
    url = at.get_by_key(key).proto.url if hasattr(at, "get_by_key") else None
    if url is None:
        url = next(b.proto.url for b in at.get("download_button") if b.proto.id.endswith(key))
    return url.split("/")[-1].split(".")[0] == _calculate_file_id(expected, "text/csv", file_name)


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_draws_its_charts_from_demo_data(demo_db, page):
    at = _app(page)
    at.run()
    assert not at.exception
    charts = _charts(at)
    assert len(charts) >= 5
    assert all(c["data"] for c in charts[:4])
    assert len(at.get("download_button")) >= 5
    assert _qp(at, "range") == ["30d"]


def test_filters_change_the_figures_and_mirror_into_the_url(demo_db):
    at = _app("latency")
    at.run()
    before = _metric(at, "Calls")
    at.multiselect(key="monitor.f.provider").set_value(["anthropic"]).run()
    assert not at.exception
    after = _metric(at, "Calls")
    expected = queries.latency_summary(demo_db, Filters.last("30d", provider="anthropic"))
    assert after == f"{int(expected.iloc[0]['calls']):,}" != before
    assert _qp(at, "provider") == ["anthropic"]


def test_a_shared_link_opens_with_its_filters(demo_db):
    at = _app("errors")
    at.query_params["range"] = "7d"
    at.query_params["status"] = "error"
    at.run()
    assert not at.exception
    assert at.selectbox(key="monitor.f.range").value == "7d"
    assert at.multiselect(key="monitor.f.status").value == ["error"]
    f = Filters.last("7d", status="error")
    calls = queries.errors_view(demo_db, f)["summary"].iloc[0]["calls"]
    assert _metric(at, "Calls") == f"{int(calls):,}"


def test_csv_download_holds_the_query_result(demo_db):
    at = _app("cost")
    at.run()
    assert not at.exception
    # Recompute the same view; retry once if a minute boundary passed in between.
    for _ in range(2):
        view = queries.cost_view(demo_db, Filters.last("30d"))
        if _download_matches(at, "cost.csv.by-model", csv_bytes(view["by_model"]),
                             "trellis-cost-by-model.csv"):
            break
    else:
        pytest.fail("the CSV download does not hold the by-model query result")


def test_an_alert_banner_shows_when_a_rule_fires(demo_db):
    at = _app("errors")
    at.run()
    assert not any("Alert:" in e.value for e in at.error)
    alerts.save_rule(demo_db, name="Any error this month", kind="error_rate", threshold=0.5,
                     window_minutes=60 * 24 * 31)
    at = _app("errors")
    at.run()
    assert not at.exception
    banners = [e.value for e in at.error if "Alert: Any error this month" in e.value]
    assert len(banners) == 1 and "Error rate" in banners[0]


def test_drill_down_shows_one_call(demo_db):
    at = _app("latency")
    at.run()
    slow_id = at.selectbox(key="latency.call").options[0]
    at.selectbox(key="latency.call").set_value(int(slow_id.split(" ")[0][1:])).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Input (as stored" in text and "Guard report" in text


def test_empty_state_loads_and_removes_demo_traffic(services: Services):
    at = _app("cost")
    at.run()
    assert any("No traffic yet" in i.value for i in at.info)
    assert not _charts(at)
    at.button(key="cost.load_demo").click().run()
    assert not at.exception
    assert demo_count(services.db) > 0
    assert _charts(at)
    at.button(key="cost.remove_demo").click().run()
    assert not at.exception
    assert demo_count(services.db) == 0
    assert any("No traffic yet" in i.value for i in at.info)


def test_filter_options_come_from_the_log(demo_db):
    opts = queries.filter_options(demo_db)
    assert "demo" in opts["source"]
    assert Filters.last("1h").end - Filters.last("1h").start == timedelta(hours=1)


def _main() -> AppTest:
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)


def _filters(at: AppTest) -> tuple[str, list[str]]:
    return at.selectbox(key="monitor.f.range").value, at.multiselect(key="monitor.f.provider").value


@pytest.mark.parametrize("clear_url", [False, True], ids=["url-kept", "url-cleared"])
def test_filters_are_kept_into_and_out_of_cost(demo_db, clear_url):
    """Bug 2: one filter state for all monitoring pages. Sidebar navigation may or
    may not carry the address's query string; either way the filters stay."""
    at = _main()
    at.switch_page("../pages/monitoring_latency.py").run()
    at.selectbox(key="monitor.f.range").set_value("7d").run()
    at.multiselect(key="monitor.f.provider").set_value(["anthropic"]).run()
    for page in ("monitoring_cost.py", "monitoring_errors.py", "monitoring_cost.py",
                 "monitoring_latency.py"):
        if clear_url:
            at.query_params.clear()
        at.switch_page(f"../pages/{page}").run()
        assert not at.exception, page
        assert _filters(at) == ("7d", ["anthropic"]), page
        assert _qp(at, "range") == ["7d"] and _qp(at, "provider") == ["anthropic"], page
    # A change made on Cost is what Errors shows next.
    at.switch_page("../pages/monitoring_cost.py").run()
    at.selectbox(key="monitor.f.range").set_value("24h").run()
    at.switch_page("../pages/monitoring_errors.py").run()
    assert _filters(at) == ("24h", ["anthropic"])


def test_a_call_link_opens_the_drill_down(demo_db):
    """`?call=<id>` opens that call; choosing a call puts its id in the address."""
    slowest = queries.latency_view(demo_db, Filters.last("30d"))["slowest"]
    call_id = int(slowest["id"].iloc[1])
    at = _app("latency")
    at.query_params["call"] = str(call_id)
    at.run()
    assert not at.exception
    assert at.selectbox(key="latency.call").value == call_id
    assert any(f"**Call #{call_id}**" in m.value for m in at.markdown)

    other = int(slowest["id"].iloc[2])
    at.selectbox(key="latency.call").set_value(other).run()
    assert _qp(at, "call") == [str(other)]
    assert any(f"**Call #{other}**" in m.value for m in at.markdown)

    # A link to a call that is not in the page's table still opens it.
    error_id = int(queries.errors_view(demo_db, Filters.last("30d"))["recent"]["id"].iloc[-1])
    at = _app("latency")
    at.query_params["call"] = str(error_id)
    at.run()
    assert not at.exception
    assert any(f"**Call #{error_id}**" in m.value for m in at.markdown)


def test_default_alert_rules_are_there_and_editable(demo_db):
    """A fresh install has the three default rules, near the top of the page, and
    each can be edited (not only switched off or deleted)."""
    at = _app("errors")
    at.run()
    assert not at.exception
    rules = alerts.list_rules(demo_db)
    assert {r.kind for r in rules} == {"error_rate", "p95_latency", "daily_budget"}
    panel = next(e for e in at.expander if e.label.startswith("Alert rules"))
    assert "3 of 3 on" in panel.label
    p95 = next(r for r in rules if r.kind == "p95_latency")
    at.number_input(key=f"errors.rule.{p95.id}.threshold").set_value(2500.0)
    at.number_input(key=f"errors.rule.{p95.id}.window").set_value(30)
    next(b for b in at.button if b.proto.form_id == f"errors.rule.{p95.id}"
         and b.label == "Save rule").click().run()
    assert not at.exception
    edited = next(r for r in alerts.list_rules(demo_db) if r.id == p95.id)
    assert (edited.threshold, edited.window_minutes) == (2500.0, 30)
    assert any("saved" in s.value for s in at.success)
    # Deleted defaults stay deleted.
    alerts.delete_rule(demo_db, p95.id)
    assert alerts.ensure_default_rules(demo_db) == 0
    assert p95.id not in {r.id for r in alerts.list_rules(demo_db)}


def test_the_chosen_call_is_kept_across_page_switches(demo_db):
    at = _main()
    at.switch_page("../pages/monitoring_latency.py").run()
    first = at.selectbox(key="latency.call").options[0]
    call_id = int(first.split(" ")[0][1:])
    at.selectbox(key="latency.call").set_value(call_id).run()
    at.switch_page("../pages/monitoring_cost.py").run()
    at.query_params.clear()  # sidebar navigation need not carry the address
    at.switch_page("../pages/monitoring_latency.py").run()
    assert not at.exception
    assert at.selectbox(key="latency.call").value == call_id
    assert _qp(at, "call") == [str(call_id)]
    # Clearing the choice takes the call out of the address.
    at.selectbox(key="latency.call").set_value(None).run()
    assert not at.exception
    assert _qp(at, "call") == []


def test_errors_tables_and_drill_down_say_status_and_error_class_in_words(demo_db):
    """The recent-errors table showed codes (guard_block, error) where the charts had words."""
    at = _app("errors")
    at.run()
    assert not at.exception
    recent = next(df.value for df in at.dataframe if "Error class" in df.value.columns)
    assert not any("_" in str(v) for v in recent["Error class"])
    assert set(recent["Status"]) <= {"failed", "blocked by a guard", "stopped"}
    legends = {t["name"] for c in _charts(at) for t in c["data"] if t.get("name")}
    assert "error" not in legends and "blocked" not in legends
    options = at.multiselect(key="monitor.f.status").options
    assert "failed" in options and "error" not in options
    choice = at.selectbox(key="errors.call").options[0]
    assert "· failed ·" in choice or "· blocked by a guard ·" in choice


def test_alert_panel_stays_open_for_a_refusal_and_rules_read_with_their_numbers(demo_db):
    """After a save, a refused new rule collapsed the panel (its sentence hidden inside);
    each rule's note read "above x % over the last n minutes" instead of its numbers."""
    at = _app("errors")
    at.run()
    p95 = next(r for r in alerts.list_rules(demo_db) if r.kind == "p95_latency")
    at.number_input(key=f"errors.rule.{p95.id}.threshold").set_value(2500.0)
    next(b for b in at.button if b.proto.form_id == f"errors.rule.{p95.id}"
         and b.label == "Save rule").click().run()
    captions = [c.value for c in at.caption]
    assert any("p95 latency is above 2,500 ms over the last 15 minutes" in c for c in captions)
    assert not any(" x " in c or " n minutes" in c for c in captions)
    next(b for b in at.button if b.label == "Add rule").click().run()  # no name
    assert not at.exception
    panel = next(e for e in at.expander if e.label.startswith("Alert rules"))
    assert panel.proto.expanded
    assert any("Give the rule a name" in e.value for e in panel.error)


def test_refused_gateway_requests_are_listed_apart_not_counted_as_calls(demo_db, services):
    at = _app("errors")
    at.run()
    calls_before = _metric(at, "Calls")
    assert any("No requests were refused" in i.value for i in at.info)
    from api.errors import ApiError
    from api.refusals import refusal_record
    from core.access import Unauthenticated

    for err, status in ((Unauthenticated("No API key was sent; send one as 'Authorization: "
                                         "Bearer <key>'."), 401),
                        (ApiError(413, "The request body is larger than the gateway's limit.",
                                  code="request_too_large"), 413)):
        services.telemetry.record(refusal_record(err, status, uuid.uuid4().hex,
                                                 time.perf_counter(), None, None, None, False))
    at = _app("errors")
    at.run()
    assert not at.exception
    assert _metric(at, "Calls") == calls_before  # refusals are not model calls
    assert _metric(at, "Refused requests") == "2"
    tables = [t.value for t in at.dataframe]
    refused = next(t for t in tables if "HTTP status" in t.columns)
    assert sorted(refused["HTTP status"].tolist()) == [401, 413]
    assert "No API key was sent" in " ".join(refused["What went wrong"].tolist())
