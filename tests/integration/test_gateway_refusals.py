"""Requests the gateway refuses before the engine: one log row each (status `refused`),
never a key in it, and not counted as model calls on the dashboards."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from core.access import LOCAL_ADMIN
from core.access.models import ApiKey
from core.db import session_scope
from core.telemetry import queries
from core.telemetry.filters import Filters
from core.telemetry.models import CallLog, utcnow
from tests.integration.test_gateway import (  # noqa: F401 - fixtures
    UPSTREAM_KEY,
    every_row,
    gw,
    key,
    svc,
)

URL = "/v1/chat/completions"
#: Generous: the machine running the suite may be busy (no assertion is about time).
post = functools.partial(httpx.post, timeout=60)
HI = [{"role": "user", "content": "hi"}]


def refused(svc) -> list[CallLog]:  # noqa: F811 - the fixture, passed in
    svc.telemetry.flush()
    with session_scope(svc.db) as s:
        return list(s.execute(select(CallLog).where(CallLog.status == "refused")
                              .order_by(CallLog.id)).scalars())


def test_each_refusal_leaves_exactly_one_row_without_the_key(svc, gw, key, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    auth = {"authorization": f"Bearer {key}"}
    expired = svc.access.create_key(LOCAL_ADMIN, "old app", expires_at=utcnow() + timedelta(1))
    with session_scope(svc.db) as s:
        s.execute(update(ApiKey).where(ApiKey.id == expired.key.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    revoked = svc.access.create_key(LOCAL_ADMIN, "retired app")
    svc.access.revoke_key(LOCAL_ADMIN, revoked.key.id)
    scoped = svc.access.create_key(LOCAL_ADMIN, "mini only", models=["openai/gpt-4o-mini"])
    limited = svc.access.create_key(LOCAL_ADMIN, "one a minute", rpm=1)
    assert post(gw.base_url + URL, json={"model": "openai/gpt-4o-mini", "messages": HI},
                      headers={"authorization": f"Bearer {limited.secret}"}).status_code == 200
    secrets_sent = [key, expired.secret, revoked.secret, scoped.secret, limited.secret]
    wrong = key[:-4] + "zzzz"
    ok = {"model": "openai/gpt-4o-mini", "messages": HI}
    cases = [
        # (what, headers, body, status, code, key label in the row)
        ("no key", {}, ok, 401, "invalid_api_key", None),
        ("wrong key", {"authorization": f"Bearer {wrong}"}, ok, 401, "invalid_api_key", None),
        ("expired key", {"authorization": f"Bearer {expired.secret}"}, ok, 401,
         "invalid_api_key", f"old app ({expired.key.prefix})"),
        ("revoked key", {"x-api-key": revoked.secret}, ok, 401, "invalid_api_key",
         f"retired app ({revoked.key.prefix})"),
        ("model out of scope", {"authorization": f"Bearer {scoped.secret}"},
         {"model": "openai/gpt-4o", "messages": HI}, 403, "model_not_allowed",
         f"mini only ({scoped.key.prefix})"),
        ("unknown model", auth, {"model": "nowhere/model", "messages": HI}, 404,
         "model_not_found", "tests"),
        ("too large", auth, b"x" * 60_000, 413, "request_too_large", "tests"),
        ("malformed JSON", auth,
         b'{"api_key": "' + key.encode() + b'", "note": "sk-abcdefghijklmnop", "messages": [',
         400, "invalid_json", "tests"),
        ("wrong type", auth, {"model": "openai/gpt-4o-mini", "messages": "hi"}, 422,
         "invalid_value", "tests"),
        ("n=2", auth, {**ok, "n": 2}, 400, "unsupported_value", "tests"),
        ("over the key's rate limit", {"authorization": f"Bearer {limited.secret}"}, ok, 429,
         "rate_limit_exceeded", f"one a minute ({limited.key.prefix})"),
    ]
    errors = []
    for what, headers, body, status, code, label in cases:
        before = len(refused(svc))
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = post(gw.base_url + URL, headers=headers, **kw)
        assert r.status_code == status, what
        errors.append(r.text)
        rows = refused(svc)
        assert len(rows) == before + 1, what
        row = rows[-1]
        assert row.trace_id == r.headers["x-trellis-call-id"], what
        assert (row.source, row.error_class, row.params["http_status"]) == ("api", code, status)
        assert row.error_message == r.json()["error"]["message"], what
        if label is None:
            assert "api_key" not in row.params, what
        else:
            assert row.params["api_key"].startswith(label), what
        assert row.output_text is None and row.cost_usd is None
    malformed = [r for r in refused(svc) if r.error_class == "invalid_json"][0]
    assert "Request body (first 200 characters)" in malformed.input_text
    assert "[hidden]" in malformed.input_text
    assert [r for r in refused(svc) if r.error_class == "request_too_large"][0].input_text is None

    # The secret scan: every table, every error body, every log line.
    haystack = "\n".join(every_row(svc) + errors + [caplog.text])
    assert "refused" in haystack and "retired app" in haystack  # the scan sees the rows
    for secret in [*secrets_sent, wrong, UPSTREAM_KEY, "sk-abcdefghijklmnop"]:
        assert secret not in haystack
        assert secret.split("_", 2)[-1] not in haystack

    # Dashboards: refusals are not model calls; the Errors page lists them apart.
    f = Filters.last("1h")
    view = queries.errors_view(svc.db, f)
    assert int(view["summary"].iloc[0]["calls"]) == 1  # the one answered call
    assert len(view["refused"]) == len(cases)
    assert int(view["refused_by_reason"]["requests"].sum()) == len(cases)
    assert set(view["refused"]["http_status"]) == {401, 403, 404, 413, 400, 422, 429}
    assert svc.telemetry.spend_summary(utcnow() - timedelta(hours=1)).calls == 1
    assert "refused" not in set(view["recent"]["status"])


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_a_refusal_row_never_holds_the_header(svc, gw, header):  # noqa: F811
    secret = "trl_abcdefghij_" + "s" * 40
    value = f"Bearer {secret}" if header == "authorization" else secret
    r = post(gw.base_url + URL, headers={header: value},
                   json={"model": "openai/gpt-4o-mini", "messages": HI})
    assert r.status_code == 401
    [row] = refused(svc)
    assert secret not in repr(row.__dict__) and "s" * 40 not in repr(row.__dict__)


@pytest.mark.slow
def test_a_refused_bodys_excerpt_is_redacted_when_the_guards_are_on(guards_on, wire,
                                                                    monkeypatch):
    from core.services import Services
    from tests.servers.gateway import ThreadGateway

    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    services = Services.build()
    try:
        secret = services.access.create_key(LOCAL_ADMIN, "guarded").secret
        with ThreadGateway(services) as gateway:
            r = post(gateway.base_url + URL, headers={"authorization": f"Bearer {secret}"},
                           content=b'{"messages": [{"role": "user", "content": '
                                   b'"mail jane.doe@example.com"}')
            assert r.status_code == 400
        [row] = refused(services)
        assert "Request body" in row.input_text and "jane.doe@example.com" not in row.input_text
    finally:
        services.close()
