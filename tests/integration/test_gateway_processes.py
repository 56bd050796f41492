"""Two real gateway processes on one database: a key's per-minute limits and the
Prometheus counts hold for the whole deployment, not per process."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest

from core.access import LOCAL_ADMIN
from tests.integration.test_gateway import REPLY, ask, client, gw, key, svc  # noqa: F401
from tests.servers.gateway import ProcessGateway

pytestmark = pytest.mark.slow


def test_a_keys_rate_limit_holds_across_two_gateway_processes(svc, gw, tmp_path):  # noqa: F811
    limited = svc.access.create_key(LOCAL_ADMIN, "two a minute", rpm=2)
    with ProcessGateway(tmp_path / "replica.log") as replica:
        # Limits count per clock minute: start well inside one, so all four calls share it.
        if time.time() % 60 > 40:
            time.sleep(61 - time.time() % 60)
        here, there = client(gw, limited.secret), client(replica, limited.secret)
        assert ask(here).choices[0].message.content == REPLY
        assert ask(there).choices[0].message.content == REPLY
        # Each process has seen one call; counted per process both would still admit one.
        for c in (here, there):
            with pytest.raises(openai.RateLimitError, match="2 requests per minute") as info:
                ask(c)
            assert 1 <= int(info.value.response.headers["retry-after"]) <= 60


def test_metrics_add_up_across_two_uvicorn_workers(svc, key, tmp_path):  # noqa: F811
    log = tmp_path / "workers.log"
    data_dir = svc.settings.data_dir / "prometheus"
    calls = 12
    with ProcessGateway(log, workers=2) as server:
        assert len(list(data_dir.glob("run-*"))) == 1  # this run's folder
        url = server.base_url + "/v1/chat/completions"
        for _ in range(calls):
            # A fresh connection each time, so both workers take a share.
            r = httpx.post(url, headers={"authorization": f"Bearer {key}", "connection": "close"},
                           json={"model": "openai/gpt-4o-mini",
                                 "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200
        r = httpx.post(url, json={}, headers={"connection": "close"})
        assert r.status_code == 401
        for _ in range(6):  # whichever worker answers the scrape
            text = httpx.get(server.base_url + "/metrics", headers={"connection": "close"}).text
            assert re.search(
                r'trellis_gateway_requests_total\{endpoint="chat",status="200"\} ' + f"{calls}.0",
                text), text[:2000]
            assert 'trellis_gateway_requests_total{endpoint="chat",status="401"} 1.0' in text
            assert re.search(r'trellis_gateway_request_seconds_count\{endpoint="chat",'
                             r'stream="false"\} ' + f"{calls + 1}.0", text)
    assert len(re.findall(r"Started server process", log.read_text())) >= 2
    assert not list(data_dir.glob("run-*"))  # removed when the server stops
