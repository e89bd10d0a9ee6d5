"""Flower's deployment engine on loopback: one SuperLink, one SuperNode per client, the run
submitted with ``flwr run``, everything stopped afterwards with no process left behind.

The same ``ClientApp`` / ``ServerApp`` objects as in the simulation (:mod:`.apps`), named in a
generated Flower App (``pyproject.toml`` only: the code is the installed tinylarge). There is no
internet, so nothing may be installed per run: the SuperLink runs with
``--disable-runtime-dependency-installation`` (SuperNodes do not install by default) and
``--isolation subprocess``, so ServerApp and ClientApps run in this Python environment. The
ServerApp writes its payload to ``result-path`` (run config), which this side waits for.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinylarge.errors import TinylargeError
from tinylarge.integrate.federated.apps import CONFIG_KEY
from tinylarge.integrate.federated.config import FederatedConfig

START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 3600.0

PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tinylarge-federated"
version = "1.0.0"
description = "tinylarge federated frameworks (apps live in the installed tinylarge)"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "tinylarge"

[tool.flwr.app.components]
serverapp = "{apps}:server_app"
clientapp = "{apps}:client_app"

[tool.flwr.app.config]
{key} = '''{config}'''
result-path = '''{result}'''
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    path = str(here) if here.exists() else shutil.which(name)
    if path is None:
        raise TinylargeError(f"{name} not found (flwr is not installed in this environment)")
    return path


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TinylargeError(f"{what} exited with {proc.returncode}: {_tail(log)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TinylargeError(f"{what} did not open port {port} within {START_TIMEOUT_S:.0f} s")


def _tail(path: Path, n: int = 600) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


class Federation:
    """A SuperLink and ``n`` SuperNodes on loopback, started in ``workdir``."""

    def __init__(self, n_nodes: int, workdir: Path) -> None:
        self.n, self.dir = n_nodes, workdir
        self.port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.stopped_pids: set[int] = set()
        self.env = {
            **os.environ,
            "FLWR_HOME": str(workdir / "flwr-home"),
            "FLWR_TELEMETRY_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            # the SuperLink and SuperNodes start flower-superexec / flwr-serverapp by name
            "PATH": os.pathsep.join([str(Path(_tool("flwr")).parent), os.environ.get("PATH", "")]),
        }
        home = workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        out = open(self.dir / log, "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=self.dir)  # fmt: skip
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        link = self._spawn(
            [_tool("flower-superlink"), "--insecure", "--isolation", "subprocess",
             "--disable-runtime-dependency-installation", "--host", "127.0.0.1",
             "--port", str(self.port)],
            "superlink.log",
        )  # fmt: skip
        _wait_port(self.port, link, "flower-superlink", self.dir / "superlink.log")
        for i in range(self.n):
            node_port = free_port()
            node = self._spawn(
                [_tool("flower-supernode"), "--insecure", "--superlink",
                 f"127.0.0.1:{self.port}", "--isolation", "subprocess", "--host", "127.0.0.1",
                 "--port", str(node_port), "--node-config",
                 f"partition-id={i} num-partitions={self.n}"],
                f"supernode-{i}.log",
            )  # fmt: skip
            _wait_port(node_port, node, f"flower-supernode {i}", self.dir / f"supernode-{i}.log")

    def pids(self) -> set[int]:
        """Every process this federation started, and their descendants, right now."""
        import psutil

        found = set()
        for proc in self.procs:
            try:
                p = psutil.Process(proc.pid)
                found |= {p.pid, *(c.pid for c in p.children(recursive=True))}
            except psutil.NoSuchProcess:
                continue
        return found

    def stop(self) -> set[int]:
        """Terminate everything started (children first seen now), kill what outlives 10 s;
        returns the pids that were running, so a caller can check none is left."""
        import psutil

        pids = self.pids()
        for proc in reversed(self.procs):  # SuperNodes first, the SuperLink last
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10.0
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        left = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    p.terminate()
                    left.append(p)
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(left, timeout=5.0)
        for p in alive:
            p.kill()
        psutil.wait_procs(alive, timeout=5.0)
        return pids

    def _flwr(self, *args: str) -> dict[str, Any]:
        res = subprocess.run(
            [_tool("flwr"), *args, "--format", "json"],
            env=self.env, cwd=self.dir, capture_output=True, timeout=120, text=True,
        )  # fmt: skip
        if res.returncode != 0:
            raise TinylargeError(f"flwr {args[0]} failed: {(res.stdout + res.stderr)[-800:]}")
        return json.loads(res.stdout[res.stdout.index("{") :])

    def submit(self, app_dir: Path) -> str:
        """``flwr run`` the app; returns the run id."""
        return str(self._flwr("run", str(app_dir), "local")["run-id"])

    def status(self, run_id: str) -> str:
        """``flwr ls``: pending, starting, running, finished:completed/failed/stopped."""
        runs = self._flwr("ls", "local", "--run-id", run_id).get("runs", [])
        return str(runs[0]["status"]) if runs else "unknown"


@contextmanager
def federation(n_nodes: int, workdir: Path) -> Iterator[Federation]:
    fed = Federation(n_nodes, workdir)
    try:
        fed.start()
        yield fed
    finally:
        fed.stopped_pids = fed.stop()


APPS = "tinylarge.integrate.federated.apps"


def write_app(app_dir: Path, config: FederatedConfig, result: Path, apps: str = APPS) -> Path:
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "pyproject.toml").write_text(
        PYPROJECT.format(key=CONFIG_KEY, config=config.to_json(), result=str(result), apps=apps)
    )
    return app_dir


def run_deployment(
    config: FederatedConfig, progress: Any = None, apps: str = APPS
) -> dict[str, Any]:
    """Start the federation, run ``config`` on it, stop it; the ServerApp's payload. ``apps``
    names the module holding ``server_app`` and ``client_app`` (default: the frameworks')."""
    with tempfile.TemporaryDirectory(prefix="tl_flwr_") as tmp:
        work = Path(tmp)
        result = work / "result.json"
        app = write_app(work / "app", config, result, apps)
        with federation(config.n_clients, work) as fed:
            run_id = fed.submit(app)
            deadline, checked = time.monotonic() + RUN_TIMEOUT_S, time.monotonic()
            while not result.exists():
                if time.monotonic() > deadline:
                    raise TinylargeError("the deployed run did not finish in time")
                if fed.procs[0].poll() is not None:
                    raise TinylargeError(f"the SuperLink died: {_tail(work / 'superlink.log')}")
                if time.monotonic() - checked > 5.0:
                    checked = time.monotonic()
                    status = fed.status(run_id)
                    if status.startswith("finished") and not result.exists():
                        raise TinylargeError(
                            f"the deployed run ended as {status}: {_tail(work / 'superlink.log')}"
                        )
                time.sleep(0.5)
        payload = json.loads(result.read_text())
    # every process the federation ran (SuperLink, SuperNodes, SuperExecs, app processes):
    # callers can check that none outlived the run
    payload.setdefault("extras", {})["deployment_pids"] = sorted(fed.stopped_pids)
    return payload
