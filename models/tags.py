"""The MLflow tag protocol: every tag key Docket writes on registered models and versions.

Docket keeps its facts about a model version in MLflow tags so that the MLflow UI
shows them next to the model. Every key lives here, so training (which writes
``docket.*``), audits (``audit.*``, ``waiver.*``, the promotion history) and
serving (which reads them all) cannot drift apart on a spelling.

Version tags
    ``docket.*`` facts of the training run; ``audit.*`` the latest audit;
    ``waiver.*`` an approved waiver of a failed gate; ``docket.serving_spec``
    the artifact path of the spec the version was promoted under.
Registered-model tags
    ``docket.spec_path``: the spec file the latest version was trained from;
    ``docket.history.<stamp>-<nonce>``: one promotion-history event each (JSON);
    ``docket.waiver_request.<request id>``: one waiver request each (JSON), pending
    until a second person approves it.

Tag keys allow only ``[A-Za-z0-9_-. /]``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALTERNATIVE_CANDIDATE",
    "ALTERNATIVE_SEARCH",
    "AUDIT_CREATED_AT",
    "AUDIT_ID",
    "AUDIT_REPORT",
    "AUDIT_SPEC_HASH",
    "AUDIT_STATUS",
    "DATA_FINGERPRINT",
    "FAMILY",
    "GIT_COMMIT",
    "HISTORY_PREFIX",
    "MITIGATION",
    "MITIGATION_ATTRIBUTE",
    "MITIGATION_SETTING",
    "OWNER",
    "RUN_ID",
    "SEED",
    "SERVING_SPEC",
    "SPEC_HASH",
    "SPEC_PATH",
    "SPEC_VERSION",
    "USE_CASE",
    "WAIVER_APPROVED_BY",
    "WAIVER_AT",
    "WAIVER_AUDIT_ID",
    "WAIVER_JUSTIFICATION",
    "WAIVER_REQUESTED_BY",
    "WAIVER_REQUEST_PREFIX",
]

# -- training run facts (version tags) -------------------------------------------------
USE_CASE: Final = "docket.use_case"
SPEC_HASH: Final = "docket.spec_hash"
SPEC_VERSION: Final = "docket.spec_version"
DATA_FINGERPRINT: Final = "docket.data_fingerprint"
GIT_COMMIT: Final = "docket.git_commit"
SEED: Final = "docket.seed"
FAMILY: Final = "docket.family"
MITIGATION: Final = "docket.mitigation"
#: the sensitive attribute(s) a mitigation targeted, and the setting it chose (plain text)
MITIGATION_ATTRIBUTE: Final = "docket.mitigation.attribute"
MITIGATION_SETTING: Final = "docket.mitigation.setting"
#: a version registered from a less-discriminatory-alternatives search: the search's
#: MLflow parent run id and the chosen candidate's number; the search record itself is
#: the JSON artifact ``audits.search.SEARCH_ARTIFACT`` of the version's own run
ALTERNATIVE_SEARCH: Final = "docket.alternatives.search"
ALTERNATIVE_CANDIDATE: Final = "docket.alternatives.candidate"
RUN_ID: Final = "docket.run_id"
OWNER: Final = "docket.owner"

# -- promotion (version tag and registered-model tags) ----------------------------------
SERVING_SPEC: Final = "docket.serving_spec"
#: the absolute path of the spec file the latest version was trained from, so that a
#: use case trained from a path is found by its name afterwards
SPEC_PATH: Final = "docket.spec_path"
HISTORY_PREFIX: Final = "docket.history."
WAIVER_REQUEST_PREFIX: Final = "docket.waiver_request."

# -- the latest audit of a version -------------------------------------------------------
AUDIT_STATUS: Final = "audit.status"
AUDIT_ID: Final = "audit.id"
AUDIT_SPEC_HASH: Final = "audit.spec_hash"
AUDIT_CREATED_AT: Final = "audit.created_at"
AUDIT_REPORT: Final = "audit.report"

# -- an approved waiver of a failed gate -------------------------------------------------
WAIVER_JUSTIFICATION: Final = "waiver.justification"
WAIVER_REQUESTED_BY: Final = "waiver.requested_by"
WAIVER_APPROVED_BY: Final = "waiver.approved_by"
WAIVER_AT: Final = "waiver.at"
WAIVER_AUDIT_ID: Final = "waiver.audit_id"
