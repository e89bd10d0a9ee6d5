"""Start the service on loopback for tests, benchmarks and ``tinylarge fleet``, and always stop it.

- :func:`serve_in_thread`: uvicorn in a background thread of this process, on a socket bound to a
  free port first (no port guessing). Good for tests: objects can be shared with the app.
- :func:`serve_in_subprocess`: ``uvicorn --factory`` in a child process with ``workers`` worker
  processes, so load tests measure a real separate server rather than one sharing our GIL.
Both are context managers yielding the base URL; leaving the block stops the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tinylarge.errors import TinylargeError
from tinylarge.large.service.config import ServiceConfig
from tinylarge.large.service.main import CONFIG_ENV
from tinylarge.secure.tls import client_verify

STARTUP_TIMEOUT_S = 60.0


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    log_level: str = "warning",
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yields ``http(s)://host:port``."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="on",
            ws="none",
            ssl_certfile=tls_cert_file,
            ssl_keyfile=tls_key_file,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline_s = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline_s:
                raise TinylargeError("the service did not start (see its log above)")
            time.sleep(0.01)
        yield f"{'https' if tls_cert_file else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out for ``host`` (released again for the child to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(
    base_url: str, process: subprocess.Popen | None = None, verify: bool | str = True
) -> dict:
    """Poll ``GET /health`` until it answers 200 (bounded by ``STARTUP_TIMEOUT_S``)."""
    import httpx

    deadline_s = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if process is not None and process.poll() is not None:
            raise TinylargeError(f"the service exited with status {process.returncode}")
        try:
            r = httpx.get(f"{base_url}/health", timeout=2.0, verify=client_verify(verify))
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TinylargeError(f"the service at {base_url} did not become healthy")


def start_service(
    config: ServiceConfig,
    port: int,
    workers: int = 1,
    host: str = "127.0.0.1",
    log_level: str = "warning",
) -> subprocess.Popen:
    """Start ``uvicorn`` for ``config`` in its own process group (``os.killpg`` stops it all)."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tinylarge.large.service.main:app_from_env",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        log_level,
        "--no-access-log",
        "--ws",
        "none",
    ]
    if config.tls_cert_file is not None:
        cmd += ["--ssl-certfile", config.tls_cert_file, "--ssl-keyfile", str(config.tls_key_file)]
    env = {**os.environ, CONFIG_ENV: config.model_dump_json()}
    return subprocess.Popen(cmd, env=env, start_new_session=True)


@contextlib.contextmanager
def serve_in_subprocess(
    config: ServiceConfig, workers: int = 1, host: str = "127.0.0.1", log_level: str = "warning"
) -> Iterator[str]:
    """Run the service for ``config`` as ``uvicorn`` with ``workers`` processes; yields its URL."""
    port = free_port(host)
    process = start_service(config, port, workers, host, log_level)
    try:
        scheme = "https" if config.tls_cert_file else "http"
        base_url = f"{scheme}://{host}:{port}"
        wait_healthy(base_url, process, verify=config.tls_cert_file or True)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
