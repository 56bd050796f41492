"""The gateway on loopback for tests and benchmarks: uvicorn in a thread, or
`python -m api` in a subprocess (a second replica, with its own server log)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.servers.procs import free_port, stop


class ThreadGateway:
    """`create_app(services)` served by uvicorn in a daemon thread."""

    def __init__(self, services, host: str = "127.0.0.1") -> None:
        import uvicorn

        from api import create_app

        self.port = free_port()
        self.base_url = f"http://{host}:{self.port}"
        self.app = create_app(services)
        config = uvicorn.Config(self.app, host=host, port=self.port, log_level="warning",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadGateway:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


class ProcessGateway:
    """`python -m api` in a subprocess, sharing the caller's environment (and database)."""

    def __init__(self, log_path: Path, workers: int = 1, env: dict | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ProcessGateway:
        root = Path(__file__).resolve().parents[2]
        env = {**self.env, "PYTHONPATH": str(root)}
        cmd = [sys.executable, "-m", "api", "--port", str(self.port),
               "--workers", str(self.workers), "--log-level", "info"]
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=os.getcwd())
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        stop(self.proc)
        raise RuntimeError(f"gateway did not start: {self.log_path.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)
