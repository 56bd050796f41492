"""Retries, fallbacks, breakers, rate limits, budgets and caches, driven
through the real SDKs against fault-injecting loopback servers."""

from __future__ import annotations

import threading
import time

import pytest

from core.engine import CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.reliability import BudgetExceeded, CircuitOpen, RateLimitExceeded
from core.reliability.models import Budget
from core.services import Services
from tests.servers.wire import Fault, WireServer

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.02}


@pytest.fixture
def backup():
    with WireServer(reply="Served by the backup.") as srv:
        yield srv


@pytest.fixture
def svc(wire, backup, monkeypatch):
    """OpenAI (primary) on one loopback server, Anthropic (backup) on another."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", backup.base_url)
    wire.reply = "Served by the primary."
    services = Services.build()
    services.reliability.update_config(**FAST)
    services.reliability.routes.save("main", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    yield services
    services.close()


def _req(model="openai/gpt-4o-mini", text="Hello?", **kw):
    return CompletionRequest(messages=[Message("user", text)], model=model, **kw)


def _rows(svc):
    return svc.telemetry.recent_calls(1000)


# -- retries ------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault", ["429", "500", "503", Fault("hang", delay=5), Fault("cut", cut_after=0)]
)
@pytest.mark.parametrize("stream", [False, True])
def test_transient_faults_are_retried_and_succeed(svc, wire, fault, stream):
    svc.reliability.update_config(attempt_timeout_s=0.5, **FAST)
    wire.enqueue(fault, fault)
    text = "".join(svc.engine.stream(_req())) if stream else svc.engine.chat(_req()).text
    assert text == "Served by the primary."
    assert len(wire.completion_requests()) == 3
    [row] = _rows(svc)
    assert (row.status, row.retries, row.fallback_from) == ("ok", 2, None)


def test_retry_after_is_honoured(svc, wire):
    wire.enqueue(Fault("429", retry_after=0.6))
    svc.engine.chat(_req())
    first, second = wire.completion_requests()
    assert second.time - first.time >= 0.6


@pytest.mark.parametrize("fault", ["401", "400", "context"])
def test_non_transient_errors_are_not_retried(svc, wire, fault):
    wire.default = fault
    with pytest.raises(E.TrellisError):
        svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 1
    [row] = _rows(svc)
    assert row.retries == 0 and row.status == "error"


def test_retries_stop_at_the_limit(svc, wire):
    svc.reliability.update_config(max_retries=3, **FAST)
    wire.default = "503"
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 4
    assert _rows(svc)[0].retries == 3


def test_total_deadline_bounds_the_retries(svc, wire):
    svc.engine.chat(_req())  # warm up: the SDK's first call pays its import and connect
    svc.reliability.update_config(max_retries=10, deadline_s=1.0, **FAST)
    wire.default = Fault("429", retry_after=0.4)
    before = len(wire.completion_requests())
    with pytest.raises(E.RateLimited):
        svc.engine.chat(_req())
    # Ten retries were allowed; the 1 s deadline leaves room for at most two
    # 0.4 s waits, so the call gives up after two or three attempts.
    attempts = len(wire.completion_requests()) - before
    assert 2 <= attempts <= 3
    assert _rows(svc)[0].retries == attempts - 1


def test_a_stream_cut_after_the_first_tokens_is_not_retried(svc, wire):
    wire.enqueue(Fault("cut", cut_after=2))
    with pytest.raises(E.StreamInterrupted):
        list(svc.engine.stream(_req()))
    assert len(wire.completion_requests()) == 1


def test_a_cut_stream_records_its_text_with_cost_unknown_and_charges_the_reservation(svc, wire):
    svc.reliability.budgets.save(Budget(name="daily", limit_usd=100.0))
    wire.enqueue(Fault("cut", cut_after=2))
    got: list[str] = []
    with pytest.raises(E.StreamInterrupted):
        for delta in svc.engine.stream(_req(max_tokens=50)):
            got.append(delta)
    [row] = _rows(svc)
    assert got and row.output_text == "".join(got)
    # The usage chunk never came: $0 would be a lie, so the cost is unknown...
    assert row.status == "error" and row.cost_usd is None
    # ...and the budget is charged the most the call could have cost.
    most = svc.reliability.budgets.max_cost(["openai/gpt-4o-mini"], [Message("user", "Hello?")], 50)
    [status] = svc.reliability.budgets.status()
    assert status.reserved_usd == pytest.approx(0, abs=1e-12)
    assert most > 0 and status.spent_usd == pytest.approx(most)


def test_a_reader_that_walks_away_is_logged_as_cancelled(svc, wire):
    wire.reply = "one two three four five six seven eight nine ten"
    stream = svc.engine.stream(_req())
    it = iter(stream)
    first = next(it)
    it.close()  # the browser tab closed: Streamlit stops reading
    [row] = _rows(svc)
    assert row.status == "cancelled" and row.error_class == "cancelled"
    assert row.output_text.startswith(first)
    assert svc.reliability.limiter.in_flight() == 0


# -- fallbacks ----------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_fallback_serves_when_the_primary_is_down(svc, wire, backup, stream):
    wire.default = "500"
    req = _req(model="route/main")
    text = "".join(svc.engine.stream(req)) if stream else svc.engine.chat(req).text
    assert text == "Served by the backup."
    [row] = _rows(svc)
    assert (row.status, row.provider, row.model) == ("ok", "anthropic", "claude-haiku-4-5")
    assert row.route == "main" and row.fallback_from == "openai/gpt-4o-mini"
    assert row.retries == 2  # the primary's retries
    span = {s.name: s for s in svc.telemetry.spans(row.id)}["provider"]
    deployments = [a["deployment"] for a in span.detail["attempts"]]
    assert deployments == ["openai/gpt-4o-mini"] * 3 + ["anthropic/claude-haiku-4-5"]


def test_context_too_long_falls_back_to_the_next_model(svc, wire):
    wire.default = "context"
    assert svc.engine.chat(_req(model="route/main")).text == "Served by the backup."


def test_a_bad_request_does_not_fall_back(svc, wire, backup):
    wire.default = "400"
    with pytest.raises(E.BadRequest):
        svc.engine.chat(_req(model="route/main"))
    assert backup.completion_requests() == []


def test_unknown_route_is_a_plain_error(svc):
    with pytest.raises(E.InvalidRequest) as info:
        svc.engine.chat(_req(model="route/nope"))
    assert "no route called 'nope'" in info.value.user_message
    assert len(_rows(svc)) == 1


# -- circuit breaker ----------------------------------------------------------
def test_breaker_opens_and_later_calls_pay_no_attempt(svc, wire, backup):
    svc.reliability.update_config(breaker_failures=3, breaker_cooldown_s=60, **FAST)
    wire.default = "503"
    # First request: 3 failed attempts trip the breaker, the backup serves.
    assert svc.engine.chat(_req(model="route/main")).text == "Served by the backup."
    assert len(wire.completion_requests()) == 3
    assert svc.reliability.breakers.view("openai/gpt-4o-mini").state == "open"
    for _ in range(10):
        assert svc.engine.chat(_req(model="route/main")).text == "Served by the backup."
    # The outage cost nothing more on the open deployment.
    assert len(wire.completion_requests()) == 3
    rows = _rows(svc)
    assert len(rows) == 11 and all(r.fallback_from == "openai/gpt-4o-mini" for r in rows)
    assert all(r.retries == 0 for r in rows[:10])
    # Asked directly, the open deployment answers at once with a plain error.
    with pytest.raises(CircuitOpen) as info:
        svc.engine.chat(_req())
    assert "try again in" in info.value.user_message
    assert len(wire.completion_requests()) == 3


def test_breaker_trips_mid_request_and_stops_retrying(svc, wire):
    svc.reliability.update_config(breaker_failures=2, max_retries=5, **FAST)
    wire.default = "500"
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 2


def test_half_open_lets_one_trial_through_and_recovers(svc, wire):
    svc.reliability.update_config(breaker_failures=1, breaker_cooldown_s=1.5, max_retries=0)
    wire.enqueue("500")
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())
    with pytest.raises(CircuitOpen):
        svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 1
    time.sleep(1.6)
    assert svc.engine.chat(_req()).text == "Served by the primary."
    assert svc.reliability.breakers.view("openai/gpt-4o-mini").state == "closed"
    assert svc.engine.chat(_req()).text == "Served by the primary."


def test_failed_trial_reopens_the_breaker(svc, wire):
    svc.reliability.update_config(breaker_failures=1, breaker_cooldown_s=1.5, max_retries=0)
    wire.default = "500"
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())
    time.sleep(1.6)
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())  # the trial
    view = svc.reliability.breakers.view("openai/gpt-4o-mini")
    assert view.state == "open" and view.opened_count == 2
    with pytest.raises(CircuitOpen):
        svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 2


def test_breaker_reset_is_persisted_and_seen_by_another_replica(svc, wire):
    svc.reliability.update_config(breaker_failures=1, breaker_cooldown_s=600, max_retries=0)
    wire.enqueue("500")
    with pytest.raises(E.ServerError):
        svc.engine.chat(_req())
    other = Services.build(svc.settings)  # a second replica on the same database
    assert other.reliability.breakers.view("openai/gpt-4o-mini").state == "open"
    with pytest.raises(CircuitOpen):
        other.engine.chat(_req())
    other.reliability.breakers.reset("openai/gpt-4o-mini")
    time.sleep(2.1)  # replicas re-read breaker state every 2 s
    assert svc.engine.chat(_req()).text == "Served by the primary."
    other.close()


# -- rate limits --------------------------------------------------------------
def _hammer(svc, n=20, **kw):
    results: list[object] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            out: object = svc.engine.chat(_req(text=f"q{i}", **kw))
        except E.TrellisError as exc:
            out = exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_requests_per_minute_hold_under_20_threads(svc):
    svc.reliability.update_config(rpm_user=7)
    results = _hammer(svc, user_id="ana")
    blocked = [r for r in results if isinstance(r, RateLimitExceeded)]
    assert len(blocked) == 13
    assert "requests per minute" in blocked[0].user_message
    assert "Try again in" in blocked[0].user_message
    rows = _rows(svc)
    assert len(rows) == 20
    assert sum(r.status == "blocked" and r.error_class == "rate_limit" for r in rows) == 13
    # Another user is not limited by ana's traffic.
    assert svc.engine.chat(_req(user_id="ben")).text


def test_tokens_per_minute_and_concurrency_caps(svc, wire):
    svc.reliability.update_config(tpm_global=200)
    ok = [r for r in _hammer(svc, n=10, max_tokens=50) if not isinstance(r, Exception)]
    # Each call reserves ~50 output + ~7 input tokens up front: at most 3 fit in 200.
    assert 1 <= len(ok) <= 3
    svc.reliability.update_config(tpm_global=None, max_concurrent=2)
    wire.default = Fault("slow", delay=1.0)
    results = _hammer(svc, n=6)
    assert sum(isinstance(r, RateLimitExceeded) for r in results) >= 3
    assert svc.reliability.limiter.in_flight() == 0


# -- budgets ------------------------------------------------------------------
def _one_call_max_cost(svc, max_tokens):
    return svc.reliability.budgets.max_cost(
        ["openai/gpt-4o-mini"], [Message("user", "q10")], max_tokens
    )


def test_budget_holds_under_20_threads_with_bounded_overshoot(svc, wire):
    # Answers as long as max_tokens, so each call really costs about its reserved maximum.
    wire.reply = "word " * 100
    max_cost = _one_call_max_cost(svc, 100)
    limit = 4.5 * max_cost
    svc.reliability.budgets.save(Budget(name="daily", limit_usd=limit))
    results = _hammer(svc, max_tokens=100)
    ok = [r for r in results if not isinstance(r, Exception)]
    blocked = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(ok) + len(blocked) == 20
    # However the threads interleave, a fifth call never fits.
    assert len(ok) == 4
    [status] = svc.reliability.budgets.status()
    spent = sum(r.cost_usd for r in ok)
    assert status.spent_usd == pytest.approx(spent)
    assert status.reserved_usd == pytest.approx(0, abs=1e-12)
    assert status.spent_usd <= limit + max_cost
    rows = _rows(svc)
    assert len(rows) == 20 and sum(r.status == "blocked" for r in rows) == 16
    assert "daily budget 'daily' is spent" in blocked[0].user_message
    assert "exhausted" in [a.level for a in svc.reliability.budgets.alerts()]


def test_budget_downgrades_to_the_cheaper_model(svc, wire):
    mini = _one_call_max_cost(svc, 100)
    big = svc.reliability.budgets.max_cost(["openai/gpt-4o"], [Message("user", "Hello?")], 100)
    assert big > 3 * mini
    svc.reliability.budgets.save(
        Budget(
            name="gpt4o-day",
            limit_usd=2 * mini,
            policy="downgrade",
            downgrade_model="openai/gpt-4o-mini",
        )
    )
    resp = svc.engine.chat(_req(model="openai/gpt-4o", max_tokens=100))
    [row] = _rows(svc)
    assert row.model == "gpt-4o-mini" and row.downgraded_from == "openai/gpt-4o"
    assert resp.model == "openai/gpt-4o-mini"
    span = {s.name: s for s in svc.telemetry.spans(row.id)}["limits"]
    assert span.detail["downgraded"]["to"] == "openai/gpt-4o-mini"


def test_per_user_and_per_tag_budgets(svc, wire):
    wire.reply = "word " * 50
    tiny = _one_call_max_cost(svc, 50) * 1.5
    svc.reliability.budgets.save(Budget(name="per-user", scope="user", limit_usd=tiny))
    svc.reliability.budgets.save(
        Budget(name="team-x", scope="tag", subject="team-x", limit_usd=tiny, period="monthly")
    )
    assert svc.engine.chat(_req(user_id="ana", max_tokens=50)).text
    with pytest.raises(BudgetExceeded):
        svc.engine.chat(_req(user_id="ana", max_tokens=50))
    assert svc.engine.chat(_req(user_id="ben", max_tokens=50)).text
    assert svc.engine.chat(_req(user_id="cy", tags=["team-x"], max_tokens=50)).text
    with pytest.raises(BudgetExceeded) as info:
        svc.engine.chat(_req(user_id="dee", tags=["team-x"], max_tokens=50))
    assert "monthly budget 'team-x'" in info.value.user_message


def test_threshold_alert_is_recorded_once(svc, wire):
    wire.reply = "word " * 20
    one = _one_call_max_cost(svc, 20)
    svc.reliability.budgets.save(Budget(name="warn", limit_usd=one * 1.1, alert_threshold=0.01))
    svc.engine.chat(_req(max_tokens=20))
    alerts = svc.reliability.budgets.alerts()
    assert [a.level for a in alerts] == ["threshold"]


# -- caches -------------------------------------------------------------------
def test_exact_cache_hit_costs_nothing_and_records_the_saving(svc, wire):
    svc.reliability.update_config(cache_mode="exact")
    first = svc.engine.chat(_req(temperature=0))
    second = svc.engine.chat(_req(temperature=0))
    assert second.text == first.text and second.cache_hit == "exact"
    assert len(wire.completion_requests()) == 1
    rows = _rows(svc)
    assert [r.status for r in rows] == ["cached", "ok"]
    assert rows[0].cost_usd == 0.0 and rows[0].cost_saved_usd == pytest.approx(rows[1].cost_usd)
    # Different parameters are a different entry; the opt-out skips the cache.
    svc.engine.chat(_req(temperature=0.5))
    svc.engine.chat(_req(temperature=0, cache=False))
    assert len(wire.completion_requests()) == 3


def test_cache_ttl_and_invalidation(svc, wire):
    svc.reliability.update_config(cache_mode="exact", cache_ttl_s=1.5)
    svc.engine.chat(_req())
    svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 1
    time.sleep(1.6)
    svc.engine.chat(_req())
    assert len(wire.completion_requests()) == 2
    svc.reliability.update_config(cache_ttl_s=60)
    svc.engine.chat(_req(text="other"))
    assert svc.reliability.cache.invalidate("openai/gpt-4o-mini") >= 1
    svc.engine.chat(_req(text="other"))
    assert len(wire.completion_requests()) == 4


def test_cache_is_shared_by_replicas(svc, wire):
    svc.reliability.update_config(cache_mode="exact")
    svc.engine.chat(_req())
    other = Services.build(svc.settings)
    assert other.engine.chat(_req()).cache_hit == "exact"
    other.close()


def test_streamed_cache_hit_replays_the_answer(svc, wire):
    svc.reliability.update_config(cache_mode="exact")
    assert "".join(svc.engine.stream(_req())) == "Served by the primary."
    stream = svc.engine.stream(_req())
    assert "".join(stream) == "Served by the primary."
    assert stream.response.cache_hit == "exact"
    assert len(wire.completion_requests()) == 1


@pytest.mark.slow
def test_semantic_cache_matches_paraphrases_within_scope(svc, wire):
    svc.reliability.update_config(cache_mode="semantic", semantic_threshold=0.8)
    svc.engine.chat(_req(text="What is the capital city of France?"))
    hit = svc.engine.chat(_req(text="what's the capital city of france"))
    assert hit.cache_hit == "semantic"
    miss = svc.engine.chat(_req(text="How do I bake sourdough bread?"))
    assert miss.cache_hit is None
    # Same question, other model: other scope.
    other = svc.engine.chat(_req(model="openai/gpt-4o", text="what's the capital city of france"))
    assert other.cache_hit is None
    assert len(wire.completion_requests()) == 3
    span = {s.name: s for s in svc.telemetry.spans(hit.call_id)}["cache"]
    assert span.detail["hit"] == "semantic" and span.detail["similarity"] >= 0.8


def test_a_failing_semantic_cache_degrades_the_call_not_fails_it(svc, wire):
    svc.reliability.update_config(cache_mode="semantic")

    def broken(texts):
        raise RuntimeError("embedding model missing")

    svc.reliability.cache._embed = broken
    resp = svc.engine.chat(_req())
    assert resp.text == "Served by the primary."
    assert "cache" in resp.degraded
    [row] = _rows(svc)
    assert row.status == "ok" and "cache" in row.degraded


def test_every_call_leaves_exactly_one_row(svc, wire):
    svc.reliability.update_config(rpm_global=15, cache_mode="exact", max_retries=1)
    wire.fault_rate = 0.4
    results = _hammer(svc, n=20, model="route/main")
    assert len(_rows(svc)) == 20 == len(results)
