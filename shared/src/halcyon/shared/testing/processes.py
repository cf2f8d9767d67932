"""Services as real separate processes (uvicorn), for integration and end-to-end tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

_HANDED_OUT: set[int] = set()
# Below Linux's ephemeral range (32768-60999): the kernel never gives these to outgoing
# connections, and each port is handed out once per test process, so two services
# started one after the other cannot be given the same port.
_PORTS = range(20000, 32000)
_RANDOM = random.SystemRandom()  # not the global one: hypothesis seeds that


def free_port() -> int:
    for _ in range(200):
        port = _RANDOM.choice(_PORTS)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as sock:  # a crowded machine: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_of(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["service"]) if isinstance(body, dict) and "service" in body else None


class ServiceProcess:
    """One service instance: start, wait_ready, kill (SIGKILL), stop, restart."""

    def __init__(
        self,
        service: str,
        env: Mapping[str, str],
        log_dir: Path,
        port: int | None = None,
        app: str | None = None,
        interpreter_args: Sequence[str] = (),
    ) -> None:
        self.service = service
        # Run before "-m uvicorn", e.g. a profiler: ("-m", "pyinstrument", "-o", "out.txt").
        self.interpreter_args = tuple(interpreter_args)
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.app = app or f"halcyon.{service}.app:app"
        self.log_path = log_dir / f"{service}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *self.interpreter_args,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--lifespan",
                "on",
                # A fresh context per request: otherwise a reused connection can carry
                # one request's trace into the next (CPython #140947, uvicorn #2167).
                "--reset-contextvars",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> ServiceProcess:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.service} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    answered = _service_of(response)
                    if answered in (None, self.service):
                        return self
                    # Another process holds the port: ours will fail to bind and exit
                    # (reported above with its log); never take the other for ours.
                    last = f"port {self.port} is answered by {answered}"
                last = response.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.service} not ready after {timeout}s ({last}):\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, nothing is flushed or committed."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def restart(self, **env: str) -> ServiceProcess:
        self.stop()
        self.env.update(env)
        return self.start()

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
