"""Concurrent clients: applications asking for decisions, reviewers working referred cases.

Every answer is counted by what it was (200, another status, or no answer at all:
a connection error or a timeout), and every acknowledged decision and resolution
is kept, so the checks afterwards can ask the ledger for each one. Loops are
bounded by :meth:`Load.stop` and by a hard deadline, and slow down while the
server is unreachable instead of spinning.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.stack import MIN_REVIEW_SECONDS, USE_CASE, Stack

__all__ = ["Counts", "Load"]

REQUEST_TIMEOUT_S = 60
PAUSE_AFTER_ERROR_S = 0.1
NO_ANSWER = "no answer"


@dataclass
class Counts:
    """What the clients saw; ``answers`` counts each status code (or ``NO_ANSWER``)."""

    answers: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)  # "POST /decide 503", ...
    decided: set[str] = field(default_factory=set)  # decision ids answered 200
    resolved: set[str] = field(default_factory=set)  # case ids whose resolution got 200
    review_actions: Counter[str] = field(default_factory=Counter)  # "claim 200", ...
    # seconds taken by each answer that was not a 200 (503s, 504s, ...), by status
    refusal_seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.answers.values())


class Load:
    """``deciders`` application threads and one thread per reviewer token, until stopped."""

    def __init__(
        self,
        url: Callable[[], str],
        stack: Stack,
        seed: int,
        *,
        deciders: int = 4,
        max_seconds: float = 300,
    ) -> None:
        self._url, self._stack, self._seed = url, stack, seed
        self._deciders = deciders
        self._deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cases: queue.Queue[str] = queue.Queue()
        self.counts = Counts()
        self._threads = [
            threading.Thread(target=self._decide_loop, args=(i,), daemon=True)
            for i in range(deciders)
        ] + [
            threading.Thread(target=self._review_loop, args=(token,), daemon=True)
            for token in stack.reviewer_tokens
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Counts:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        assert not any(t.is_alive() for t in self._threads), "a client thread did not stop"
        return self.counts

    def snapshot(self) -> Counter[str]:
        """The answers so far (a copy), to count what one phase of a run got."""
        with self._lock:
            return Counter(self.counts.answers)

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _send(
        self, client: httpx.Client, method: str, path: str, token: str, body: Any = None
    ) -> httpx.Response | None:
        t0 = time.monotonic()
        try:
            response = client.request(
                method,
                f"{self._url()}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError:
            with self._lock:
                self.counts.answers[NO_ANSWER] += 1
                self.counts.by_route[f"{method} {_route(path)} {NO_ANSWER}"] += 1
            time.sleep(PAUSE_AFTER_ERROR_S)
            return None
        took = time.monotonic() - t0
        status = str(response.status_code)
        with self._lock:
            self.counts.answers[status] += 1
            self.counts.by_route[f"{method} {_route(path)} {status}"] += 1
            if response.status_code != 200:
                self.counts.refusal_seconds.setdefault(status, []).append(took)
        if response.status_code >= 500:
            time.sleep(PAUSE_AFTER_ERROR_S)
        return response

    def _decide_loop(self, index: int) -> None:
        rng = random.Random(self._seed * 1000 + index)
        rows = self._stack.rows
        with httpx.Client(timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
            while self._running():
                features = rows[rng.randrange(len(rows))]
                body = {"use_case": USE_CASE, "features": features}
                made = self._send(client, "POST", "/decide", self._stack.app_key, body)
                if made is None or made.status_code != 200:
                    continue
                view = made.json()
                with self._lock:
                    self.counts.decided.add(view["decision_id"])
                if view.get("case_id"):
                    self._cases.put(view["case_id"])

    def _review_loop(self, token: str) -> None:
        resolution = {"outcome": "approved", "reason_code": "model_reasons_confirmed"}
        with httpx.Client(timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
            while self._running():
                try:
                    case_id = self._cases.get(timeout=0.5)
                except queue.Empty:
                    continue
                steps = (
                    ("claim", "POST", f"/cases/{case_id}/claim", None),
                    ("open", "GET", f"/cases/{case_id}", None),
                    ("resolve", "POST", f"/cases/{case_id}/resolve", resolution),
                )
                for name, method, path, body in steps:
                    if name == "resolve":
                        time.sleep(MIN_REVIEW_SECONDS + 0.1)
                    answer = self._send(client, method, path, token, body)
                    status = NO_ANSWER if answer is None else str(answer.status_code)
                    with self._lock:
                        self.counts.review_actions[f"{name} {status}"] += 1
                    if answer is None or answer.status_code != 200:
                        break  # the case stays claimed or open; another run of the loop goes on
                    if name == "resolve":
                        with self._lock:
                            self.counts.resolved.add(case_id)


def _route(path: str) -> str:
    """``/cases/<id>/claim`` -> ``/cases/{id}/claim``: counts by route, not by case."""
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "cases":
        parts[2] = "{id}"
    return "/".join(parts)
