"""The console in process: the real app behind the real gatekeeper, on a private decision log.

The registry is the shared, read-only ``served_settings`` one; the decision log
and the session key are the test's own. Browser tests against a real
``docket serve`` live in ``tests/console``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.settings import Settings
from serving.access import Gatekeeper, add_person
from serving.decisions import DecisionEngine
from serving.http.app import create_app
from serving.http.routers import ROUTERS
from serving.http.routes import route_table
from serving.http.service import DECIDE
from serving.review import ReviewDesk, open_referral_case

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    """A console app with its engine, desk and a way to sign people in."""

    settings: Settings
    engine: DecisionEngine
    desk: ReviewDesk
    app: Gatekeeper

    def person(self, name: str, *roles: str) -> str:
        """Add a person; their personal token."""
        token, _ = add_person(
            self.engine.log.engine, name, list(roles), created_by="test", log=self.engine.log
        )
        return token

    def client(self) -> TestClient:
        """A browser-like client (keeps cookies, does not follow redirects)."""
        return TestClient(self.app, base_url="http://127.0.0.1", follow_redirects=False)

    def signed_in(self, name: str, *roles: str) -> TestClient:
        """A client signed in as a new person with ``roles``."""
        client = self.client()
        sign_in(client, self.person(name, *roles))
        return client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a csrf_token"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> None:
    """Sign in through the login form, as a browser would."""
    form = client.get("/console/login")
    assert form.status_code == 200
    done = client.post(
        "/console/login",
        data={"token": token, "csrf_token": csrf_of(form.text), "next": "/console/"},
    )
    assert done.status_code == 303, done.text


@pytest.fixture
def console(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    # the shared registry is read-only: the session key comes from the environment
    monkeypatch.setenv("DOCKET_SESSION_KEY", secrets.token_hex(32))
    engine = DecisionEngine(settings, on_referred=open_referral_case)
    engine.start()

    def spec_for(use_case: str):  # type: ignore[no-untyped-def]
        try:
            return engine.served(use_case).spec
        except Exception:
            return None

    desk = ReviewDesk(engine.log, spec_for=spec_for)
    app = create_app()
    app.state.engine = engine
    app.state.desk = desk
    gate = Gatekeeper(app, table=route_table(ROUTERS, DECIDE), engine=engine.log.engine)
    yield Console(settings=settings, engine=engine, desk=desk, app=gate)
    engine.close()
