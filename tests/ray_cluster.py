"""A real local Ray cluster for the distributed tests: a child process group of its own, ended by its id."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_SECONDS = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    """``ray start --head --block`` on 127.0.0.1 with at most 2 CPUs, its own temp dir and ports.

    Stopped by killing its process group (never `ray stop`, never by name: others may run Ray here).
    """

    def __init__(self, cpus: int = 2):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
        ray = Path(sys.executable).with_name("ray")
        ports = {"--node-manager-port": free_port(), "--object-manager-port": free_port(),
                 "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                 "--metrics-export-port": free_port(), "--runtime-env-agent-port": free_port(),
                 "--ray-client-server-port": free_port(), "--dashboard-port": free_port()}
        command = [str(ray), "start", "--head", "--block", f"--num-cpus={cpus}", "--num-gpus=0",
                   "--node-ip-address=127.0.0.1", f"--port={self.port}", "--include-dashboard=false",
                   "--disable-usage-stats", f"--temp-dir={self.temp}",
                   *(f"{flag}={port}" for flag, port in ports.items())]
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0")
        self.log = open(self.temp / "start.log", "w")  # noqa: SIM115 - kept open for the cluster's life
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        self.pgid = self.process.pid  # start_new_session: the group's id is the child's pid
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited: {(self.temp / 'start.log').read_text()[-2000:]}")
            if self._ready():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Ray cluster did not come up in {START_SECONDS} s")

    def _ready(self) -> bool:
        log = (self.temp / "start.log").read_text(errors="replace")
        return "Ray runtime started" in log or "--block" in log and "started" in log

    def descendants(self) -> list[tuple[int, str]]:
        """(pid, command line) of every process under the cluster's `ray start`."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                try:
                    command = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                found.append((child, command))
                todo.append(child)
        return found

    def stop(self) -> None:
        pids = [pid for pid, _ in self.descendants()]
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)  # `ray start --block` may linger on SIGTERM
        except subprocess.TimeoutExpired:
            os.killpg(self.pgid, signal.SIGKILL)
            self.process.wait(timeout=10)
        for pid in pids:  # workers that left the group (Ray's own daemons do) but are this cluster's
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)
