"""Command line: `python -m core.cli COMMAND`.

Commands: prepare, chat, demo, check-alerts, users, keys, eval run, prompts, ingest-worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from core.config import Settings, enforce_offline


def _prepare(settings: Settings) -> int:
    """Create the data dir, migrate the database, find and assemble the bundled models."""
    from core.providers.local import bundled_model_path, smollm2_model_path
    from core.services import Services

    services = Services.build(settings)
    services.close()
    for locate in (smollm2_model_path, bundled_model_path):
        print(f"local model ready: {locate(settings.resolved_models_dir)}")
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


def _access(settings: Settings):
    from core.access import AccessService
    from core.db import make_engine, migrate
    from core.reliability.budgets import BudgetManager

    settings.ensure_data_dir()
    db = make_engine(settings.resolved_database_url)
    migrate(db)
    from core.costs import PriceBook

    return db, AccessService(db, BudgetManager(db, PriceBook(db)))


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("The two passwords differ; nothing was changed.")
    return first


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from core.access import CLI, TrellisError

    db, access = _access(settings)
    try:
        if args.users_command == "list":
            for u in access.list_users():
                lock = " (locked)" if u.locked_until else ""
                print(f"{u.username}\t{u.role}{lock}")
            return 0
        if args.users_command == "add":
            role = "admin" if args.admin else args.role
            password = None if args.no_password else _read_password(args.password_stdin)
            access.add_user(CLI, args.username, role, password)
            print(f"user {args.username} added as {role}")
        elif args.users_command == "role":
            access.set_role(CLI, args.username, args.role)
            print(f"user {args.username} is now {args.role}")
        elif args.users_command == "password":
            access.set_password(CLI, args.username, _read_password(args.password_stdin))
            print(f"password of {args.username} changed")
        return 0
    except TrellisError as err:
        print(err.user_message, file=sys.stderr)
        return 1
    finally:
        db.dispose()


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from core.access import CLI, TrellisError
    from core.telemetry.models import utcnow

    db, access = _access(settings)
    try:
        if args.keys_command == "create":
            new = access.create_key(
                CLI,
                args.name,
                owner=args.owner,
                models=args.model,
                prompts=args.prompt,
                expires_at=utcnow() + timedelta(days=args.days) if args.days else None,
                rpm=args.rpm,
                tpm=args.tpm,
                budget_usd=args.budget,
            )
            print(f"key {new.key.name} ({new.key.prefix}) created; copy it now, "
                  "it is not shown again:", file=sys.stderr)
            print(new.secret)
        elif args.keys_command == "list":
            for k in access.list_keys():
                state = "revoked" if k.revoked_at else (
                    f"expires {k.expires_at:%Y-%m-%d}" if k.expires_at else "active")
                models = ",".join(k.models) or "any model"
                print(f"{k.id}\t{k.prefix}\t{k.name}\t{k.owner}\t{state}\t{models}")
        elif args.keys_command == "revoke":
            key = access.revoke_key(CLI, args.id)
            print(f"key {key.name} ({key.prefix}) revoked")
        return 0
    except TrellisError as err:
        print(err.user_message, file=sys.stderr)
        return 1
    finally:
        db.dispose()

def _prompts(settings: Settings, action: str, directory: str, user: str,
             name: str | None = None, version: int | None = None) -> int:
    """Export every prompt to DIR as YAML, or import DIR's YAML files."""
    from core.prompts import PromptError, connect
    from core.prompts.io import export_dir, import_dir, write_prompt

    settings.ensure_data_dir()
    registry = connect(settings.resolved_database_url)
    try:
        if action == "export":
            written = ([write_prompt(registry, directory, name, version)] if name
                       else export_dir(registry, directory))
            for path in written:
                print(f"wrote {path}")
            return 0
        report = import_dir(registry, directory, by=user)
        for line in report.lines():
            print(line)
        return 1 if report.conflicts else 0
    except PromptError as err:
        print(err.user_message, file=sys.stderr)
        return 1
    finally:
        registry._db.dispose()  # noqa: SLF001


