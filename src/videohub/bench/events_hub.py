"""The hub under test for the events benchmark: `videohub serve` in a child process on a
free port, and a PostgreSQL database made for the run and dropped after it.

The hub runs in a process of its own so that the benchmark's client threads do not share
its interpreter lock: what is measured is the hub serving requests, as it would be for
clients on other machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from videohub.bench.common import worker_env
from videohub.bench.events_data import REGION_WEIGHTS, camera_id

PG_ADMIN_ENV = "VIDEOHUB_BENCH_PG"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`videohub serve` with a config that names the database and `cameras` registered (but
    disabled) cameras, so that video events may name them."""

    def __init__(self, db_url: str, workdir: Path, cameras: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        divisions = list(REGION_WEIGHTS)
        config = {
            "server": {"host": "127.0.0.1", "port": self.port, "rtsp_port": None},
            "database": {"url": db_url},
            "models_dir": None,
            "cameras": [
                {
                    "id": camera_id(i),
                    "stream_url": "rtsp://127.0.0.1:1/none",
                    "enabled": False,
                    "region_code": divisions[i % len(divisions)],
                }
                for i in range(cameras)
            ],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "hub.yaml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        self.log_path = workdir / "hub.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "videohub.cli", "--log-level", "warning", "serve", "-c", str(config_path)],
            env=worker_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(60.0)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/api/v1/taxonomy/regions", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the hub did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # as Ctrl-C: uvicorn and the hub stop cleanly
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def pg_admin_url() -> str:
    return os.environ.get(PG_ADMIN_ENV, PG_ADMIN_DEFAULT)


def pg_unreachable(admin: str) -> str | None:
    """Why PostgreSQL cannot be used (None: it can)."""
    import psycopg

    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # psycopg.OperationalError and friends: no server to talk to
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def pg_version(admin: str) -> str:
    import psycopg

    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@contextlib.contextmanager
def pg_database(admin: str) -> Iterator[str]:
    """A new database for the run (its SQLAlchemy URL), dropped afterwards whatever happens."""
    import psycopg

    name = f"videohub_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgresql+psycopg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
