"""Clickjacking in a real browser: a page on another origin cannot frame the console.

A small page served from another loopback port frames the console's sign-in page
(where a token is typed) and, as a control, a page of its own origin. Chromium
must show the control and refuse the console (``frame-ancestors 'self'`` and
``X-Frame-Options: SAMEORIGIN``).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.settings import Settings
from serving.ledger import DecisionLog
from tests.console.browser import chromium
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def console_url(served_settings: Settings, tmp_path: Path) -> Iterator[str]:
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    DecisionLog(settings.database_url).migrate()
    env = {"DOCKET_SESSION_KEY": secrets.token_hex(32)}
    with docket_server(settings, tmp_path, env=env) as url:
        yield url


@pytest.fixture
def framer(console_url: str) -> Iterator[str]:
    """Another origin (127.0.0.1, another port) whose page frames the console."""
    pages = {
        "/attack.html": (
            "<!doctype html><title>attacker</title>"
            f"<iframe name='console' src='{console_url}/console/login' width=600 height=400></iframe>"
            # the control is cross-origin too (localhost, not 127.0.0.1) but allows framing
            "<iframe name='control' src='{control}/inner.html' width=600 height=100></iframe>"
        ),
        "/inner.html": (
            "<!doctype html><title>inner</title><p id='inner'>framed fine</p>"
            "<label for='token'>Token</label><input id='token'>"
        ),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            port = self.server.server_address[1]
            text = pages.get(self.path, "not found")
            body = text.replace("{control}", f"http://localhost:{port}").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_another_origin_cannot_frame_the_console(console_url: str, framer: str) -> None:
    # given
    assert framer.rsplit(":", 1)[1] != console_url.rsplit(":", 1)[1]
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        refusals: list[str] = []
        page.on("console", lambda message: refusals.append(message.text))

        # when
        page.goto(f"{framer}/attack.html", wait_until="load")
        page.wait_for_timeout(500)
        frames = {frame.name: frame for frame in page.frames}

        # then: the control frame (another origin) shows its page and its field
        assert frames["control"].locator("#inner").inner_text() == "framed fine"
        assert frames["control"].locator("#token").count() == 1
        # and the console frame shows no sign-in form
        console_frame = frames["console"]
        assert console_frame.locator("#token").count() == 0
        assert console_frame.get_by_text("Sign in").count() == 0
        assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in refusals), (
            refusals
        )

        # and the same page opened directly (not framed) does show the form
        direct = browser.new_page()
        direct.goto(f"{console_url}/console/login")
        assert direct.locator("#token").count() == 1
