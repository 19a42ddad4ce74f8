"""Build real audit reports and specs from small seeded arrays, without MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd

from audits.audit import assemble_report, evaluate_gate
from audits.report import AuditReport
from models.spec import DecisionSpec, parse_spec

# Group shares: "75+" is under the 2% share (left out of ratios); "widowed" is above
# the share but under the minimum group size (INSUFFICIENT_DATA).
AGE_BANDS = {"18-34": 0.40, "35-54": 0.45, "55-74": 0.135, "75+": 0.015}
MARITAL = {"married": 0.55, "single": 0.42, "widowed": 0.03}


@dataclass
class AuditFixture:
    report: AuditReport
    y: np.ndarray
    scores: np.ndarray
    groups: pd.DataFrame


def synthetic_rows(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Outcomes, scores and two sensitive attributes, with one disadvantaged group."""
    rng = np.random.default_rng(seed)
    age = rng.choice(list(AGE_BANDS), size=n, p=list(AGE_BANDS.values()))
    marital = rng.choice(list(MARITAL), size=n, p=list(MARITAL.values()))
    # widowed applicants a little worse too, so that the small group is never the
    # reference (highest approval rate) and its impact ratio stays INSUFFICIENT_DATA
    shift = np.where(age == "18-34", -0.5, 0.0) + np.where(marital == "widowed", -0.3, 0.0)
    latent = rng.normal(0, 1, n) + shift
    y = (latent + rng.normal(0, 1, n) > 0).astype(np.int64)
    scores = 1 / (1 + np.exp(-1.3 * latent))
    return y, scores, pd.DataFrame({"age_band": age, "marital": marital})


def build_report(
    spec: DecisionSpec | None = None,
    n: int = 1500,
    seed: int = 0,
    version: str = "3",
    champion_version: str | None = None,
) -> AuditFixture:
    """An :class:`AuditReport` computed by the real audit functions on seeded data."""
    spec = spec or make_spec()
    y, scores, groups = synthetic_rows(n, seed)
    groups = groups[[a for a in spec.sensitive.attributes if a in groups.columns]]
    # requested amounts for the policy's high-stakes rule, independent of everything else
    amounts = pd.DataFrame({"amount": np.random.default_rng([seed, 1]).uniform(100, 5000, n)})
    evaluation = evaluate_gate(spec, y, scores, groups, amounts)
    report = assemble_report(
        spec,
        evaluation,
        model_version=version,
        run_id=f"run-{seed}",
        trained_spec_hash=spec.spec_hash(),
        champion_version=champion_version,
        audit_id=f"audit-{seed}-{version}",
        created_at="2025-01-02T03:04:05+00:00",
    )
    return AuditFixture(report=report, y=y, scores=scores, groups=groups)


POLICY: dict[str, Any] = {
    "version": "2",
    "approve_at": 0.6,
    "decline_below": 0.3,
    "refer_adverse": True,
    "review_deadline_hours": 48,
    "rules": [
        {"feature": "amount", "above": 4000, "reason": "large loans always get a human review"}
    ],
}
REASONS: dict[str, Any] = {
    "version": "1",
    "codes": {
        "INC": {
            "features": ["income"],
            "adverse": "Monthly income is low relative to the loan",
            "favourable": "Monthly income comfortably covers the loan",
        },
        "AMT": {
            "features": ["amount"],
            "adverse": "The requested amount is high for this profile",
            "favourable": "The requested amount is modest for this profile",
        },
    },
}


def make_spec(
    policy: dict[str, Any] | None = POLICY,
    reasons: dict[str, Any] | None = REASONS,
    attributes: tuple[str, ...] = ("age_band", "marital"),
) -> DecisionSpec:
    """A small valid spec whose sensitive attributes are columns of :func:`synthetic_rows`."""
    raw: dict[str, Any] = {
        "name": "toy-credit",
        "version": "4",
        "description": "Toy eligibility model <b>for tests</b>.",
        "intended_use": "Decision support for toy credit applications, with human review.",
        "out_of_scope_use": ["Pricing or credit limits.", "Employment decisions."],
        "data": {
            "source": "data/toy.csv",
            "target": "repaid",
            "favourable": 1,
            "datasheet": {
                "source": "Synthetic applicants generated for the tests.",
                "original_purpose": "Exercising the audit and the model card.",
                "preparation": "None: generated clean.",
                "known_gaps": "No applicants over 75; no rejected applicants.",
                "known_biases": "Younger applicants were approved less often in the past.",
            },
        },
        "features": {
            "income": {"type": "numeric", "label": "Monthly income", "min": 0, "max": 20000},
            "amount": {"type": "numeric", "label": "Loan amount", "min": 100, "max": 5000},
        },
        "derived": {
            "age_band": {
                "source": "age",
                "edges": [18, 35, 55, 75, 120],
                "labels": ["18-34", "35-54", "55-74", "75+"],
            }
        },
        "sensitive": {"attributes": list(attributes)},
        "model": {"family": "logistic", "seed": 1},
        "gate": {"n_boot": 50, "seed": 7, "min_group_size": 50},
    }
    if policy is not None:
        raw["policy"] = policy
    else:  # with no policy, the gate judges a threshold of its own
        raw["gate"]["decision_threshold"] = 0.5
    if reasons is not None:
        raw["reasons"] = reasons
    return parse_spec(raw, source="<toy>")


RUN_METRICS = {
    "test_roc_auc": 0.81,
    "test_calibration_error": 0.03,
    "rows_train": 900.0,
    "rows_calibration": 300.0,
    "rows_test": 1500.0,
}
RUN_TAGS = {
    "docket.use_case": "toy-credit",
    "docket.family": "logistic",
    "docket.run_id": "run-0",
    "docket.data_fingerprint": "f" * 16,
    "docket.git_commit": "abc1234",
}
DATA_REPORT: dict[str, Any] = {
    "source": "data/toy.csv",
    "rows_read": 2710,
    "rows_kept": 2700,
    "rows_dropped": 10,
    "missing_target": 10,
    "out_of_range": {},
    "unknown_category": {},
    "missing_value": {},
    "fingerprint": "f" * 16,
}


class Page(HTMLParser):
    """Collects the tables (attributes and body rows of cell texts), images and ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, object]] = []
        self.images: list[dict[str, str | None]] = []
        self.ids: dict[str, str] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False
        self._id_stack: list[tuple[str, str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.tables.append({"attrs": found, "rows": []})
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(found)
        if found.get("id"):
            self._id_stack.append((tag, str(found["id"]), []))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            rows = self.tables[-1]["rows"]
            assert isinstance(rows, list)
            rows.append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        if self._id_stack and self._id_stack[-1][0] == tag:
            _, name, text = self._id_stack.pop()
            self.ids[name] = " ".join("".join(text).split())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, _, text in self._id_stack:
            text.append(data)

    def tables_of(self, css_class: str) -> list[dict[str, object]]:
        return [t for t in self.tables if t["attrs"].get("class") == css_class]  # type: ignore[union-attr]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page
