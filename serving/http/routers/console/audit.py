"""The auditor's pages: use cases and their versions (model cards, audit reports), promotions,
decision search and one decision, review statistics, and the ledger's verification.

Every page only reads: the registry (never written, not even a tag) and the
ledger. No personal data is shown: a decision page shows the chained record.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field

from audits.audit import latest_report_html
from audits.card_source import card_for_version
from audits.cards import render_html
from audits.promotion import history as promotion_history
from models import registry, tags
from models.spec import DecisionSpec
from serving.access import allow
from serving.access.waivers import list_waiver_requests
from serving.decisions import (
    DecisionEngine,
    DecisionError,
    DecisionQuery,
    DecisionView,
    search_decisions,
)
from serving.decisions.notice import FinalState, Notice, final_notice
from serving.decisions.search import FoundDecision
from serving.http.responses import CONSOLE_PAGES
from serving.http.routers import deps
from serving.http.routers.console.common import page, problem_page, query_of
from serving.http.routers.ledger import checkpointing_of
from serving.ledger.checkpointing import NO_KEY_STATUS
from serving.review import FinalOutcome, ReviewDesk

# pages answer HTML; the gate and the pages may also redirect or refuse (documented)
router = APIRouter(
    prefix="/console",
    tags=["console"],
    default_response_class=HTMLResponse,
    responses=CONSOLE_PAGES,
)

#: decisions shown on one page of the search
PAGE_SIZE = 100
#: with a status filter, how many decisions one search looks at (status is known per decision)
STATUS_SCAN = 10 * PAGE_SIZE

#: the policy of the documents Docket renders itself (they carry their own inline <style>)
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)

_SEEN_BY = ("auditor", "admin", "senior_reviewer")


# -- use cases and versions ------------------------------------------------------------


class VersionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    aliases: tuple[str, ...]
    audit_status: str | None
    audited_at: str | None
    served: bool


class UseCaseRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    champion: str | None
    candidate: str | None
    served: str | None
    refused: str | None
    unserved: str | None
    stopped: bool
    versions: tuple[VersionRow, ...]


def _client(engine: DecisionEngine) -> MlflowClient:
    return registry.connect(engine.settings)


def _version_row(mv: ModelVersion, served: str | None) -> VersionRow:
    found = dict(mv.tags or {})
    return VersionRow(
        version=str(mv.version),
        aliases=tuple(sorted(mv.aliases or ())),
        audit_status=found.get(tags.AUDIT_STATUS),
        audited_at=found.get(tags.AUDIT_CREATED_AT),
        served=str(mv.version) == served,
    )


def _use_cases(engine: DecisionEngine) -> list[UseCaseRow]:
    client = _client(engine)
    status = engine.status()
    rows = []
    for model in sorted(client.search_registered_models(), key=lambda m: m.name):
        name = model.name
        served = status["served"].get(name)
        versions = sorted(
            client.search_model_versions(f"name='{name}'"), key=lambda v: -int(v.version)
        )
        rows.append(
            UseCaseRow(
                name=name,
                champion=registry.alias_version(client, name, registry.CHAMPION),
                candidate=registry.alias_version(client, name, registry.CANDIDATE),
                served=served,
                refused=status["refused"].get(name),
                unserved=status["unserved"].get(name),
                stopped=bool(status["stopped"].get(name, False)),
                versions=tuple(_version_row(v, served) for v in versions),
            )
        )
    return rows


@router.get(
    "/use-cases",
    summary="the use cases page: each use case's champion and candidate, what is served, refused or stopped, and every version with its audit status and a link to its page",
)
@allow(*_SEEN_BY)
def use_cases_page(request: Request) -> Response:
    return page(
        request,
        "audit_use_cases.html.j2",
        title="Use cases",
        use_cases=_use_cases(deps.engine(request)),
    )


def _version_or_404(
    request: Request, client: MlflowClient, use_case: str, version: str
) -> ModelVersion | HTMLResponse:
    try:
        return registry.get_version(client, use_case, version=version)
    except registry.RegistryError as exc:
        # the message names the registered use cases, or the versions of this one
        return problem_page(request, 404, "Not found", str(exc))


@router.get(
    "/use-cases/{use_case}/versions/{version}",
    summary="a version's page: its facts, its model card and its latest audit report, each embedded as the document Docket renders",
)
@allow(*_SEEN_BY)
def version_page(use_case: str, version: str, request: Request) -> Response:
    engine = deps.engine(request)
    client = _client(engine)
    mv = _version_or_404(request, client, use_case, version)
    if isinstance(mv, HTMLResponse):
        return mv
    row = _version_row(mv, engine.served_versions().get(use_case))
    base = f"/console/use-cases/{use_case}/versions/{row.version}"
    return page(
        request,
        "audit_version.html.j2",
        title=f"{use_case} version {row.version}",
        use_case=use_case,
        row=row,
        audited=(mv.tags or {}).get(tags.AUDIT_ID) is not None,
        card_url=f"{base}/card",
        audit_url=f"{base}/audit",
    )


def _document(html: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        html, status_code=status_code, headers={"Content-Security-Policy": DOCUMENT_CSP}
    )


def _plain_document(message: str, status_code: int) -> HTMLResponse:
    # shown inside the version page's frame: the same tight policy, no console layout
    return _document(
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>'
        f"<p>{escape(message)}</p></html>",
        status_code,
    )


def _spec_of(engine: DecisionEngine, client: MlflowClient, mv: ModelVersion) -> DecisionSpec:
    """The spec the version serves (or was promoted) under; else the one it was trained on."""
    try:
        served = engine.served(mv.name)
    except DecisionError:  # not served, or no longer registered
        served = None
    if served is not None and served.version == str(mv.version):
        return served.spec
    model = registry.load_model(client, mv.name, mv.version)
    return registry.serving_spec(client, mv, model.spec)


@router.get(
    "/use-cases/{use_case}/versions/{version}/card",
    summary="a version's model card, the self-contained HTML document (its own CSP: inline styles only, framed by the console only)",
)
@allow(*_SEEN_BY)
def version_card(use_case: str, version: str, request: Request) -> Response:
    engine = deps.engine(request)
    client = _client(engine)
    try:
        mv = registry.get_version(client, use_case, version=version)
    except registry.RegistryError as exc:
        return _plain_document(str(exc), 404)
    card = card_for_version(client, _spec_of(engine, client, mv), str(mv.version))
    return _document(render_html(card))


@router.get(
    "/use-cases/{use_case}/versions/{version}/audit",
    summary="a version's latest audit report, the self-contained HTML document (its own CSP: inline styles only, framed by the console only)",
)
@allow(*_SEEN_BY)
def version_audit(use_case: str, version: str, request: Request) -> Response:
    client = _client(deps.engine(request))
    try:
        mv = registry.get_version(client, use_case, version=version)
    except registry.RegistryError as exc:
        return _plain_document(str(exc), 404)
    html = latest_report_html(client, mv)
    if html is None:
        return _plain_document(f"Version {mv.version} of {use_case} has not been audited.", 404)
    return _document(html)


# -- promotions --------------------------------------------------------------------------


@router.get(
    "/promotions",
    summary="the promotions page: every promotion, rollback and refused attempt per use case with its waiver, and the waiver requests",
)
@allow(*_SEEN_BY)
def promotions_page(request: Request) -> Response:
    engine = deps.engine(request)
    client = _client(engine)
    histories = {
        m.name: list(reversed(promotion_history(client, m.name)))
        for m in sorted(client.search_registered_models(), key=lambda m: m.name)
    }
    requests = list_waiver_requests(deps.principal(request), engine.settings, status=None)
    return page(
        request,
        "audit_promotions.html.j2",
        title="Promotions",
        histories=histories,
        waiver_requests=sorted(requests, key=lambda r: r.requested_at, reverse=True),
    )


# -- decisions ---------------------------------------------------------------------------


class DecisionSearch(DecisionQuery):
    """The decision search form (a GET form): the ledger's filters, the review status, paging."""

    status: Literal["pending_review", "final"] | None = None
    before: int | None = Field(default=None, ge=1)


class DecisionRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    found: FoundDecision
    final: FinalOutcome


def _search(
    engine: DecisionEngine, desk: ReviewDesk, form: DecisionSearch
) -> tuple[list[DecisionRow], int | None, bool]:
    """A page of rows, where the next page starts, and whether the status scan was cut short."""
    rows: list[DecisionRow] = []
    before, looked = form.before, 0
    while True:
        found = search_decisions(engine.log, form, limit=PAGE_SIZE, before_seq=before)
        for item in found.rows:
            looked += 1
            final = desk.final_outcome(item.record.decision_id)
            if form.status is None or final.status == form.status:
                rows.append(DecisionRow(found=item, final=final))
            if len(rows) == PAGE_SIZE and item is not found.rows[-1]:
                return rows, item.seq, False
        if found.next_before is None or form.status is None or len(rows) == PAGE_SIZE:
            return rows, found.next_before, False
        if looked >= STATUS_SCAN:
            return rows, found.next_before, True
        before = found.next_before


@router.get(
    "/decisions",
    summary="the decision search page: by decision id, use case, automated outcome, days recorded and review status; at most 100 a page, newest first",
)
@allow("auditor", "admin")
def decisions_page(request: Request) -> Response:
    form = query_of(DecisionSearch)(request)
    engine = deps.engine(request)
    rows, next_before, cut_short = _search(engine, deps.desk(request), form)
    filled = {
        k: v for k, v in form.model_dump(mode="json", exclude={"before"}).items() if v is not None
    }
    next_url = (
        "/console/decisions?" + urlencode({**filled, "before": next_before})
        if next_before is not None
        else None
    )
    return page(
        request,
        "audit_decisions.html.j2",
        title="Decisions",
        form=form,
        rows=rows,
        page_size=PAGE_SIZE,
        status_scan=STATUS_SCAN,
        cut_short=cut_short,
        next_url=next_url,
        use_cases=sorted({*engine.served_versions(), *engine.status()["unserved"]}),
    )


