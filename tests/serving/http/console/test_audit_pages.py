"""The auditor's pages in process: use cases, versions and their documents, promotions,
decision search and one decision, review statistics, the ledger."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import escape
from mlflow.tracking import MlflowClient
from sqlalchemy import text

from serving.access import Principal
from serving.decisions.validation import DecideRequest
from tests.serving.paths import rows_by_path

from .conftest import Console

USE_CASE = "synthetic-eligibility"
APP = Principal.local("loan-desk", role="application")
# the policy the brief asks the embedded documents to carry
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


def _registry(console: Console) -> MlflowClient:
    uri = console.settings.tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _approved(console: Console) -> dict[str, Any]:
    features = rows_by_path(console.engine, USE_CASE)["approve"][0]
    view = console.engine.decide(DecideRequest(use_case=USE_CASE, features=features), APP)
    assert view.outcome == "approved", view.outcome
    return view.model_dump(mode="json")


def _row_ids(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('data-decision="')[1:]]


def test_the_use_cases_page_links_each_champion_and_candidate(console: Console) -> None:
    # given
    client = console.signed_in("Aud", "auditor")
    mlflow = _registry(console)
    names = sorted(m.name for m in mlflow.search_registered_models())
    champions = {
        n: mlflow.get_model_version_by_alias(n, "champion").version
        for n in names
        if "champion" in mlflow.get_registered_model(n).aliases
    }

    # when
    shown = client.get("/console/use-cases")

    # then
    assert shown.status_code == 200
    assert champions, "the shared registry has champions"
    for name in names:
        assert f">{name}</h2>" in shown.text
    for name, version in champions.items():
        link = f'href="/console/use-cases/{name}/versions/{version}">{name} version {version}'
        assert f"{link} (champion)</a>" in shown.text


def test_a_senior_reviewer_sees_use_cases_but_a_reviewer_does_not(console: Console) -> None:
    # given
    senior = console.signed_in("Sam", "senior_reviewer")
    reviewer = console.signed_in("Rita", "reviewer")

    # when / then
    assert senior.get("/console/use-cases").status_code == 200
    assert reviewer.get("/console/use-cases").status_code == 403


def test_a_version_page_frames_its_card_and_audit_which_carry_their_own_policy(
    console: Console,
) -> None:
    # given: the champion, and its latest audit as the registry names it
    client = console.signed_in("Aud", "auditor")
    mlflow = _registry(console)
    mv = mlflow.get_model_version_by_alias(USE_CASE, "champion")
    audit_id = mv.tags["audit.id"]
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.download_artifacts(mv.run_id, f"audits/{audit_id}/report.html", tmp)
        expected_audit = Path(path).read_text(encoding="utf-8")
    base = f"/console/use-cases/{USE_CASE}/versions/{mv.version}"

    # when
    shown = client.get(base)
    card = client.get(f"{base}/card")
    audit = client.get(f"{base}/audit")

    # then
    assert shown.status_code == 200
    assert f'<iframe class="document" title="Model card of {USE_CASE}' in shown.text
    assert f'src="{base}/card"' in shown.text and f'src="{base}/audit"' in shown.text
    assert card.status_code == 200 and card.headers["content-security-policy"] == DOCUMENT_CSP
    assert USE_CASE in card.text and "<style" in card.text
    assert audit.status_code == 200 and audit.headers["content-security-policy"] == DOCUMENT_CSP
    assert audit.text == expected_audit
    # the console's own pages keep the strict policy
    assert "'unsafe-inline'" not in shown.headers["content-security-policy"]


def test_an_unknown_version_or_use_case_is_a_404_naming_what_exists(console: Console) -> None:
    # given
    client = console.signed_in("Aud", "auditor")
    mlflow = _registry(console)
    versions = sorted(int(v.version) for v in mlflow.search_model_versions(f"name='{USE_CASE}'"))

    # when
    no_version = client.get(f"/console/use-cases/{USE_CASE}/versions/999")
    no_use_case = client.get("/console/use-cases/no-such-thing/versions/1")
    no_card = client.get("/console/use-cases/no-such-thing/versions/1/card")

    # then
    assert no_version.status_code == 404
    assert str(escape(str(versions))) in no_version.text
    assert no_use_case.status_code == 404 and USE_CASE in no_use_case.text
    assert no_card.status_code == 404
    assert no_card.headers["content-security-policy"] == DOCUMENT_CSP


def test_the_promotions_page_shows_each_use_cases_history(console: Console) -> None:
    # given: who promoted the champion, from the registry's own history tags
    client = console.signed_in("Aud", "auditor")
    model = _registry(console).get_registered_model(USE_CASE)
    histories = [v for k, v in model.tags.items() if k.startswith("docket.history.")]

    # when
    shown = client.get("/console/promotions")

    # then
    assert shown.status_code == 200
    assert histories, "the synthetic use case was promoted"
    assert f"Promotion history of {USE_CASE}" in shown.text
    assert "Waiver requests" in shown.text


def test_a_decision_is_found_by_id_and_by_use_case_and_outcome_only(console: Console) -> None:
    # given
    client = console.signed_in("Aud", "auditor")
    made = _approved(console)
    decision_id = made["decision_id"]

    # when
    by_id = client.get("/console/decisions", params={"decision_id": decision_id})
    by_outcome = client.get(
        "/console/decisions", params={"use_case": USE_CASE, "outcome": "approved"}
    )
    other_outcome = client.get(
        "/console/decisions", params={"use_case": USE_CASE, "outcome": "declined"}
    )
    final_only = client.get("/console/decisions", params={"status": "final"})
    pending_only = client.get("/console/decisions", params={"status": "pending_review"})

    # then
    assert by_id.status_code == 200 and _row_ids(by_id.text) == [decision_id]
    assert decision_id in _row_ids(by_outcome.text)
    assert decision_id not in _row_ids(other_outcome.text)
    assert decision_id in _row_ids(final_only.text)
    assert decision_id not in _row_ids(pending_only.text)
    assert "At most 100 decisions" in by_id.text


def test_a_malformed_date_is_a_400_naming_the_field(console: Console) -> None:
    # given
    client = console.signed_in("Aud", "auditor")

    # when
    shown = client.get("/console/decisions", params={"date_from": "31/12/2026"})

    # then
    assert shown.status_code == 400
    assert "date_from" in shown.text and "31/12/2026" in shown.text


def test_the_decision_page_shows_outcome_score_versions_and_notice(console: Console) -> None:
    # given
    client = console.signed_in("Aud", "auditor")
    made = _approved(console)
    score = f"{made['score'] * 100:.1f}%"

    # when
    shown = client.get(f"/console/decisions/{made['decision_id']}")
    missing = client.get("/console/decisions/" + "0" * 32)

    # then
    assert shown.status_code == 200
    assert score in shown.text
    assert f"/versions/{made['model_version']}" in shown.text
    assert f"Decision {made['decision_id']}: your application was approved." in shown.text
    assert "no person reviewed it" in shown.text
    assert missing.status_code == 404 and "0" * 32 in missing.text


def test_review_statistics_before_any_resolution_say_so(console: Console) -> None:
    # given: a private log where no case was resolved
    client = console.signed_in("Aud", "auditor")

    # when
    shown = client.get("/console/review-stats")

    # then
    assert shown.status_code == 200
    assert "No reviewer has resolved a case yet." in shown.text


def test_review_statistics_count_a_reviewers_case_and_its_time(console: Console) -> None:
    # given: a referred case opened, then resolved 150 seconds later by the desk's clock
    client = console.signed_in("Aud", "auditor")
    features = rows_by_path(console.engine, USE_CASE)["uncertain"][0]
    view = console.engine.decide(DecideRequest(use_case=USE_CASE, features=features), APP)
    assert view.case_id is not None
    moments = iter([datetime.now(UTC) + timedelta(seconds=s) for s in (0, 0, 150)])
    console.desk.clock = lambda: next(moments)
    rita = {"person_id": "p-rita", "person_name": "Rita Reviewer", "roles": {"reviewer"}}
    console.desk.claim(view.case_id, **rita)
    console.desk.open(view.case_id, **rita)
    console.desk.resolve(
        view.case_id, **rita, outcome="approved", reason_code="income_verified", note="payslips"
    )

    # when
    shown = client.get("/console/review-stats")

    # then: one case; 150 s is 2.5 min
    assert shown.status_code == 200
    row = shown.text.split('<th scope="row">Rita Reviewer</th>', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">1</td>' in row
    assert "2.5 min" in row


def test_the_ledger_page_says_the_chain_verifies_and_counts_entries(console: Console) -> None:
    # given: the entries as counted straight from the table
    client = console.signed_in("Aud", "auditor")
    _approved(console)
    with console.engine.log.engine.connect() as db:
        count = db.execute(text("SELECT COUNT(*) FROM log_entries")).scalar_one()

    # when
    shown = client.get("/console/ledger")

    # then
    assert shown.status_code == 200
    assert "The hash chain verifies." in shown.text
    assert f"<dt>Entries checked</dt><dd>{count}</dd>" in shown.text


def test_the_ledger_page_shows_the_signing_key_and_log_id(console: Console, tmp_path: Path) -> None:
    # given: a signing key, a checkpoint over the ledger, and the log id computed here
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from serving.ledger.checkpointing import Checkpointing
    from serving.ledger.signing import Signer
    from serving.ledger.witness import WitnessSinks

    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    _approved(console)
    checkpointing = Checkpointing(
        console.engine.log, Signer(private), WitnessSinks([tmp_path / "witness"])
    )
    written = checkpointing.write()
    assert written is not None
    console.app.app.state.checkpointing = checkpointing  # type: ignore[attr-defined]
    client = console.signed_in("Aud", "auditor")

    # when
    shown = client.get("/console/ledger")

    # then
    assert shown.status_code == 200
    assert f"<dt>Log id</dt><dd><code>{hashlib.sha256(raw).hexdigest()}</code></dd>" in shown.text
    assert f"<pre>{pem}</pre>" in shown.text
    assert f"{written.tree_size} entries, signed {written.timestamp}" in shown.text


def test_without_a_signing_key_the_ledger_page_says_how_to_make_one(console: Console) -> None:
    client = console.signed_in("Aud", "auditor")
    shown = client.get("/console/ledger")
    assert shown.status_code == 200
    assert "No checkpoints: no ledger key (docket ledger keygen)" in shown.text


def test_a_reviewer_may_not_open_the_ledger_or_the_decisions(console: Console) -> None:
    # given
    client = console.signed_in("Rita", "reviewer")

    # when / then
    assert client.get("/console/ledger").status_code == 403
    assert client.get("/console/decisions").status_code == 403
