"""Shared fixtures: a real Gumshoe server in a subprocess on a free port, and boto3 clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `gumshoe serve` process. ``client(account)`` gives a boto3 Detective client whose
    access key id is the account id (or any configured key)."""

    def __init__(self, data_dir: Path, config: Path | None, args: list[str], env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.config = config
        self.args = args
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "gumshoe", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        cmd += self.args
        env = {**os.environ, **self.env}
        env.setdefault("GUMSHOE_AUDIT_FLUSH_INTERVAL", "0.2")
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.data_dir.parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/_gumshoe/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """kill -9: no shutdown hooks run."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def client(self, access_key: str = "123456789012", region: str = "us-east-1", secret: str = "test-secret", **kw: Any) -> Any:
        return boto3.client(
            "detective",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, **kw),
        )


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``make_server(config_toml="...", args=[...], env={...})`` starts a server."""
    servers: list[Server] = []

    def factory(config_toml: str | None = None, args: list[str] | None = None, env: dict[str, str] | None = None,
                data_dir: Path | None = None) -> Server:
        config = None
        if config_toml is not None:
            config = tmp_path / f"gumshoe-{len(servers)}.toml"
            config.write_text(config_toml)
        server = Server(data_dir or tmp_path / "data", config, args or [], env or {})
        servers.append(server)
        return server.start()

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Any) -> Any:
    return make_server()
