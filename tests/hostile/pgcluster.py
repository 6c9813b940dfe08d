"""A throwaway PostgreSQL cluster on its own port that a test may freeze (SIGSTOP) and thaw, or
stop and start again.

Never the shared server on 5432: the cluster is created with ``pg_createcluster`` under a unique
name, trusted on loopback only, and dropped (after a SIGCONT) when the test is done.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.hostile.served import free_port


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def processes(self) -> list[int]:
        """The postmaster and every process it forked (backends, checkpointer, walwriter, …)."""
        root = self.postmaster()
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == root:
                children.append(int(entry.name))
        return [root, *children]

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster first (so it forks nothing new), then its children."""
        stopped = self.processes()
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        return stopped

    def stop(self) -> None:
        """Stop the server (fast mode: sessions are disconnected, as in a restart or failover)."""
        subprocess.run(["pg_ctlcluster", self.version, self.name, "stop", "-m", "fast"], check=True)

    def start(self) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, "start"], check=True)

    def thaw(self, pids: list[int]) -> None:
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _version() -> str | None:
    root = Path("/usr/lib/postgresql")
    versions = (
        sorted((p.name for p in root.iterdir() if (p / "bin" / "initdb").exists()), key=float)
        if root.exists()
        else []
    )
    return versions[-1] if versions else None


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Create, start, yield and finally drop a cluster; skip (fail under ``CI=true``) without tools."""
    version = _version()
    if shutil.which("pg_createcluster") is None or version is None or os.geteuid() != 0:
        reason = "needs pg_createcluster and root to run a throwaway PostgreSQL cluster"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"aispend_hostile_{uuid.uuid4().hex[:8]}"
    port = free_port()
    subprocess.run(
        ["pg_createcluster", version, name, "-p", str(port), "--start", "--", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    data = Path(f"/var/lib/postgresql/{version}/{name}")
    cluster = Cluster(version, name, port, data)
    frozen: list[int] = []
    try:
        yield cluster
    finally:
        try:
            frozen = cluster.processes()
        except OSError:
            frozen = []
        cluster.thaw(frozen)
        subprocess.run(["pg_dropcluster", version, name, "--stop"], check=False, capture_output=True)
