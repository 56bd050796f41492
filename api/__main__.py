"""`python -m api [--host H] [--port P] [--workers N]`: serve the gateway with uvicorn.

It reads the same environment and `.env` as the app, so both share one database.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from api.metrics import MULTIPROC_ENV
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
    run_dir = None
    if args.workers > 1:
        # Migrate once here, so workers do not race to create the schema.
        from core.services import Services

        services = Services.build()
        data_dir = services.settings.data_dir
        services.close()
        if not os.environ.get(MULTIPROC_ENV):
            # Each worker writes its metrics here and /metrics adds them all up: a fresh
            # folder per run, since counts left by an earlier run would be added too.
            base = Path(data_dir) / "prometheus"
            base.mkdir(parents=True, exist_ok=True)
            run_dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=base))
            os.environ[MULTIPROC_ENV] = str(run_dir)
    try:
        _serve(args)
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


def _serve(args: argparse.Namespace) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
