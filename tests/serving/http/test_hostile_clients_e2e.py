"""Hostile clients against a real ``docket serve``: a stalled body, a token guesser.

Raw sockets play the slow client; a second loopback address (127.0.0.2, .3)
plays the guesser, so it is a different client from the one on 127.0.0.1 that
keeps being served meanwhile.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.ledger import DecisionLog

from ..server import docket_server

pytestmark = pytest.mark.e2e

BODY_TIMEOUT_S = 2
HEADER_TIMEOUT_S = 3
MAX_FAILURES = 5
LOCKOUT_S = 120
#: how late past the body limit the 408 may come (a loaded 2-core machine)
SLACK_S = 8


@dataclass
class Served:
    url: str
    log_path: Path
    key: str
    auditor: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        assert parts.hostname and parts.port
        return parts.hostname, parts.port


@pytest.fixture(scope="module")
def served(served_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("hostile")
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{home / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    key = create_key(log.engine, "application", "intake app")[0]
    auditor = add_person(log.engine, "Ava Auditor", ["auditor"], "test setup")[0]
    log.close()
    env = {
        "DOCKET_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_S),
        "DOCKET_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_S),
        "DOCKET_AUTH_MAX_FAILURES": str(MAX_FAILURES),
        "DOCKET_AUTH_WINDOW_SECONDS": "600",
        "DOCKET_AUTH_LOCKOUT_SECONDS": str(LOCKOUT_S),
        # the shared registry is read-only: the session key is not written into it
        "DOCKET_SESSION_KEY": secrets.token_hex(32),
    }
    with docket_server(settings, home, env=env) as url:
        port = urlsplit(url).port
        yield Served(url, home / f"serve-{port}.log", key, auditor)


def _normal_client_while(served: Served, busy: threading.Event) -> list[int]:
    """GET /cases as the auditor from 127.0.0.1 until ``busy`` is cleared; the statuses."""
    statuses: list[int] = []
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {served.auditor}"}) as c:
        while busy.is_set() and len(statuses) < 500:
            statuses.append(c.get(f"{served.url}/cases").status_code)
            time.sleep(0.05)
    return statuses


def test_a_client_that_stalls_its_body_is_cut_off_and_others_are_served(served: Served) -> None:
    # given: headers announcing 1000 bytes, then 20 bytes trickled one every 0.2 s, then nothing
    head = (
        "POST /decide HTTP/1.1\r\n"
        f"Host: {served.address[0]}:{served.address[1]}\r\n"
        f"Authorization: Bearer {served.key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    busy = threading.Event()
    busy.set()
    normal: list[int] = []
    runner = threading.Thread(target=lambda: normal.extend(_normal_client_while(served, busy)))
    runner.start()
    answer = b""
    try:
        with socket.create_connection(served.address, timeout=BODY_TIMEOUT_S + SLACK_S) as slow:
            started = time.monotonic()
            slow.sendall(head)
            slow.settimeout(0.2)
            for _ in range(20):
                try:
                    slow.sendall(b" ")
                except OSError:
                    break  # cut off while trickling
                try:
                    answer += slow.recv(65536)
                    break
                except TimeoutError:
                    continue
            slow.settimeout(max(0.1, BODY_TIMEOUT_S + SLACK_S - (time.monotonic() - started)))
            while True:
                try:
                    chunk = slow.recv(65536)
                except (TimeoutError, ConnectionResetError):
                    break
                if not chunk:
                    break  # closed by the server
                answer += chunk
            took = time.monotonic() - started
    finally:
        busy.clear()
        runner.join(timeout=30)

    # then: 408 naming the limit, not before the limit and well within it plus slack
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"DOCKET_BODY_TIMEOUT_SECONDS" in answer
    assert BODY_TIMEOUT_S - 0.5 <= took <= BODY_TIMEOUT_S + SLACK_S, took
    # and the other client was answered all along
    assert len(normal) >= 5 and set(normal) == {200}, normal


def _bind(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def test_a_token_guesser_is_locked_out_and_a_good_client_is_never_affected(served: Served) -> None:
    # given: a guesser on 127.0.0.2, a good client on 127.0.0.1
    guesser = _bind("127.0.0.2")
    good = httpx.Client(timeout=10)
    bad_keys = [f"dk_{i:012x}_{'g' * 43}" for i in range(MAX_FAILURES + 3)]

    # when: the guesser tries bad keys (header and bearer), the good client works in between
    statuses, served_meanwhile = [], []
    for i, bad in enumerate(bad_keys):
        headers = {"X-API-Key": bad} if i % 2 else {"Authorization": f"Bearer {bad}"}
        statuses.append(guesser.get(f"{served.url}/cases", headers=headers).status_code)
        served_meanwhile.append(
            good.get(
                f"{served.url}/cases", headers={"Authorization": f"Bearer {served.auditor}"}
            ).status_code
        )
    with_good_token = guesser.get(
        f"{served.url}/cases", headers={"Authorization": f"Bearer {served.auditor}"}
    )
    # a forged X-Forwarded-For from an untrusted address changes nothing
    forged = guesser.get(
        f"{served.url}/cases",
        headers={"Authorization": f"Bearer {served.auditor}", "X-Forwarded-For": "10.1.2.3"},
    )

    # then
    assert statuses[: MAX_FAILURES - 1] == [401] * (MAX_FAILURES - 1)
    assert statuses[MAX_FAILURES - 1 :] == [429] * (len(bad_keys) - MAX_FAILURES + 1)
    assert with_good_token.status_code == 429 and forged.status_code == 429
    assert "even with a correct token" in with_good_token.json()["error"]
    assert 1 <= int(with_good_token.headers["retry-after"]) <= LOCKOUT_S
    assert served_meanwhile == [200] * len(bad_keys)
    # the lock-out is logged once, with the address
    deadline = time.monotonic() + 10
    while "client 127.0.0.2 locked out" not in served.log_path.read_text():
        assert time.monotonic() < deadline, served.log_path.read_text()[-3000:]
        time.sleep(0.2)
    assert served.log_path.read_text().count("client 127.0.0.2 locked out") == 1
    guesser.close()
    good.close()


def test_refused_console_sign_ins_lock_the_address_out_of_signing_in(served: Served) -> None:
    # given: a browser-like client on 127.0.0.3 that fetches the sign-in form each time
    browser = _bind("127.0.0.3")
    other = httpx.Client(timeout=10)

    def attempt(client: httpx.Client, token: str) -> httpx.Response:
        form = client.get(f"{served.url}/console/login")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        return client.post(
            f"{served.url}/console/login",
            data={"token": token, "csrf_token": csrf, "next": "/console/"},
        )

    # when
    tries = [attempt(browser, f"dp_{i:016x}_{'x' * 43}").status_code for i in range(MAX_FAILURES)]
    correct = attempt(browser, served.auditor)
    elsewhere = attempt(other, served.auditor)

    # then: refused sign-ins, then 429 even for the right token; 127.0.0.1 signs in
    assert tries == [401] * (MAX_FAILURES - 1) + [429]
    assert correct.status_code == 429 and "retry-after" in correct.headers
    assert elsewhere.status_code == 303
    browser.close()
    other.close()


def test_an_idle_keep_alive_connection_is_closed_by_the_server(served: Served) -> None:
    # given: one request answered on a kept-alive connection
    with socket.create_connection(served.address, timeout=30) as idle:
        idle.sendall(f"GET /readyz HTTP/1.1\r\nHost: {served.address[0]}\r\n\r\n".encode())
        started = time.monotonic()
        received = b""
        # when: the client sends nothing more
        while True:
            chunk = idle.recv(65536)
            if not chunk:
                break
            received += chunk
        took = time.monotonic() - started

    # then: uvicorn closed it (BentoML's worker default keep-alive is 5 s)
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    assert took < 5 + SLACK_S, took


def _closed_after(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sent until it closed ``sock`` (or ``limit`` passed), and when."""
    started = time.monotonic()
    received = b""
    sock.settimeout(limit)
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize("sent", [b"", b"GET /readyz HTTP/1.1\r\nHost: x\r\n"])
def test_a_client_that_never_finishes_its_headers_is_cut_off(served: Served, sent: bytes) -> None:
    # given: a connection that sends nothing, or half a request's headers, then stalls
    busy = threading.Event()
    busy.set()
    normal: list[int] = []
    runner = threading.Thread(target=lambda: normal.extend(_normal_client_while(served, busy)))
    runner.start()
    try:
        with socket.create_connection(served.address, timeout=30) as slow:
            slow.sendall(sent)
            # when: it waits for an answer
            received, took = _closed_after(slow, HEADER_TIMEOUT_S + SLACK_S + 5)
    finally:
        busy.clear()
        runner.join(timeout=30)

    # then: the server closed it after the header limit, with nothing sent; others were served
    assert received == b"", received[:200]
    assert HEADER_TIMEOUT_S - 0.5 <= took <= HEADER_TIMEOUT_S + SLACK_S, took
    assert len(normal) >= 5 and set(normal) == {200}, normal


def _one_response(conn: socket.socket) -> bytes:
    """One whole response (headers, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_kept_alive_connection_whose_next_headers_come_in_time_is_served(
    served: Served,
) -> None:
    # given: one request answered, then, within the header limit, a second request
    with socket.create_connection(served.address, timeout=30) as conn:
        request = f"GET /readyz HTTP/1.1\r\nHost: {served.address[0]}\r\n\r\n".encode()
        conn.sendall(request)
        first = _one_response(conn)
        time.sleep(HEADER_TIMEOUT_S / 3)
        conn.sendall(request)
        second = _one_response(conn)

    # then: both answered on the same connection
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    assert second.startswith(b"HTTP/1.1 200"), second[:200]
