"""`python -m api [--host H] [--port P] [--workers N]`: serve the gateway with uvicorn.

It reads the same environment and `.env` as the app, so both share one database.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from core.config import enforce_offline


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api")
    parser.add_argument("--host", default=os.environ.get("TRELLIS_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TRELLIS_API_PORT", 8000)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    enforce_offline()
    if args.workers > 1:
        # Migrate once here, so workers do not race to create the schema.
        from core.services import Services

        Services.build().close()
    uvicorn.run(
        "api.asgi:app",
        # The C HTTP parser and uvloop (both dependencies); uvicorn's pure-Python ones
        # when a platform has no wheel for them.
        http="httptools" if _has("httptools") else "h11",
        loop="uvloop" if _has("uvloop") else "asyncio",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # The access log names client, method, path and status: never a header, so never
        # a key (the gateway reads keys only from headers).
        access_log=not args.no_access_log,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
