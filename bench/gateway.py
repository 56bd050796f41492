"""Gateway overhead: the same chat requests sent with the `openai` SDK straight to
the loopback wire server and through the gateway (`python -m api`, guards off,
a real API key, logging on), interleaved so both paths share the machine's load.

    python bench/gateway.py [--calls 200] [--conc-calls 1000] [--db sqlite,postgresql]

For each database, streaming and not, at 1 and 50 concurrent clients: p50 and
p99 added latency (gateway minus bare) and the ratio; then throughput with 2
uvicorn workers against the bare server's. Also counts the log rows (none lost
or duplicated at concurrency 50) and looks for "database is locked" in the
gateway's log. Target: p50 added <= 2 ms at concurrency 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
from _common import pct
from sqlalchemy import text

from core.access import CLI
from core.config import Settings
from core.services import Services
from tests.servers import wire as wire_module
from tests.servers.gateway import ProcessGateway
from tests.servers.wire import WireServer

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def _client(base_url: str, key: str) -> openai.OpenAI:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0,
                         http_client=openai.DefaultHttpxClient(limits=limits))


def _call(client: openai.OpenAI, model: str, stream: bool) -> float:
    t = time.perf_counter()
    if stream:
        chunks = client.chat.completions.create(model=model, messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        client.chat.completions.create(model=model, messages=MESSAGES)
    return (time.perf_counter() - t) * 1000.0


def _interleaved(bare, gw, stream: bool, calls: int, concurrency: int
                 ) -> tuple[list[float], list[float], int]:
    """Latencies (ms) of each path; calls per path; failures through the gateway."""
    bare_ms: list[float] = []
    gw_ms: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def one(i: int) -> None:
        order = [(bare, "gpt-4o-mini", bare_ms), (gw, "openai/gpt-4o-mini", gw_ms)]
        for client, model, out in order if i % 2 else order[::-1]:
            try:
                ms = _call(client, model, stream)
            except openai.APIError as err:
                with lock:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"    failed ({'gateway' if client is gw else 'bare'}): "
                              f"{type(err).__name__}: {err}"[:300], flush=True)
                continue
            with lock:
                out.append(ms)

    if concurrency == 1:
        for i in range(calls):
            one(i)
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(calls)))
    return bare_ms, gw_ms, failures[0]


def _throughput(client, model: str, calls: int, concurrency: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: _call(client, model, False), range(calls)))
    return calls / (time.perf_counter() - t)


def _api_rows(svc: Services, expect: int | None = None, timeout: float = 15.0) -> int:
    """API log rows (refusals aside). The gateway writes rows in the background: with
    `expect`, wait (up to `timeout`) for that many to land before counting."""
    deadline = time.monotonic() + timeout
    while True:
        with svc.db.connect() as conn:
            n = int(conn.execute(text("SELECT count(*) FROM call_log WHERE source = 'api' "
                                      "AND status <> 'refused'")).scalar_one())
        if expect is None or n >= expect or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def _distinct_traces(svc: Services) -> int:
    with svc.db.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(DISTINCT trace_id) FROM call_log WHERE source = 'api'")).scalar_one())


def run_db(name: str, url: str | None, args: argparse.Namespace, srv: WireServer) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "TRELLIS_DATA_DIR": tmp,
            "OPENAI_API_KEY": "bench-upstream-key",
            "OPENAI_BASE_URL": srv.base_url + "/v1",
            "TRELLIS_GUARDS_ENABLED": "false",
        }
        if url:
            env["DATABASE_URL"] = url
        os.environ.update(env)
        settings = Settings()
        svc = Services.build(settings)
        key = svc.access.create_key(CLI, f"bench {name}").secret
        bare = _client(srv.base_url + "/v1", "bench-upstream-key")
        log_path = Path(tmp) / "gateway.log"
        with ProcessGateway(log_path, env=env) as gateway:
            gw = _client(gateway.base_url + "/v1", key)
            for _ in range(args.warmup):
                _call(bare, "gpt-4o-mini", False)
                _call(gw, "openai/gpt-4o-mini", False)
            sent = args.warmup
            for stream in (False, True):
                for conc, calls in ((1, args.calls), (50, args.conc_calls)):
                    # Rows of earlier calls land first (the gateway writes in the background).
                    before = _api_rows(svc, sent)
                    b, g, failed = _interleaved(bare, gw, stream, calls, conc)
                    sent += calls
                    rows = _api_rows(svc, before + calls) - before
                    mode = "stream" if stream else "json  "
                    add50 = pct(g, 50) - pct(b, 50)
                    add99 = pct(g, 99) - pct(b, 99)
                    print(f"  {name:10s} {mode} c={conc:<3d} bare p50 {pct(b, 50):7.2f} "
                          f"p99 {pct(b, 99):7.2f} | gateway p50 {pct(g, 50):7.2f} "
                          f"p99 {pct(g, 99):7.2f} | added p50 {add50:6.2f} p99 {add99:7.2f} ms"
                          f" | ratio p50 {pct(g, 50) / pct(b, 50):5.2f}x"
                          f" | rows {rows}/{calls} failed {failed}", flush=True)
        time.sleep(0.5)  # a late duplicate would show here
        total_rows, distinct = _api_rows(svc), _distinct_traces(svc)
        locked = "database is locked" in log_path.read_text()
        print(f"  {name}: {total_rows} api log rows for {sent} gateway calls "
              f"({total_rows - distinct} duplicated); 'database is locked' in the gateway "
              f"log: {'YES' if locked else 'no'}")
        if not args.no_workers:
            with ProcessGateway(Path(tmp) / "gateway2.log", workers=2, env=env) as gateway:
                gw = _client(gateway.base_url + "/v1", key)
                for _ in range(args.warmup):
                    _call(gw, "openai/gpt-4o-mini", False)
                bare_rps = _throughput(bare, "gpt-4o-mini", args.conc_calls, 50)
                gw_rps = _throughput(gw, "openai/gpt-4o-mini", args.conc_calls, 50)
            locked = "database is locked" in (Path(tmp) / "gateway2.log").read_text()
            print(f"  {name}: throughput at c=50, 2 uvicorn workers: gateway {gw_rps:7.1f} req/s"
                  f" vs bare {bare_rps:7.1f} req/s (ratio {gw_rps / bare_rps:.2f}x); "
                  f"'database is locked': {'YES' if locked else 'no'}", flush=True)
        svc.close()
        for name_ in env:
            os.environ.pop(name_, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200, help="per path at concurrency 1")
    parser.add_argument("--conc-calls", type=int, default=1000, help="per path at c=50")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-worker run")
    args = parser.parse_args()
    print("gateway overhead: openai SDK -> wire server, bare vs through `python -m api` "
          "(guards off); latencies in ms")
    # The stdlib server's listen backlog is 5: at 50 clients the kernel would drop
    # connections (1 s SYN retries) for both paths alike, measuring the backlog.
    wire_module._HTTPServer.request_queue_size = 512
    with WireServer(reply="Paris is the capital of France.") as srv:
        for name in args.db.split(","):
            if name == "sqlite":
                run_db("sqlite", None, args, srv)
            elif name == "postgresql":
                from tests.pg import PostgresServer, PostgresUnavailable

                try:
                    pg = PostgresServer().start()
                except (PostgresUnavailable, OSError, LookupError) as err:
                    print(f"  postgresql skipped: {err}")
                    continue
                try:
                    run_db("postgresql", pg.create_database(), args, srv)
                finally:
                    pg.stop()


if __name__ == "__main__":
    main()