def _notice(engine: DecisionEngine, record: DecisionView, final: FinalOutcome) -> Notice | None:
    """The notice the person was sent, once the outcome is final (as ``GET .../notice``)."""
    if final.status != "final" or final.outcome == "referred":
        return None
    state = FinalState.model_validate(final.model_dump(include=set(FinalState.model_fields)))
    return final_notice(record, state, engine.served(record.use_case).spec)


@router.get(
    "/decisions/{decision_id}",
    summary="a decision's page: automated and final outcome, who decided, score, versions, reasons, referral rules, history and the final notice; no personal data",
)
@allow("auditor", "admin")
def decision_page(decision_id: str, request: Request) -> Response:
    engine = deps.engine(request)
    view = engine.get_decision(decision_id, principal=deps.principal(request))
    final = deps.desk(request).final_outcome(decision_id)
    try:
        notice, notice_problem = _notice(engine, view, final), None
    except DecisionError as exc:  # the use case is no longer served: its spec is not loaded
        notice, notice_problem = None, str(exc)
    return page(
        request,
        "audit_decision.html.j2",
        title=f"Decision {decision_id[:8]}",
        view=view,
        final=final,
        notice=notice,
        notice_problem=notice_problem,
    )


# -- review statistics and the ledger ------------------------------------------------------


def _review_code_texts(engine: DecisionEngine) -> dict[str, str]:
    """Each review reason code's text, from the specs being served."""
    texts: dict[str, str] = {}
    for use_case in engine.served_versions():
        review = engine.served(use_case).spec.review
        for code, entry in (review.codes if review is not None else {}).items():
            texts.setdefault(code, entry.text)
    return texts


@router.get(
    "/review-stats",
    summary="the review statistics page: per reviewer, cases, agreement with the model, overrides by reason and median time per case",
)
@allow(*_SEEN_BY)
def review_stats_page(request: Request) -> Response:
    engine = deps.engine(request)
    return page(
        request,
        "audit_review_stats.html.j2",
        title="Review statistics",
        stats=deps.desk(request).stats(),
        code_texts=_review_code_texts(engine),
    )


@router.get(
    "/ledger",
    summary="the ledger page: whether the hash chain verifies, how many entries were checked, the first broken entry, and the public key and log id that sign its checkpoints",
)
@allow("auditor", "admin")
def ledger_page(request: Request) -> Response:
    checkpointing = checkpointing_of(request)
    return page(
        request,
        "audit_ledger.html.j2",
        title="Ledger",
        result=deps.engine(request).log.verify(),
        signing=None if checkpointing is None else checkpointing.public_key(),
        last_checkpoint=None if checkpointing is None else checkpointing.latest(),
        no_key=NO_KEY_STATUS,
    )
