"""A `docket serve` that a test can kill -9 (one worker, or the whole server) and start again.

`docket serve --workers N` execs ``bentoml serve``: that process is the circus
arbiter, and its children running ``_bentoml_impl.worker.service`` are the
workers. The arbiter starts a new worker when one dies (seen: a killed worker is
replaced within seconds), so a worker kill is followed by waiting for the
replacement; a server kill is followed by starting the server again on the same
state folder and, when it is still free, the same port.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import httpx
import psutil

from models.settings import Settings
from tests.serving.server import _start, _stop, _wait_ready, free_port

__all__ = ["KillableServer"]

WORKER_MODULE = "_bentoml_impl.worker.service"
RESPAWN_TIMEOUT_S = 60
START_ATTEMPTS = 3


class KillableServer:
    """One `docket serve` process tree on 127.0.0.1; :attr:`url` follows restarts."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings, self.workdir, self.workers = settings, workdir, workers
        self.env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self.port = free_port()  # the old port was taken meanwhile
            proc = _start(self.settings, self.workdir, self.port, self.workers, self.env)
            try:
                _wait_ready(proc, self.url, self.workdir / f"serve-{self.port}.log")
            except RuntimeError as exc:
                _stop(proc)
                if "address already in use" not in str(exc).lower():
                    raise
                continue
            self.proc = proc
            self.starts += 1
            self._wait_workers(set())
            return
        raise RuntimeError(f"docket serve could not bind a port in {START_ATTEMPTS} attempts")

    def worker_pids(self) -> set[int]:
        assert self.proc is not None
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return set()
        found = set()
        for child in children:
            with suppress(psutil.Error):
                if WORKER_MODULE in " ".join(child.cmdline()):
                    found.add(child.pid)
        return found

    def _wait_workers(self, gone: set[int]) -> set[int]:
        """Wait until ``self.workers`` live workers, none of them in ``gone``, answer."""
        deadline = time.monotonic() + RESPAWN_TIMEOUT_S
        while time.monotonic() < deadline:
            pids = {p for p in self.worker_pids() if psutil.pid_exists(p)} - gone
            if len(pids) == self.workers and self._ready():
                return pids
            time.sleep(0.2)
        raise RuntimeError(
            f"workers not back within {RESPAWN_TIMEOUT_S} s: {self.worker_pids()}; log: "
            + self.log_tail()
        )

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_worker(self, rng: random.Random) -> int:
        """SIGKILL one worker chosen by ``rng``; return once the arbiter has replaced it."""
        pids = sorted(self.worker_pids())
        assert pids, "no worker to kill"
        victim = rng.choice(pids)
        os.kill(victim, signal.SIGKILL)
        self._wait_workers({victim})
        return victim

    def kill_server(self) -> None:
        """SIGKILL the arbiter and every worker at once, then start again on the same state."""
        assert self.proc is not None
        tree = [self.proc.pid, *self.worker_pids()]
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in tree:  # a worker outside the process group is killed too
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(psutil.pid_exists(p) and _alive(p) for p in tree):
            assert time.monotonic() < deadline, f"processes survived SIGKILL: {tree}"
            time.sleep(0.1)
        self.proc = None
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / f"serve-{self.port}.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no log)"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
