"""The gateway with the real `openai` SDK on loopback, in front of the wire server."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import httpx
import openai
import pytest
from sqlalchemy import text, update

from core.access import LOCAL_ADMIN, AccessDenied, Actor
from core.access.models import ApiKey
from core.db import session_scope
from core.services import Services
from core.telemetry.models import utcnow
from tests.servers.gateway import ProcessGateway, ThreadGateway
from tests.servers.wire import Fault

UPSTREAM_KEY = "sk-upstream-secret-0123456789"
REPLY = "Paris is the capital of France."


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    monkeypatch.setenv("TRELLIS_API_MAX_BODY_MB", "0.05")
    wire.reply = REPLY
    services = Services.build()
    services.reliability.update_config(max_retries=0, backoff_base_s=0.01, backoff_max_s=0.02)
    yield services
    services.close()


@pytest.fixture
def gw(svc):
    with ThreadGateway(svc) as gateway:
        yield gateway


@pytest.fixture
def key(svc):
    return svc.access.create_key(LOCAL_ADMIN, "tests").secret


def client(gw, key, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0, **kw)


def ask(c: openai.OpenAI, model="openai/gpt-4o-mini", text="What is the capital of France?",
        **kw):
    return c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )


def wait_for_row(svc, trace_id, status=None, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = svc.telemetry.get_by_trace(trace_id)
        if row is not None and (status is None or row.status == status):
            return row
        time.sleep(0.05)
    return svc.telemetry.get_by_trace(trace_id)


def every_row(svc) -> list[str]:
    """Every row of every table (SQLite), as text, once queued log rows are written."""
    svc.telemetry.flush()
    dump = []
    with svc.db.connect() as conn:
        tables = [r[0] for r in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='table'"))]
        for table in tables:
            dump += [repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]
    return dump


def test_non_streaming_answer_usage_call_id_and_log_row(svc, gw, key):
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "What is the capital of France?"}],
        temperature=0.2,
        metadata={"user_id": "ana", "session_id": "s1", "tags": "support,web"},
    )
    call_id = raw.headers["x-trellis-call-id"]
    resp = raw.parse()
    assert resp.choices[0].message.content == REPLY
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.id == f"chatcmpl-{call_id}"
    svc.telemetry.flush()  # the gateway writes log rows in the background
    row = svc.telemetry.get_by_trace(call_id)
    assert (row.status, row.source, row.user_id, row.session_id) == ("ok", "api", "ana", "s1")
    assert row.tags.split(",")[:2] == ["support", "web"]
    assert any(t.startswith("apikey:") for t in row.tags.split(","))
    assert row.params == {"temperature": 0.2}


def test_streaming_with_usage_and_done(svc, gw, key, wire):
    stream = ask(client(gw, key), stream=True, stream_options={"include_usage": True})
    call_id = stream.response.headers["x-trellis-call-id"]
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    row = wait_for_row(svc, call_id)
    assert row.stream and row.status == "ok" and row.output_text == REPLY
    # Raw SSE ends with [DONE]; without include_usage there is no usage chunk.
    with httpx.stream("POST", gw.base_url + "/v1/chat/completions",
                      headers={"authorization": f"Bearer {key}"},
                      json={"model": "openai/gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]}) as r:
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert all("usage" not in json.loads(ln[6:]) for ln in lines[:-1])


def test_any_model_and_routes_and_models_list(svc, gw, key):
    svc.reliability.routes.save("main", ["openai/gpt-4o-mini", "openai/gpt-4o"])
    resp = ask(client(gw, key), model="route/main")
    assert resp.choices[0].message.content == REPLY
    ids = [m.id for m in client(gw, key).models.list()]
    assert "openai/gpt-4o-mini" in ids and "route/main" in ids


@pytest.mark.parametrize(
    ("fault", "exc", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 502),
        ("503", openai.InternalServerError, 502),
        ("401", openai.InternalServerError, 502),  # the upstream key, not the caller's
        ("context", openai.BadRequestError, 400),
    ],
)
def test_provider_errors_map_to_sdk_exceptions(gw, key, wire, fault, exc, status):
    wire.enqueue(fault)
    with pytest.raises(exc) as info:
        ask(client(gw, key))
    err = info.value
    assert err.status_code == status
    assert err.response.headers["x-trellis-call-id"]
    body = err.response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    assert "Traceback" not in body["message"] and UPSTREAM_KEY not in body["message"]
    if status == 429:
        assert int(err.response.headers["retry-after"]) >= 1


def test_timeout_is_408_and_unknown_model_404_and_bad_params_400(svc, gw, key, wire):
    svc.reliability.update_config(attempt_timeout_s=0.3, deadline_s=0.5)
    wire.enqueue(Fault("hang", delay=3))
    with pytest.raises(openai.APIStatusError) as info:
        ask(client(gw, key))
    assert info.value.status_code == 408
    with pytest.raises(openai.NotFoundError, match="not known here"):
        ask(client(gw, key), model="nosuch/model")
    with pytest.raises(openai.NotFoundError, match="no route"):
        ask(client(gw, key), model="route/missing")
    with pytest.raises(openai.BadRequestError, match="Temperature"):
        ask(client(gw, key), temperature=5)


def test_mid_stream_cut_arrives_as_an_sse_error(gw, key, wire):
    wire.reply = "one two three four five six seven eight nine ten"
    wire.enqueue(Fault("cut", cut_after=2))
    stream = ask(client(gw, key), stream=True)
    with pytest.raises(openai.APIError, match="stopped answering"):
        for _ in stream:
            pass


def test_client_disconnect_mid_stream_cancels_the_call(svc, gw, key, wire):
    wire.reply = " ".join(f"word{i}" for i in range(200))
    wire.enqueue(Fault("slow", delay=0.05))
    with httpx.stream("POST", gw.base_url + "/v1/chat/completions",
                      headers={"authorization": f"Bearer {key}"},
                      json={"model": "openai/gpt-4o-mini", "stream": True,
                            "messages": [{"role": "user", "content": "count"}]},
                      timeout=30) as r:
        call_id = r.headers["x-trellis-call-id"]
        got = 0
        for line in r.iter_lines():
            if line.startswith("data: ") and "word" in line:
                got += 1
                if got == 3:
                    break
    row = wait_for_row(svc, call_id, status="cancelled")
    assert row is not None and row.status == "cancelled"
    assert row.output_text and "word199" not in row.output_text


def test_registry_prompt_served_and_rendered_through_metadata(svc, gw, key, wire):
    svc.prompts.create("greeting", by="tests")
    svc.prompts.save_version(
        "greeting", by="tests", system="Answer in one line.",
        user="Say hello to {{ name }}.", note="first",
    )
    auth = {"authorization": f"Bearer {key}"}
    r = httpx.get(gw.base_url + "/v1/prompts/greeting", params={"label": "production"},
                  headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["author"] == "tests"
    assert body["messages"][1] == {"role": "user", "content": "Say hello to {{ name }}."}
    assert [v["name"] for v in body["variables"]] == ["name"]

    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[],
        metadata={"prompt": "greeting", "prompt_label": "production",
                  "variables": '{"name": "Ada"}'},
    )
    assert raw.http_response.status_code == 200
    sent = wire.completion_requests()[-1].body["messages"]
    assert sent[-1]["content"] == "Say hello to Ada."
    row = wait_for_row(svc, raw.headers["x-trellis-call-id"])
    assert row.prompt_name == "greeting" and row.prompt_version == 1

    missing = httpx.get(gw.base_url + "/v1/prompts/nope", headers=auth)
    assert missing.status_code == 404
    assert "no prompt named 'nope'" in missing.json()["error"]["message"]


def test_feedback_on_a_call(svc, gw, key):
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    call_id = raw.headers["x-trellis-call-id"]
    auth = {"authorization": f"Bearer {key}"}
    r = httpx.post(gw.base_url + "/v1/feedback", headers=auth,
                   json={"call_id": call_id, "score": -1, "comment": "too short"})
    assert r.status_code == 200
    row = wait_for_row(svc, call_id)
    [fb] = svc.telemetry.feedback_for(row.id)
    assert (fb.score, fb.comment) == (-1, "too short")
    r = httpx.post(gw.base_url + "/v1/feedback", headers=auth,
                   json={"call_id": "f" * 32, "score": 1})
    assert r.status_code == 404 and r.json()["error"]["code"] == "call_not_found"
    r = httpx.post(gw.base_url + "/v1/feedback", headers=auth,
                   json={"call_id": call_id, "score": 5})
    assert r.status_code == 422 and "score" in r.json()["error"]["message"]


def test_health_ready_and_metrics(gw, key):
    assert httpx.get(gw.base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gw.base_url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
    ask(client(gw, key))
    with pytest.raises(openai.AuthenticationError):
        ask(client(gw, "trl_nope_nope"))
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'trellis_gateway_requests_total{endpoint="chat",status="200"} 1.0' in metrics
    assert 'trellis_gateway_requests_total{endpoint="chat",status="401"} 1.0' in metrics
    assert 'trellis_gateway_tokens_total{direction="output"}' in metrics
    assert "trellis_gateway_request_seconds_bucket" in metrics


# -- security -------------------------------------------------------------


def test_missing_wrong_and_expired_keys_get_401(svc, gw, key):
    r = httpx.post(gw.base_url + "/v1/chat/completions", json={})
    assert r.status_code == 401 and "No API key" in r.json()["error"]["message"]
    assert r.headers["x-trellis-call-id"]
    for wrong in ("sk-something", key[:-2] + "xx", "trl_0000000000_abc"):
        with pytest.raises(openai.AuthenticationError, match="not valid"):
            ask(client(gw, wrong))
    new = svc.access.create_key(LOCAL_ADMIN, "short-lived", expires_at=utcnow() + timedelta(1))
    with session_scope(svc.db) as s:
        s.execute(update(ApiKey).where(ApiKey.id == new.key.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    svc.access._keys.clear()  # the expiry changed behind the cache's back
    with pytest.raises(openai.AuthenticationError, match="expired"):
        ask(client(gw, new.secret))


def test_revocation_reaches_a_second_gateway_process_within_2s(svc, key, tmp_path):
    with ProcessGateway(tmp_path / "replica.log") as replica:
        c = client(replica, key)
        assert ask(c).choices[0].message.content == REPLY
        [k] = [k for k in svc.access.list_keys() if k.name == "tests"]
        svc.access.revoke_key(LOCAL_ADMIN, k.id)
        time.sleep(2.0)
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            ask(c)
    log = (tmp_path / "replica.log").read_text()
    assert "POST /v1/chat/completions HTTP/1.1\" 401" in log  # the scan reads real lines
    assert key not in log and key.split("_", 2)[2] not in log and UPSTREAM_KEY not in log


def test_key_scoped_to_one_model_gets_403_for_another(svc, gw):
    scoped = svc.access.create_key(LOCAL_ADMIN, "mini only", models=["openai/gpt-4o-mini"],
                                   prompts=["faq"])
    c = client(gw, scoped.secret)
    assert ask(c).choices[0].message.content == REPLY
    with pytest.raises(openai.PermissionDeniedError, match="may not use the model"):
        ask(c, model="openai/gpt-4o")
    with pytest.raises(openai.PermissionDeniedError, match="prompt"):
        ask(c, metadata={"prompt": "other"})
    assert [m.id for m in c.models.list()] == ["openai/gpt-4o-mini"]


def test_key_rate_limit_and_budget_come_from_core_reliability(svc, gw):
    limited = svc.access.create_key(LOCAL_ADMIN, "one a minute", rpm=1)
    c = client(gw, limited.secret)
    ask(c)
    with pytest.raises(openai.RateLimitError) as info:
        ask(c)
    assert int(info.value.response.headers["retry-after"]) >= 1
    broke = svc.access.create_key(LOCAL_ADMIN, "tiny budget", budget_usd=1e-9)
    c = client(gw, broke.secret)
    with pytest.raises(openai.RateLimitError) as info:
        ask(c)
    assert info.value.response.json()["error"]["code"] == "budget_exceeded"
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_body_over_the_limit_is_413_before_parsing(gw, key):
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    big = b"{" + b"x" * 60_000  # not even JSON: a parser would say 400
    r = httpx.post(gw.base_url + "/v1/chat/completions", headers=auth, content=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunked():
        for _ in range(10):
            yield b"x" * 10_000

    r = httpx.post(gw.base_url + "/v1/chat/completions", headers=auth, content=chunked())
    assert r.status_code == 413


def test_malformed_json_and_wrong_types_in_openai_error_shape(gw, key):
    auth = {"authorization": f"Bearer {key}"}
    url = gw.base_url + "/v1/chat/completions"
    r = httpx.post(url, headers=auth, content=b'{"model": "openai/gpt-4o-mini", "messages": [')
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("The request body is not valid JSON")
    r = httpx.post(url, headers=auth, json={"model": "openai/gpt-4o-mini", "messages": "hi"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["param"] == "messages" and "'messages' is not valid" in err["message"]
    r = httpx.post(url, headers=auth, json={"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 422 and r.json()["error"]["message"] == (
        "The request is missing the field 'model'.")
    r = httpx.post(url, headers=auth, json={"model": "openai/gpt-4o-mini", "temperature": "hot",
                                            "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 422 and r.json()["error"]["param"] == "temperature"
    with pytest.raises(openai.UnprocessableEntityError, match="role"):
        client(gw, key).chat.completions.create(
            model="openai/gpt-4o-mini", messages=[{"role": "wizard", "content": "x"}])


def test_unknown_fields_pass_to_providers_that_take_them_else_are_named(svc, gw, key, wire):
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
        seed=7, frequency_penalty=0.5, extra_body={"frobnicate": {"x": 1}},
        metadata={"team": "growth"},
    )
    assert raw.parse().choices[0].message.content == REPLY
    assert raw.headers["x-trellis-ignored-fields"] == "frobnicate, metadata.team"
    sent = wire.completion_requests()[-1].body
    assert (sent["seed"], sent["frequency_penalty"]) == (7, 0.5) and "frobnicate" not in sent
    # A route may end on a provider without these parameters: they are dropped and named.
    svc.reliability.routes.save("main", ["openai/gpt-4o-mini"])
    raw = client(gw, key).chat.completions.with_raw_response.create(
        model="route/main", messages=[{"role": "user", "content": "hi"}], seed=7)
    assert raw.headers["x-trellis-ignored-fields"] == "seed"
    assert "seed" not in wire.completion_requests()[-1].body


def test_no_key_or_password_in_logs_spans_errors_or_rows(svc, gw, key, wire, caplog):
    caplog.set_level(logging.DEBUG)
    password = "correct horse battery staple"
    svc.access.add_user(LOCAL_ADMIN, "eve", "editor", password)
    with pytest.raises(Exception):  # noqa: B017 - any sign-in failure
        svc.access.authenticate("eve", password + "!")
    svc.access.authenticate("eve", password)
    c = client(gw, key)
    ask(c)
    list(ask(c, stream=True))
    wire.enqueue("500")
    errors = []
    with pytest.raises(openai.InternalServerError) as info:
        ask(c)
    errors.append(info.value.response.text)
    with pytest.raises(openai.AuthenticationError) as info:
        ask(client(gw, key + "x"))
    errors.append(info.value.response.text)
    haystack = "\n".join(every_row(svc) + errors + [caplog.text])
    assert "apikey:" in haystack and "eve" in haystack  # the scan sees the rows
    for secret in (key, key.split("_", 2)[2], password, UPSTREAM_KEY):
        assert secret not in haystack


def test_viewer_cannot_write_at_core_level(svc):
    viewer = Actor("val", "viewer")
    for action in ("budgets.write", "routes.write", "guards.write", "keys.manage",
                   "documents.write", "prompts.write"):
        with pytest.raises(AccessDenied) as info:
            svc.access.require(viewer, action)
        assert info.value.user_message.startswith("Your role (viewer) cannot ")
    with pytest.raises(AccessDenied):
        svc.access.create_key(viewer, "sneaky")
    with pytest.raises(AccessDenied):
        svc.access.add_user(Actor("ed", "editor"), "mallory", "admin", "x" * 12)
    svc.access.require(Actor("ed", "editor"), "documents.write")


@pytest.mark.slow
def test_gateway_on_postgresql(wire, monkeypatch, pg_url):
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    wire.reply = REPLY
    services = Services.build()
    try:
        key = services.access.create_key(LOCAL_ADMIN, "pg").secret
        with ThreadGateway(services) as gw:
            c = client(gw, key)
            raw = c.chat.completions.with_raw_response.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            assert raw.parse().choices[0].message.content == REPLY
            stream = ask(c, stream=True, stream_options={"include_usage": True})
            assert "".join(ch.choices[0].delta.content or "" for ch in stream
                           if ch.choices) == REPLY
            for call_id in (raw.headers["x-trellis-call-id"],
                            stream.response.headers["x-trellis-call-id"]):
                assert wait_for_row(services, call_id).status == "ok"
            assert services.access.events(action="key.create")[0].actor == "local admin"
    finally:
        services.close()


def test_readyz_says_when_the_chroma_server_is_unreachable(wire, monkeypatch):
    from tests.servers.procs import free_port

    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(free_port()))  # nothing listens there
    services = Services.build()
    try:
        with ThreadGateway(services) as gw:
            ready = httpx.get(gw.base_url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {
            "database": "ok", "chroma": "The Chroma server cannot be reached."}
    finally:
        services.close()
