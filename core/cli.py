"""Command line: `python -m core.cli {prepare,chat}`."""

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


def main(argv: list[str] | None = None) -> int:
    enforce_offline()
    parser = argparse.ArgumentParser(prog="trellis")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="migrate the database and assemble the bundled model")
    chat = sub.add_parser("chat", help="send one message through the engine")
    chat.add_argument("text")
    chat.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "prepare":
        return _prepare(settings)
    if args.command == "chat":
        return _chat(settings, args.text, args.model)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
