"""Command line: `python -m core.cli {prepare,chat,demo,check-alerts}`."""

from __future__ import annotations

import argparse
import sys

from core.config import Settings, enforce_offline


def _prepare(settings: Settings) -> int:
    """Create the data dir, migrate the database, assemble the bundled model."""
    from core.providers.local import bundled_model_path
    from core.services import Services

    services = Services.build(settings)
    services.close()
    if settings.local_model_path is None:
        path = bundled_model_path(settings.resolved_models_dir)
        print(f"local model ready: {path}")
    print(f"database ready: {settings.resolved_database_url.split('@')[-1]}")
    return 0


def _chat(settings: Settings, text: str, model: str | None) -> int:
    from core.engine import CompletionRequest
    from core.providers import Message
    from core.providers.errors import TrellisError
    from core.services import Services

    services = Services.build(settings)
    try:
        for delta in (
            stream := services.engine.stream(
                CompletionRequest(messages=[Message("user", text)], model=model, source="api")
            )
        ):
            sys.stdout.write(delta)
            sys.stdout.flush()
    except TrellisError as err:
        print(f"\n{err.user_message}", file=sys.stderr)
        return 1
    resp = stream.response
    assert resp is not None
    cost = "unknown" if resp.cost_usd is None else f"${resp.cost_usd:.6f}"
    print(
        f"\n[{resp.model} · {resp.usage.input_tokens}→{resp.usage.output_tokens} tokens · "
        f"{cost} · {resp.latency_ms:.0f} ms]",
        file=sys.stderr,
    )
    return 0


def _demo(settings: Settings, calls: int, remove: bool, span_fraction: float) -> int:
    """Load (or remove) the synthetic demo traffic the Monitoring pages show."""
    import time

    from core.db import make_engine, migrate
    from core.telemetry.demo import generate_demo, remove_demo

    settings.ensure_data_dir()
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    try:
        if remove:
            print(f"removed {remove_demo(db)} demo calls")
            return 0
        t0 = time.perf_counter()
        result = generate_demo(db, calls, span_fraction=span_fraction)
        print(f"loaded {result.calls} demo calls, {result.feedback} feedback rows, "
              f"{result.spans} spans in {time.perf_counter() - t0:.1f} s")
        return 0
    finally:
        db.dispose()


def _check_alerts(settings: Settings, notify: bool) -> int:
    """Evaluate the alert rules; exit 1 when any fires (for cron), 0 when none does."""
    from core.db import make_engine, migrate
    from core.telemetry import alerts
    from core.telemetry.budget import daily_budget_usd

    settings.ensure_data_dir()
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    try:
        budget = daily_budget_usd(settings, db)
        if notify:
            url = settings.alert_webhook_url
            firings, fresh = alerts.check(db, budget, url.get_secret_value() if url else None)
        else:
            firings, fresh = alerts.evaluate(db, budget), []
        for firing in firings:
            note = " (notified)" if firing in fresh else ""
            print(f"FIRING {firing.rule_name}: {firing.message}{note}")
        if not firings:
            print(f"ok: {len(alerts.list_rules(db))} rule(s), none firing")
        return 1 if firings else 0
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    enforce_offline()
    parser = argparse.ArgumentParser(prog="trellis")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="migrate the database and assemble the bundled model")
    chat = sub.add_parser("chat", help="send one message through the engine")
    chat.add_argument("text")
    chat.add_argument("--model", default=None)
    demo = sub.add_parser("demo", help="load or remove synthetic demo traffic (source=demo)")
    demo.add_argument("--calls", type=int, default=20_000)
    demo.add_argument("--span-fraction", type=float, default=1.0,
                      help="share of demo calls that get stage spans (0-1)")
    demo.add_argument("--remove", action="store_true", help="delete every demo call instead")
    check = sub.add_parser("check-alerts", help="evaluate alert rules; exit 1 if any fires")
    check.add_argument("--no-notify", action="store_true", help="do not record or post")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "prepare":
        return _prepare(settings)
    if args.command == "chat":
        return _chat(settings, args.text, args.model)
    if args.command == "demo":
        return _demo(settings, args.calls, args.remove, args.span_fraction)
    if args.command == "check-alerts":
        return _check_alerts(settings, notify=not args.no_notify)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
