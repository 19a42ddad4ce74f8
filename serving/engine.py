"""The decision engine: champion models, policy, rationale and the durable record.

One decision: validate → encode → score → policy → rationale (+ recourse) →
append to the decision log → respond. If the record cannot be written the
caller gets :class:`RecordFailed` (HTTP 503) and no decision. Each decision
holds one reference to a served model, so a reload never mixes two versions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlflow.exceptions import MlflowException
from scipy.special import expit
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import registry
from models.decision_model import DecisionModel
from models.rationale import RationaleBuilder, explainer_version
from models.recourse import RecourseBuilder
from models.settings import Settings
from models.spec import DecisionSpec
from serving.log import DecisionLog, LogError
from serving.log.schema import SwitchRow
from serving.policy import apply_policy
from serving.validation import DecideRequest, check_features

logger = logging.getLogger("docket.serving")

NOTICE = (
    "This decision was made with the help of an automated system. You may ask for it to be"
    " reviewed by a person: file an appeal quoting decision id {decision_id} (POST /appeals),"
    " or contact the organisation that asked for this decision."
)


class DecisionError(Exception):
    status = 400

    def body(self) -> dict[str, Any]:
        return {"error": str(self)}


class UnknownUseCase(DecisionError):
    status = 404

    def __init__(self, use_case: str, served: list[str], unserved: dict[str, str]) -> None:
        self.served, self.unserved = served, unserved
        super().__init__(
            f"unknown use case {use_case!r}; served use cases: {served or '(none)'}"
            + (f"; registered but not served: {sorted(unserved)}" if unserved else "")
        )


class NotServed(DecisionError):
    status = 409


class RecordFailed(DecisionError):
    status = 503


class DecisionNotFound(DecisionError):
    status = 404


class PurposeRequired(DecisionError):
    status = 400


@dataclass(frozen=True)
class ServedModel:
    use_case: str
    version: str
    model: DecisionModel
    spec: DecisionSpec
    builder: RationaleBuilder
    recourse: RecourseBuilder
    spec_hash: str
    explainer_version: str
    loaded_at: str
    spec_ref: str

    @property
    def policy_version(self) -> str:
        assert self.spec.policy is not None
        return self.spec.policy.version

    @property
    def catalogue_version(self) -> str:
        return self.builder.catalogue_version


def load_served(
    client: Any, use_case: str, version: str, spec_ref: str | None = None
) -> ServedModel:
    """Load one registered version with the spec it was promoted under (or ``spec_ref``)."""
    mv = client.get_model_version(use_case, version)
    model: DecisionModel = registry.load_model(client, use_case, version)
    spec = (
        model.spec
        if spec_ref == "model"
        else registry.serving_spec(client, mv, model.spec, spec_ref)
    )
    if spec.policy is None or spec.reasons is None:
        raise NotServed(
            f"use case {use_case!r} version {version}: the spec has no [policy] or [reasons]"
            " section, so it cannot be served"
        )
    if spec.feature_names != model.feature_names:
        raise NotServed(
            f"use case {use_case!r} version {version}: spec features differ from the model's"
        )
    return ServedModel(
        use_case=use_case,
        version=str(version),
        model=model,
        spec=spec,
        builder=RationaleBuilder(model, spec),
        recourse=RecourseBuilder(model, spec),
        spec_hash=spec.spec_hash(),
        explainer_version=explainer_version(model),
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_ref=spec_ref or (mv.tags or {}).get(registry.SERVING_SPEC_TAG, "model"),
    )


class DecisionEngine:
    """Serves the champion of every registered use case and records every decision."""

    def __init__(self, settings: Settings, log: DecisionLog | None = None) -> None:
        self.settings = settings
        self.log = log or DecisionLog(settings.database_url)
        self._served: dict[str, ServedModel] = {}
        self._unserved: dict[str, str] = {}
        self._reload_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        self.settings.ensure()
        self.log.migrate()
        return self.reload()

    def reload(self) -> dict[str, Any]:
        """Load each use case's current champion; unchanged versions are kept as they are."""
        with self._reload_lock:
            client = registry.connect(self.settings)
            served = dict(self._served)
            unserved: dict[str, str] = {}
            changed: dict[str, str] = {}
            for rm in client.search_registered_models():
                name = rm.name
                version = registry.alias_version(client, name, registry.CHAMPION)
                if version is None:
                    served.pop(name, None)
                    unserved[name] = "no champion: no version has passed the gate and been promoted"
                    continue
                if name in served and served[name].version == version:
                    continue
                try:
                    served[name] = load_served(client, name, version)
                    changed[name] = version
                except (NotServed, MlflowException, OSError) as exc:
                    served.pop(name, None)
                    unserved[name] = str(exc)
            self._served, self._unserved = served, unserved
        for name, version in changed.items():
            # the chain records which version served from when (one entry per worker)
            self.log.append(
                "admin",
                name,
                {
                    "action": "serve",
                    "version": version,
                    "pid": os.getpid(),
                    "at": served[name].loaded_at,
                },
                subject_id=f"serving:{name}",
            )
        return {"served": self.served_versions(), "unserved": unserved, "changed": changed}

    def served_versions(self) -> dict[str, str]:
        return {k: v.version for k, v in sorted(self._served.items())}

    def status(self) -> dict[str, Any]:
        return {"served": self.served_versions(), "unserved": dict(self._unserved)}

    def served(self, use_case: str) -> ServedModel:
        served = self._served.get(use_case)
        if served is not None:
            return served
        if use_case in self._unserved:
            raise NotServed(f"use case {use_case!r} is not served: {self._unserved[use_case]}")
        raise UnknownUseCase(use_case, sorted(self._served), self._unserved)

    # -- stop switch -------------------------------------------------------------
    def is_stopped(self, use_case: str) -> bool:
        # read on every decision (no cache), so a stop applies to the very next request
        # in every worker; a Core query keeps it cheap
        query = select(SwitchRow.stopped).where(SwitchRow.use_case == use_case)
        with self.log.engine.connect() as conn:
            return bool(conn.execute(query).scalar())

    def set_stopped(self, use_case: str, stopped: bool, by: str, reason: str) -> dict[str, Any]:
        self.served(use_case)  # unknown use cases are refused with the list of served ones
        now = datetime.now(UTC).isoformat()
        with Session(self.log.engine) as session, session.begin():
            row = session.get(SwitchRow, use_case)
            if row is None:
                session.add(
                    SwitchRow(
                        use_case=use_case,
                        stopped=stopped,
                        changed_at=now,
                        changed_by=by,
                        reason=reason,
                    )
                )
            else:
                row.stopped, row.changed_at, row.changed_by, row.reason = stopped, now, by, reason
        entry = self.log.append(
            "admin",
            use_case,
            {"action": "stop" if stopped else "resume", "by": by, "reason": reason, "at": now},
            subject_id=f"switch:{use_case}",
        )
        return {"use_case": use_case, "stopped": stopped, "log_seq": entry.seq}

    def switches(self) -> dict[str, bool]:
        with Session(self.log.engine) as session:
            return {r.use_case: r.stopped for r in session.scalars(select(SwitchRow))}

    # -- decisions ---------------------------------------------------------------
    def decide(self, request: DecideRequest, requested_by: str = "") -> dict[str, Any]:
        t0 = time.perf_counter()
        served = self.served(request.use_case)
        spec, model = served.spec, served.model
        assert spec.policy is not None
        features = check_features(spec, request.features)
        x = model.encode_records([features])
        log_odds = float(model.log_odds(x)[0])
        score = float(expit(log_odds))  # exactly as DecisionModel.score, so replay matches
        ood = model.out_of_distribution(x)
        stopped = self.is_stopped(spec.name)
        result = apply_policy(
            spec.policy,
            score,
            features,
            out_of_distribution=ood,
            consent=request.automated_decision_consent,
            stopped=stopped,
        )
        rationale = served.builder.explain(x, adverse=result.adverse, log_odds=log_odds)
        recourse = (
            served.recourse.find(x, target_score=spec.policy.approve_at) if result.adverse else None
        )
        decision_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        case = None
        if result.outcome == "referred":
            case = {
                "case_id": uuid.uuid4().hex,
                "deadline": (now + timedelta(hours=spec.policy.review_deadline_hours)).isoformat(
                    timespec="seconds"
                ),
            }
        status = "pending_review" if case else "final"
        rationale_json = rationale.model_dump(mode="json")
        digest = {
            "decision_id": decision_id,
            "decided_at": now.isoformat(),
            "use_case": spec.name,
            "model_version": served.version,
            "policy_version": served.policy_version,
            "explainer_version": served.explainer_version,
            "catalogue_version": served.catalogue_version,
            "spec_hash": served.spec_hash,
            "spec_ref": served.spec_ref,
            "score": score,
            "outcome": result.outcome,
            "recommendation": result.recommendation,
            "status": status,
            "case": case,
            "referral_reasons": result.referral_reasons,
            "reasons": rationale_json["reasons"],
            # values are personal: the chain keeps contributions, the payload keeps values
            "rationale": {
                **{k: v for k, v in rationale_json.items() if k != "contributions"},
                "contributions": [
                    {k: v for k, v in c.items() if k != "value"}
                    for c in rationale_json["contributions"]
                ],
            },
            "recourse_found": None if recourse is None else recourse.found,
            "requested_by": requested_by,
        }
        payload = {
            "features": features,
            "application_ref": request.application_ref,
            "automated_decision_consent": request.automated_decision_consent,
            "recourse": None if recourse is None else recourse.model_dump(mode="json"),
        }
        try:
            entry = self.log.append(
                "decision", spec.name, digest, payload=payload, subject_id=decision_id
            )
        except (LogError, ValueError) as exc:
            logger.error("decision %s not recorded: %s", decision_id, exc)
            raise RecordFailed(
                "the decision could not be recorded, so no decision is given; try again later"
            ) from None
        return {
            **digest,
            "case_id": case["case_id"] if case else None,
            "review_deadline": case["deadline"] if case else None,
            "rationale": rationale_json,
            "recourse": payload["recourse"],
            "application_ref": request.application_ref,
            "input_hash": entry.payload_hash,
            "log_seq": entry.seq,
            "recorded_at": entry.recorded_at,
            "notice": NOTICE.format(decision_id=decision_id),
            "latency_ms": round((time.perf_counter() - t0) * 1000, 3),
        }

    # -- reading back ------------------------------------------------------------
    def get_decision(
        self, decision_id: str, *, reader: str, role: str, purpose: str | None, personal: bool
    ) -> dict[str, Any]:
        entries = self.log.entries_for(decision_id)
        decision = next((e for e in entries if e.kind == "decision"), None)
        if decision is None:
            raise DecisionNotFound(f"no decision with id {decision_id!r}")
        out: dict[str, Any] = {
            **decision.digest,
            "input_hash": decision.payload_hash,
            "log_seq": decision.seq,
            "recorded_at": decision.recorded_at,
            "history": [
                {"kind": e.kind, "seq": e.seq, "recorded_at": e.recorded_at, **e.digest}
                for e in entries
                if e.entry_id != decision.entry_id and e.kind != "access"
            ],
            "notice": NOTICE.format(decision_id=decision_id),
        }
        if personal:
            if not purpose or len(purpose.strip()) < 5:
                raise PurposeRequired(
                    "reading a person's data needs a stated purpose: pass ?purpose=... (at least"
                    " 5 characters); the read is logged with it"
                )
            self.log.append(
                "access",
                decision.use_case,
                {
                    "reader": reader,
                    "role": role,
                    "purpose": purpose.strip(),
                    "decision_id": decision_id,
                },
                subject_id=decision_id,
            )
            stored = self.log.get_payload(decision.entry_id)
            out["personal"] = stored.payload
            out["personal_erased"] = stored.erased
        return out
