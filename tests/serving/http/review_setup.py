"""Shared setup of the end-to-end review tests: a registry with a patched review policy.

:func:`build_registry` trains the synthetic use case, audits it PASS and
promotes it, after patching its spec so that the minimum review time is short,
every declining resolution needs a senior reviewer (a four-eyes rule a test can
hit at will), and, when asked, the lease and the review deadline are short
enough to run out while a test waits. :class:`Service` talks to a running
``docket serve`` as a named person or application and finds referred decisions
among real rows of the data.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from audits.audit import run_audit
from audits.promotion import promote
from models.settings import Settings
from models.spec import load_spec
from serving.access.promotions import ledger_recorder
from serving.ledger import DecisionLog
from training.synthetic import write_synthetic
from training.train import train_use_case

USE_CASE = "synthetic-eligibility"
FEATURES = ("income", "debt", "years_employed", "employment", "postcode_score")
FOUR_EYES_REASON = "Every decline by a person is confirmed by a senior reviewer."
_REVIEW_AS_SHIPPED = """\
[review]
lease_minutes = 30
min_review_seconds = 30
"""
_SECOND_REVIEW_AS_SHIPPED = """\
[[review.second_review]]
outcome = "approved"
model_recommendation = "decline"
feature = "debt"
above = 40000
reason = "Approving debt above 40,000 against the model needs a senior reviewer."
"""
_POLICY_HEADER = "[policy]\n"
MAX_ROWS_TRIED = 400


def patch_review(
    spec_path: Path,
    min_review_seconds: int,
    *,
    lease_minutes: float | None = None,
    review_deadline_hours: float | None = None,
) -> None:
    """Short minimum review time; every decline needs a senior reviewer; lease and deadline."""
    text = spec_path.read_text(encoding="utf-8")
    assert _REVIEW_AS_SHIPPED in text and _SECOND_REVIEW_AS_SHIPPED in text, text
    assert text.count(_POLICY_HEADER) == 1 and "review_deadline_hours" not in text, text
    review = _REVIEW_AS_SHIPPED.replace(
        "min_review_seconds = 30", f"min_review_seconds = {min_review_seconds}"
    )
    if lease_minutes is not None:
        review = review.replace("lease_minutes = 30", f"lease_minutes = {lease_minutes}")
    text = text.replace(_REVIEW_AS_SHIPPED, review).replace(
        _SECOND_REVIEW_AS_SHIPPED,
        f'[[review.second_review]]\noutcome = "declined"\nreason = "{FOUR_EYES_REASON}"\n',
    )
    if review_deadline_hours is not None:
        text = text.replace(
            _POLICY_HEADER, f"{_POLICY_HEADER}review_deadline_hours = {review_deadline_hours}\n"
        )
    spec_path.write_text(text, encoding="utf-8")


def build_registry(
    home: Path,
    min_review_seconds: int,
    *,
    lease_minutes: float | None = None,
    review_deadline_hours: float | None = None,
) -> tuple[Settings, Path]:
    """A registry serving the patched synthetic use case (PASS, promoted); its data file."""
    settings = Settings.local(home)
    spec_path = write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3)
    patch_review(
        spec_path,
        min_review_seconds,
        lease_minutes=lease_minutes,
        review_deadline_hours=review_deadline_hours,
    )
    spec = load_spec(spec_path)
    assert spec.review is not None and spec.review.min_review_seconds == min_review_seconds
    if lease_minutes is not None:
        assert spec.review.lease_minutes == lease_minutes
    if review_deadline_hours is not None:
        assert spec.policy is not None
        assert spec.policy.review_deadline_hours == review_deadline_hours
    trained = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=trained.version).outcome == "PASS"
    ledger = DecisionLog(settings.database_url)  # the promotion is a ledger entry too
    ledger.migrate()
    record = ledger_recorder(ledger, spec)
    promote(spec, settings, trained.version, requested_by="model-owner", record=record)
    ledger.close()
    return settings, spec_path.parent / "data.csv"


def data_rows(data_csv: Path) -> list[dict[str, Any]]:
    """The synthetic people, as request features (numbers as numbers)."""
    with data_csv.open(newline="", encoding="utf-8") as f:
        return [
            {name: (row[name] if name == "employment" else float(row[name])) for name in FEATURES}
            for row in csv.DictReader(f)
        ]


@dataclass
class Service:
    url: str
    settings: Settings
    rows: list[dict[str, Any]]
    tokens: dict[str, str]
    ids: dict[str, str]
    cursor: int = 0

    def call(
        self, method: str, path: str, who: str | None, body: object = None, **params: str
    ) -> httpx.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            params=params or None,
            headers=headers,
            timeout=60,
        )

    def decide(self, features: dict[str, Any], who: str = "app") -> dict[str, Any]:
        made = self.call("POST", "/decide", who, {"use_case": USE_CASE, "features": features})
        assert made.status_code == 200, made.text
        return dict(made.json())

    def referred(self, who: str = "app") -> dict[str, Any]:
        """A new referred decision (on an uncertain score), from the next rows of the data."""
        for _ in range(MAX_ROWS_TRIED):
            features = self.rows[self.cursor % len(self.rows)]
            self.cursor += 1
            made = self.decide(features, who)
            if made["outcome"] == "referred":
                return made
        raise AssertionError(f"no referred decision among {MAX_ROWS_TRIED} rows")

    def high_debt(self) -> dict[str, Any]:
        """A referred decision the model would decline: a real row with debt above 40,000."""
        features = {**self.rows[self.cursor % len(self.rows)], "debt": 45000.0}
        self.cursor += 1
        made = self.decide(features)
        assert made["outcome"] == "referred" and made["recommendation"] == "decline", made
        return made


def case_id_of(made: dict[str, Any]) -> str:
    """The review case a referred decision opened."""
    case_id = made.get("case_id")
    assert isinstance(case_id, str) and case_id, made
    return case_id


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def ok_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    got = response.json()
    assert isinstance(got, list)
    return got