def _eval_run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a suite file; exit 0 when it passes, 100 when assertions fail, 1 on errors."""
    from dataclasses import replace

    from core.evals import EvalStore, Runner, Suite, SuiteError
    from core.evals.gate import EXIT_ERRORS, evaluate, run_json, write_json, write_junit
    from core.services import Services

    try:
        suite = Suite.load(args.suite)
        if args.model:
            suite = replace(suite, models=list(args.model))
        if args.repeat:
            suite = replace(suite, repeats=args.repeat)
        if args.concurrency:
            suite = replace(suite, concurrency=args.concurrency)
        suite.check()
    except SuiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERRORS
    services = Services.build(settings)
    try:
        runner, store = Runner(services), EvalStore(services.db)
        if args.retry_errors or args.resume:
            run_id = args.resume or next((r.id for r in store.runs(suite.name)), None)
            if run_id is None:
                print(f"error: suite '{suite.name}' has no earlier run to retry.", file=sys.stderr)
                return EXIT_ERRORS
            suite = runner.suite_of(run_id)
        else:
            run_id = runner.create_run(suite, label=args.label)
        last = [0.0]

        def progress(p) -> None:  # noqa: ANN001
            import time

            if not args.quiet and (time.monotonic() - last[0] > 2 or p.done == p.total):
                last[0] = time.monotonic()
                eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
                print(f"  {p.done}/{p.total} cells{eta}", file=sys.stderr)

        try:
            runner.run(run_id, progress=progress, retry_errors=args.retry_errors)
        except KeyboardInterrupt:
            print(f"stopped; resume with --resume {run_id}", file=sys.stderr)
            return EXIT_ERRORS
        result = evaluate(store, run_id, suite)
        if args.junit:
            write_junit(args.junit, store, run_id, suite.name)
        if args.json:
            data = run_json(store, run_id, result)
            if args.json == "-":
                import json

                print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
            else:
                write_json(args.json, data)
        print(f"run #{run_id} {result.summary}", file=sys.stderr)
        return result.exit_code
    finally:
        services.close()


def _ingest_worker(settings: Settings, once: bool) -> int:
    """Run queued document ingestion jobs in this process (set
    TRELLIS_RAG_INGEST_WORKER=external for the app so it leaves them to this)."""
    from core.services import Services

    svc = Services.build(settings)
    try:
        if once:
            ran = svc.jobs.run_pending(once=False)
            print(f"ran {ran} ingestion job(s)")
            return 0
        print("ingestion worker running; Ctrl+C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            svc.jobs.run_forever()
        return 0
    finally:
        svc.close()


def main(argv: list[str] | None = None) -> int:
    enforce_offline()
    parser = argparse.ArgumentParser(prog="trellis")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="migrate the database and assemble the bundled models")
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
    users = sub.add_parser("users", help="web-app users (TRELLIS_AUTH=password)")
    usub = users.add_subparsers(dest="users_command", required=True)
    uadd = usub.add_parser("add", help="add a user; asks for the password")
    uadd.add_argument("username")
    uadd.add_argument("--admin", action="store_true", help="same as --role admin")
    uadd.add_argument("--role", choices=["viewer", "editor", "admin"], default="viewer")
    uadd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    uadd.add_argument("--no-password", action="store_true", help="(for OIDC sign-in)")
    usub.add_parser("list", help="list users and roles")
    urole = usub.add_parser("role", help="change a user's role")
    urole.add_argument("username")
    urole.add_argument("role", choices=["viewer", "editor", "admin"])
    upw = usub.add_parser("password", help="set a user's password (also unlocks it)")
    upw.add_argument("username")
    upw.add_argument("--password-stdin", action="store_true")
    keys = sub.add_parser("keys", help="API keys for the gateway")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key and print it once")
    kc.add_argument("name")
    kc.add_argument("--owner", default=None)
    kc.add_argument("--model", action="append", default=[],
                    help="allowed model or route pattern (repeat); none = any")
    kc.add_argument("--prompt", action="append", default=[],
                    help="allowed prompt name (repeat); none = any")
    kc.add_argument("--days", type=float, default=None, help="expire after this many days")
    kc.add_argument("--rpm", type=int, default=None, help="requests per minute")
    kc.add_argument("--tpm", type=int, default=None, help="tokens per minute")
    kc.add_argument("--budget", type=float, default=None, help="daily budget in USD")
    ksub.add_parser("list", help="list keys (never their secrets)")
    kr = ksub.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("id", type=int)


    ev = sub.add_parser("eval", help="evaluation suites").add_subparsers(dest="eval_command",
                                                                       required=True)
    run = ev.add_parser("run", help="run a suite file; exit 0 pass, 100 failures, 1 errors")
    run.add_argument("suite", help="the suite YAML file")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    run.add_argument("--json", metavar="FILE", help="write the full results as JSON (- for stdout)")
    run.add_argument("--retry-errors", action="store_true",
                     help="rerun only the errored cells of the suite's latest run")
    run.add_argument("--resume", type=int, metavar="RUN", help="finish a stopped run")
    run.add_argument("--label", help="a label stored with the run (a baseline can name it)")
    run.add_argument("--model", action="append", help="run on this model instead (repeatable)")
    run.add_argument("--repeat", type=int, help="run each cell this many times")
    run.add_argument("--concurrency", type=int, help="cells at once (default: the suite's, 8)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    prompts = sub.add_parser("prompts", help="export or import prompts as YAML files")
    prompts.add_argument("action", choices=["export", "import"])
    prompts.add_argument("directory")
    prompts.add_argument("--user", default=os.environ.get("USER") or "cli",
                         help="who the import is recorded as (label moves)")
    prompts.add_argument("--name", help="export only this prompt")
    prompts.add_argument("--version", type=int, help="with --name: export only this version")
    worker = sub.add_parser("ingest-worker", help="run queued document ingestion jobs")
    worker.add_argument("--once", action="store_true", help="run what is queued, then exit")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "prepare":
        return _prepare(settings)
    if args.command == "chat":
        return _chat(settings, args.text, args.model)
    if args.command == "demo":
        return _demo(settings, args.calls, args.remove, args.span_fraction)
    if args.command == "eval":
        return _eval_run(settings, args)
    if args.command == "prompts":
        return _prompts(settings, args.action, args.directory, args.user, args.name,
                        args.version)
    if args.command == "check-alerts":
        return _check_alerts(settings, notify=not args.no_notify)
    if args.command == "users":
        return _users(settings, args)
    if args.command == "keys":
        return _keys(settings, args)
    if args.command == "ingest-worker":
        return _ingest_worker(settings, args.once)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
