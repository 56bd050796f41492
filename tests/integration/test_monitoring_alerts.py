"""Alert rules: each kind fires and stays quiet as it should; notifications are
posted to a real HTTP listener on loopback, once per cooldown; the
check-alerts command exits non-zero when a rule fires (for cron)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.cli import main as cli
from core.config import Settings
from core.db import make_engine, migrate
from core.telemetry import alerts
from core.telemetry.store import CallRecord, TelemetryStore
from tests.conftest import ROOT

NOW = datetime(2025, 3, 10, 12, 0, 0)


class _Listener:
    """A loopback HTTP server that keeps every JSON body posted to it."""

    def __init__(self, status: int = 200) -> None:
        bodies: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's API
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.bodies = bodies
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _calls(db, n: int, *, errors: int = 0, latency: float = 100.0, user: str = "ann",
           tags: str | None = "checkout", cost: float = 0.01, at: datetime = NOW) -> None:
    store = TelemetryStore(db)
    for i in range(n):
        store.record(CallRecord(
            trace_id=f"{at:%H%M%S}{user}{i}{latency}", created_at=at - timedelta(seconds=i),
            user_id=user, tags=tags, provider="openai", model="gpt-4o-mini", cost_usd=cost,
            latency_ms=latency, status="error" if i < errors else "ok",
            error_class="rate_limit" if i < errors else None))


@pytest.fixture
def sqlite_db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_error_rate_rule(db):
    alerts.save_rule(db, **alerts.SUGGESTED_RULE)
    _calls(db, 20, errors=1)
    assert alerts.evaluate(db, now=NOW) == []  # 5% is not above 5%
    _calls(db, 10, errors=2, user="bob")
    fired = alerts.evaluate(db, now=NOW)
    assert len(fired) == 1 and fired[0].value == pytest.approx(10.0)
    assert "10.0%" in fired[0].message
    # Calls older than the window do not count.
    assert alerts.evaluate(db, now=NOW + timedelta(minutes=6)) == []


def test_p95_latency_user_tag_spend_and_budget_rules(db):
    alerts.save_rule(db, name="slow", kind="p95_latency", threshold=500, window_minutes=60)
    alerts.save_rule(db, name="big user", kind="user_spend", threshold=0.5, window_minutes=60)
    alerts.save_rule(db, name="big tag", kind="tag_spend", threshold=0.5, window_minutes=60)
    alerts.save_rule(db, name="budget", kind="daily_budget", threshold=60, window_minutes=1)
    _calls(db, 10, latency=200.0, cost=0.04)  # ann: $0.40 on checkout
    assert alerts.evaluate(db, budget=1.0, now=NOW) == []
    _calls(db, 3, latency=2000.0, cost=0.1, user="cyd", tags="checkout,mobile")
    fired = {(f.rule_name, f.subject): f for f in alerts.evaluate(db, budget=1.0, now=NOW)}
    assert set(fired) == {("slow", None), ("big tag", "checkout"), ("budget", None)}
    assert fired[("big tag", "checkout")].value == pytest.approx(0.7)
    assert fired[("budget", None)].value == pytest.approx(70.0)  # $0.70 of $1.00
    _calls(db, 3, cost=0.2, user="cyd", tags=None, at=NOW - timedelta(seconds=30))
    fired = {(f.rule_name, f.subject) for f in alerts.evaluate(db, budget=1.0, now=NOW)}
    assert ("big user", "cyd") in fired and ("big user", "ann") not in fired
    # Without a budget the budget rule stays quiet; disabled rules are skipped.
    assert all(f.kind != "daily_budget" for f in alerts.evaluate(db, budget=None, now=NOW))


def test_rules_reject_bad_values(sqlite_db):
    with pytest.raises(ValueError, match="name"):
        alerts.save_rule(sqlite_db, name=" ", kind="error_rate", threshold=1)
    with pytest.raises(ValueError, match="Unknown rule kind"):
        alerts.save_rule(sqlite_db, name="x", kind="nope", threshold=1)
    with pytest.raises(ValueError, match="window"):
        alerts.save_rule(sqlite_db, name="x", kind="error_rate", threshold=1, window_minutes=0)
    rid = alerts.save_rule(sqlite_db, name="x", kind="error_rate", threshold=1)
    alerts.save_rule(sqlite_db, rule_id=rid, name="x", kind="error_rate", threshold=1,
                     enabled=False)
    _calls(sqlite_db, 2, errors=2)
    assert alerts.evaluate(sqlite_db, now=NOW) == []
    alerts.delete_rule(sqlite_db, rid)
    assert alerts.list_rules(sqlite_db) == []


def test_webhook_gets_json_once_per_cooldown(sqlite_db):
    alerts.save_rule(sqlite_db, **alerts.SUGGESTED_RULE)
    _calls(sqlite_db, 4, errors=2)
    with _Listener() as hook:
        firings, fresh = alerts.check(sqlite_db, None, hook.url, now=NOW)
        assert len(firings) == 1 and fresh == firings
        assert len(hook.bodies) == 1
        body = hook.bodies[0]
        assert body["source"] == "trellis"
        assert body["alerts"][0]["kind"] == "error_rate"
        assert body["alerts"][0]["value"] == pytest.approx(50.0)
        # Still firing a minute later: within the cooldown, so no second post.
        _, fresh = alerts.check(sqlite_db, None, hook.url, now=NOW + timedelta(minutes=1))
        assert fresh == [] and len(hook.bodies) == 1
    events = alerts.recent_events(sqlite_db)
    assert list(events.delivery) == ["sent 200"]


def test_a_failing_webhook_is_recorded_without_its_url(sqlite_db):
    alerts.save_rule(sqlite_db, **alerts.SUGGESTED_RULE)
    _calls(sqlite_db, 2, errors=2)
    with _Listener(status=500) as hook:
        alerts.check(sqlite_db, None, hook.url, now=NOW)
    dead = hook.url  # the listener is closed now: connection refused
    # The failed post does not start the cooldown, so a minute later it is retried.
    _, fresh = alerts.check(sqlite_db, None, dead, now=NOW + timedelta(minutes=1))
    assert len(fresh) == 1
    deliveries = list(alerts.recent_events(sqlite_db).delivery)
    assert deliveries == ["failed: ConnectError", "failed: HTTP 500"]
    assert all("s3cret" not in d for d in deliveries)


@pytest.mark.parametrize("url", ["http://exa mple.com/hook?token=s3cret", "ftp://host/s3cret"])
def test_a_malformed_webhook_url_is_a_failed_delivery_not_a_crash(sqlite_db, url):
    alerts.save_rule(sqlite_db, **alerts.SUGGESTED_RULE)
    _calls(sqlite_db, 2, errors=2)
    _, fresh = alerts.check(sqlite_db, None, url, now=NOW)
    assert len(fresh) == 1
    [delivery] = list(alerts.recent_events(sqlite_db).delivery)
    assert delivery.startswith("failed: ") and "s3cret" not in delivery


def test_check_alerts_command_exit_codes_and_webhook(settings: Settings, monkeypatch, capsys):
    engine = make_engine(settings.resolved_database_url)
    settings.ensure_data_dir()
    migrate(engine)
    assert cli(["check-alerts"]) == 0
    alerts.save_rule(engine, name="any error", kind="error_rate", threshold=0, window_minutes=10)
    assert cli(["check-alerts"]) == 0
    _calls(engine, 3, errors=1, at=alerts.utcnow())
    with _Listener() as hook:
        monkeypatch.setenv("TRELLIS_ALERT_WEBHOOK_URL", hook.url)
        assert cli(["check-alerts"]) == 1
        assert len(hook.bodies) == 1
    out = capsys.readouterr().out
    assert "FIRING any error" in out and "s3cret" not in out
    engine.dispose()


def test_cli_demo_and_check_alerts_as_processes(settings: Settings, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TRELLIS_DATA_DIR": str(settings.data_dir),
           "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "core.cli", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=300, cwd=tmp_path)
    loaded = run("demo", "--calls", "500")
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded 500 demo calls" in loaded.stdout
    engine = make_engine(settings.resolved_database_url)
    alerts.save_rule(engine, name="any error", kind="error_rate", threshold=0,
                     window_minutes=60 * 24 * 31)
    engine.dispose()
    fired = run("check-alerts", "--no-notify")
    assert fired.returncode == 1 and "FIRING any error" in fired.stdout
    removed = run("demo", "--remove")
    assert removed.returncode == 0 and "removed 500 demo calls" in removed.stdout
    quiet = run("check-alerts")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
