"""``audit_attributes``: checked against the spec, stored for monitoring, never seen by the model."""

from __future__ import annotations

import pytest

from models.settings import Settings
from serving.access import Principal
from serving.decisions import DecisionEngine
from serving.decisions.validation import (
    DecideRequest,
    InvalidFeatures,
    audit_attribute_names,
    check_audit_attributes,
)
from tests.serving.paths import rows_by_path
from tests.serving.review.helpers import credit_spec

TESTER = Principal.local("tester", role="application")
USE_CASE = "credit-eligibility"


def test_allowed_keys_are_the_sensitive_attributes_and_their_sources() -> None:
    spec = credit_spec()
    # the shipped spec: age_band (bands of Age) and Marital (a raw column)
    assert audit_attribute_names(spec) == ["age_band", "Marital", "Age"]
    given = {"age_band": "25-34", "Marital": "married", "Age": 31}
    assert check_audit_attributes(spec, given) == given
    assert check_audit_attributes(spec, None) is None


def test_other_keys_and_bad_values_are_refused_naming_each() -> None:
    spec = credit_spec()
    with pytest.raises(InvalidFeatures) as caught:
        check_audit_attributes(
            spec, {"Income": 100, "age_band": "teen", "Age": "old", "Marital": True}
        )
    detail = {".".join(p["loc"]): p for p in caught.value.body()["detail"]}
    assert set(detail) == {
        "audit_attributes.Income",
        "audit_attributes.age_band",
        "audit_attributes.Age",
        "audit_attributes.Marital",
    }
    assert detail["audit_attributes.Income"]["allowed"] == ["age_band", "Marital", "Age"]
    assert detail["audit_attributes.Income"]["input"] == 100
    assert "'teen'" in detail["audit_attributes.age_band"]["msg"]
    assert detail["audit_attributes.age_band"]["allowed"] == [
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55+",
    ]
    assert "must be a number" in detail["audit_attributes.Age"]["msg"]


def _comparable(view: dict) -> dict:
    keep = ("score", "outcome", "recommendation", "reasons", "referral_reasons", "recourse")
    return {k: view[k] for k in keep} | {"rationale": view["rationale"]}


@pytest.fixture(scope="module")
def engine(served_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> DecisionEngine:
    db = tmp_path_factory.mktemp("audit-attrs-db") / "decisions.db"
    e = DecisionEngine(served_settings.model_copy(update={"database_url": f"sqlite:///{db}"}))
    e.start()
    return e


def test_the_decision_is_identical_with_and_without_them(engine: DecisionEngine) -> None:
    """Needs prepare.py to copy ``request.audit_attributes`` into ``PersonalData``."""
    attrs = {"age_band": "55+", "Marital": "widow", "Age": 61}
    paths = rows_by_path(engine, USE_CASE)
    for path in ("approve", "decline", "uncertain"):
        for features in paths[path][:3]:
            plain = engine.decide(DecideRequest(use_case=USE_CASE, features=features), TESTER)
            tagged = engine.decide(
                DecideRequest(use_case=USE_CASE, features=features, audit_attributes=attrs),
                TESTER,
            )
            a, b = plain.model_dump(mode="json"), tagged.model_dump(mode="json")
            assert _comparable(a) == _comparable(b), path
            stored = engine.log.get_payload(engine.log.entries_for(b["decision_id"])[0].entry_id)
            assert stored.payload is not None
            assert stored.payload["audit_attributes"] == attrs
            assert stored.payload["features"] == features | stored.payload["features"]
            untagged = engine.log.get_payload(engine.log.entries_for(a["decision_id"])[0].entry_id)
            assert untagged.payload is not None and untagged.payload.get("audit_attributes") is None


def test_unknown_audit_attribute_is_refused_by_decide(engine: DecisionEngine) -> None:
    """Needs the lead's wiring of check_audit_attributes before evaluation."""
    features = rows_by_path(engine, USE_CASE)["approve"][0]
    request = DecideRequest(use_case=USE_CASE, features=features, audit_attributes={"Sex": "f"})
    with pytest.raises(InvalidFeatures) as caught:
        engine.decide(request, TESTER)
    assert caught.value.body()["detail"][0]["loc"] == ["audit_attributes", "Sex"]
