"""The mounted app's refusals keep the service's shape: database outages are 503, parse errors name the body."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from serving.access import allow
from serving.http.app import MESSAGE_LEDGER_DOWN, MESSAGE_UNPARSED, create_app
from serving.ledger import LogWriteError

SECRET_URL = "postgresql://docket:pw-NeverShown@db.internal/ledger"


def _app_with_failing_routes() -> TestClient:
    app = create_app()

    @app.post("/test/ledger-write")
    @allow("admin")
    def ledger_write() -> dict[str, str]:
        raise LogWriteError(f"append review_action: could not reach {SECRET_URL}")

    @app.get("/test/database-read")
    @allow("admin")
    def database_read() -> dict[str, str]:
        raise OperationalError("SELECT 1", {}, Exception(f"connection to {SECRET_URL} refused"))

    return TestClient(app, raise_server_exceptions=False)


def test_a_ledger_that_cannot_be_written_is_a_503_with_retry_after_and_no_url() -> None:
    answer = _app_with_failing_routes().post("/test/ledger-write")
    assert answer.status_code == 503
    assert answer.json() == {"error": MESSAGE_LEDGER_DOWN}
    assert answer.headers["retry-after"] == "5"
    assert "pw-NeverShown" not in answer.text


def test_a_database_read_that_fails_is_a_503_not_a_500() -> None:
    answer = _app_with_failing_routes().get("/test/database-read")
    assert answer.status_code == 503
    assert answer.json()["error"] == MESSAGE_LEDGER_DOWN


def test_a_body_that_is_not_json_gets_the_service_error_shape() -> None:
    # given: an appeal nested deeper than the JSON parser goes
    client = TestClient(create_app(), raise_server_exceptions=False)

    # when
    answer = client.post(
        "/appeals", content=b"[" * 3000, headers={"content-type": "application/json"}
    )

    # then: 400 with {"error": ...} (not FastAPI's {"detail": ...})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"error": MESSAGE_UNPARSED}


def test_an_unknown_path_of_the_mounted_app_answers_json() -> None:
    answer = TestClient(create_app()).get("/no-such-route")
    assert answer.status_code == 404
    assert answer.json() == {"error": "Not Found"}
