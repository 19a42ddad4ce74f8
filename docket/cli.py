"""The `docket` command: a thin shell over the packages.

Progress goes to stderr; ``--json`` puts a machine-readable result on stdout.
User mistakes exit with status 2 and a message naming what was wrong.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from docket.app import (
    ByOption,
    JsonFlag,
    app,
    emit,
    open_ledger,
    operator_name,
    progress,
    user_errors,
)
from models.spec import MITIGATIONS


@app.command()
@user_errors
def train(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    seed: Annotated[int | None, typer.Option(help="Override the spec's seed.")] = None,
    mitigate: Annotated[
        str | None,
        typer.Option(help="Fairness mitigation: " + ", ".join(MITIGATIONS) + "."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a use case, log it to MLflow and register it with alias 'candidate'."""
    from docket.usecases import resolve_spec
    from models.settings import Settings
    from training.train import train_use_case

    if mitigate is not None and mitigate not in MITIGATIONS:
        typer.echo(
            f"error: --mitigate must be one of {list(MITIGATIONS)}; got {mitigate!r}", err=True
        )
        raise typer.Exit(code=2)
    spec = resolve_spec(use_case)
    result = train_use_case(
        spec, Settings.from_env(), seed=seed, progress=progress, mitigation=mitigate
    )
    emit(result.to_dict(), as_json, _train_line)


def _train_line(r: dict[str, Any]) -> str:
    m = r["metrics"]
    return (
        f"{r['use_case']}: version {r['version']} ({r['alias']})  "
        f"ROC AUC {m['roc_auc']:.3f}  PR AUC {m['pr_auc']:.3f}  Brier {m['brier']:.3f}  "
        f"log loss {m['log_loss']:.3f}  calibration error {m['calibration_error']:.3f}"
    )


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write data.csv and spec.toml into")],
    rows: Annotated[int, typer.Option(min=100, help="Number of rows.")] = 4000,
    disparity: Annotated[
        float, typer.Option(min=0.0, help="Log-odds penalty on group B's outcomes.")
    ] = 1.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    family: Annotated[str, typer.Option(help="Model family: logistic or gbm.")] = "logistic",
    name: Annotated[str, typer.Option(help="Use-case name.")] = "synthetic-eligibility",
) -> None:
    """Write a synthetic data set and its spec, with a controllable disparity between groups."""
    from training.synthetic import write_synthetic

    if family not in ("logistic", "gbm"):
        typer.echo(f"error: --family must be one of ['logistic', 'gbm']; got {family!r}", err=True)
        raise typer.Exit(code=2)
    path = write_synthetic(
        out_dir, rows=rows, disparity=disparity, seed=seed, family=family, name=name
    )
    typer.echo(str(path))


AUDIT_EXIT = {"PASS": 0, "FAIL": 1, "INSUFFICIENT_DATA": 3}


def _outcome_mix_line(row: dict[str, Any]) -> str:
    def rate(name: str) -> str:
        low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
        ci = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
        value = row.get(name)
        return ("n/a" if value is None else f"{value:.3f}") + ci

    return (
        f"approved {rate('approval_rate')}, referred {rate('referral_rate')},"
        f" declined {rate('decline_rate')} (adverse {rate('adverse_rate')})"
    )


def _audit_lines(r: dict[str, Any]) -> str:
    lines = [
        f"{r['use_case']} version {r['model_version']}: {r['outcome']}"
        f"  (audit {r['audit_id'][:12]}, {r['n_test']} test rows, rule: {r['rule']})"
    ]
    gated = next((c["basis"] for c in r["checks"] if c["kind"] == "impact_ratio"), "")
    if gated:
        lines.append(f"  fairness judged on: {gated}")
    if r.get("outcomes"):
        lines.append(
            f"  outcomes at the operating thresholds: {_outcome_mix_line(r['outcomes']['overall'])}"
        )
        for attr in r["outcomes"]["attributes"]:
            if len(attr["attributes"]) > 1:
                continue
            for g in attr["groups"]:
                lines.append(
                    f"    {attr['attribute']}={g['group']} (n={g['n']}): {_outcome_mix_line(g)}"
                )
    for c in r["checks"]:
        if c["verdict"] == "INFO":
            continue
        value = "n/a" if c["value"] is None else f"{c['value']:.4f}"
        ci = (
            f" [{c['ci_low']:.4f}, {c['ci_high']:.4f}]"
            if c["ci_low"] is not None and c["ci_high"] is not None
            else ""
        )
        detail = f"  ({c['detail']})" if c["detail"] else ""
        lines.append(
            f"  {c['verdict']:<17} {c['id']}: {value}{ci} {c['comparator']} {c['threshold']}{detail}"
        )
    return "\n".join(lines)


@app.command()
@user_errors
def audit(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    version: Annotated[str | None, typer.Option(help="Model version to audit.")] = None,
    alias: Annotated[str | None, typer.Option(help="Alias to audit (default: candidate).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Audit a model version against the spec's fairness and performance gate.

    Exit status: 0 PASS, 1 FAIL, 3 INSUFFICIENT_DATA, 2 usage error.
    """
    from audits.audit import run_audit
    from docket.usecases import require_registered, resolve_spec
    from models import registry
    from models.settings import Settings

    if version is not None and alias is not None:
        typer.echo("error: give --version or --alias, not both", err=True)
        raise typer.Exit(code=2)
    spec = resolve_spec(use_case)
    settings = Settings.from_env()
    client = registry.connect(settings)
    require_registered(client, use_case, spec.name)
    report = run_audit(spec, settings, version=version, alias=alias, progress=progress)
    where = _report_location(client, report.run_id, report.audit_id)
    for line in where["lines"]:
        progress(line)
    emit(
        {**report.model_dump(mode="json"), "report_html": where["report_html"]},
        as_json,
        _audit_lines,
    )
    raise typer.Exit(code=AUDIT_EXIT[report.outcome])


def _report_location(client: Any, run_id: str, audit_id: str) -> dict[str, Any]:
    """Where an audit's HTML report is: its file, and the MLflow UI page showing it."""
    from docket.cli_ui import run_page_url
    from models import registry

    found = registry.run_artifact(client, run_id, f"audits/{audit_id}/report.html")
    page = run_page_url(found.experiment_id, run_id, found.artifact_path)
    shown = str(found.local_path) if found.local_path is not None else found.uri
    return {
        "report_html": {
            "path": None if found.local_path is None else str(found.local_path),
            "artifact_uri": found.uri,
            "artifact_path": found.artifact_path,
            "experiment_id": found.experiment_id,
            "run_id": run_id,
            "ui_command": "docket ui",
            "ui_page": page,
        },
        "lines": [
            f"HTML report: {shown}",
            f"in the MLflow UI: run 'docket ui' (same DOCKET_HOME), then open {page}",
        ],
    }


TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DOCKET_TOKEN",
        help="Your personal token (from 'docket people add'); or set DOCKET_TOKEN.",
    ),
]


def _person_from_token(token: str | None, store: Any, action: str) -> Any:
    """The person a --token belongs to; exits with status 2 otherwise."""
    from serving.access.people import authenticate_person

    if not token:
        typer.echo(
            f"error: {action} needs --token (your personal token) or $DOCKET_TOKEN", err=True
        )
        raise typer.Exit(code=2)
    who = authenticate_person(store.engine, token.strip())
    if who is None:
        typer.echo(
            "error: --token must be a personal token (dp_...) of a person who is not disabled;"
            " got an unknown, malformed or disabled one instead",
            err=True,
        )
        raise typer.Exit(code=2)
    return who


def _usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
@user_errors
def promote(
    use_case: Annotated[
        str | None, typer.Argument(help="Use-case name or path to a spec .toml")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Model version to make champion.")] = None,
    requested_by: Annotated[
        str | None,
        typer.Option(help="Who asks for a promotion on PASS (default: $USER); not for waivers."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the history).")] = "",
    waiver: Annotated[
        str | None,
        typer.Option(
            help="Ask for a waiver: the justification for promoting without a PASS audit."
        ),
    ] = None,
    approve: Annotated[
        str | None,
        typer.Option("--approve", help="Approve the waiver request with this id, as yourself."),
    ] = None,
    note: Annotated[str, typer.Option(help="A note with an approval.")] = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Move alias 'champion' to a version whose audit passed, or ask for or approve a waiver.

    On PASS: docket promote USE_CASE --version N [--requested-by A] [--reason TEXT].

    A waiver takes two people, each with their own token (role senior_reviewer or
    admin). 'docket promote USE_CASE --version N --waiver "justification" --token
    TOKEN' records a pending request and prints its id; nothing is promoted.
    'docket promote --approve REQUEST_ID --token TOKEN' approves it as another
    person than the requester and promotes it through the gate.

    The former --requested-by/--approved-by waiver options are removed: one person
    can no longer type two names.
    """
    if approve is not None:
        if use_case is not None or version is not None or waiver is not None:
            _usage("--approve takes only the request id: no use case, --version or --waiver")
        _approve_waiver(approve, token, note, as_json)
        return
    if use_case is None or version is None:
        _usage("give a use case and --version (or --approve REQUEST_ID)")
    if waiver is not None:
        if requested_by is not None:
            _usage(
                "--requested-by is not taken with --waiver: the requester is the --token's person"
            )
        _request_waiver(use_case, version, waiver, reason, token, as_json)
        return
    if note:
        _usage("--note goes with --approve")
    _promote_on_pass(use_case, version, requested_by, reason, as_json)


def _promote_on_pass(
    use_case: str, version: str, requested_by: str | None, reason: str, as_json: bool
) -> None:
    import os

    from audits.promotion import PromotionRefused, event_dict
    from audits.promotion import promote as do_promote
    from models.settings import Settings
    from serving.access.promotions import ledger_recorder

    spec = _trained_spec(use_case)
    who = requested_by or os.environ.get("DOCKET_USER") or os.environ.get("USER") or ""
    if not who.strip():
        _usage("--requested-by is required (no $USER to default to)")
    record = ledger_recorder(open_ledger(), spec)
    try:
        event = do_promote(
            spec, Settings.from_env(), version, requested_by=who, reason=reason, record=record
        )
    except PromotionRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=1) from None
    emit(
        event_dict(event),
        as_json,
        lambda e: (
            f"{spec.name}: champion is now version {e['version']}"
            f" (was {e['previous_champion']}; {e['action']} by {e['requested_by']})"
        ),
    )


def _trained_spec(use_case: str) -> Any:
    """The spec of a use case given by name or path, which must have a registered model."""
    from docket.usecases import require_registered, resolve_spec
    from models import registry
    from models.settings import Settings

    spec = resolve_spec(use_case)
    require_registered(registry.connect(Settings.from_env()), use_case, spec.name)
    return spec


def _request_waiver(
    use_case: str, version: str, justification: str, reason: str, token: str | None, as_json: bool
) -> None:
    from models.settings import Settings
    from serving.access import AccessDenied
    from serving.access.waivers import WaiverRefused, request_waiver_as

    spec = _trained_spec(use_case)
    store = open_ledger()
    who = _person_from_token(token, store, "a waiver request")
    try:
        request = request_waiver_as(
            who, spec, Settings.from_env(), version, justification, log=store, reason=reason
        )
    except (AccessDenied, WaiverRefused) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=1) from None
    emit(
        request.model_dump(mode="json"),
        as_json,
        lambda r: (
            f"waiver request {r['request_id']}: {r['use_case']} version {r['version']}"
            f" (audit {r['audit_status']}), asked by {r['requested_by']}; nothing is promoted yet.\n"
            "Another senior reviewer or admin approves it with"
            f" 'docket promote --approve {r['request_id']} --token THEIR_TOKEN'"
            f" or POST /promotions/{r['request_id']}/approve"
        ),
    )


def _approve_waiver(request_id: str, token: str | None, note: str, as_json: bool) -> None:
    from audits.promotion import event_dict
    from models.settings import Settings
    from serving.access import AccessDenied
    from serving.access.waivers import WaiverRefused, approve_waiver_as

    store = open_ledger()
    who = _person_from_token(token, store, "approving a waiver")
    try:
        event = approve_waiver_as(who, Settings.from_env(), request_id, log=store, note=note)
    except (AccessDenied, WaiverRefused) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=1) from None
    emit(
        {"request_id": request_id, **event_dict(event)},
        as_json,
        lambda e: (
            f"waiver request {request_id} approved by {e['approved_by']}"
            f" (asked by {e['requested_by']}): champion is now version {e['version']}"
            f" (was {e['previous_champion']})"
        ),
    )


@app.command()
@user_errors
def history(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    as_json: JsonFlag = False,
) -> None:
    """Every promotion, waiver and rollback of a use case, from the ledger: who, when and why.

    The MLflow history tags are a convenience copy: an event on one side only, or
    whose fields differ, is reported (``mismatches`` in --json).
    """
    from audits.promotion import history as load_history
    from docket.usecases import require_registered
    from models import registry
    from models.settings import Settings
    from serving.access.promotions import compare_history, ledger_promotions

    client = registry.connect(Settings.from_env())
    # the history is the registry's and the ledger's: a name works even if its spec file moved
    use_case = require_registered(client, use_case)
    entries = ledger_promotions(open_ledger(), use_case)
    mismatches = compare_history(use_case, load_history(client, use_case), entries)
    events: list[dict[str, Any]] = []
    last_hash: str | None = None
    for entry in entries:
        d = entry.digest
        changed = False
        if d.get("action") in ("promote", "rollback") and d.get("spec_hash"):
            changed = last_hash is not None and d["spec_hash"] != last_hash
            last_hash = d["spec_hash"]
        events.append(
            {
                **d,
                "at": d.get("at") or entry.recorded_at,
                "seq": entry.seq,
                "entry_id": entry.entry_id,
                "spec_changed": changed,
            }
        )
    result = {
        "use_case": use_case,
        "events": events,
        "mismatches": [m.to_dict() for m in mismatches],
    }

    def line(e: dict[str, Any]) -> str:
        text = f"{e['at']}  {e['action']:<8} v{e.get('version')}"
        if "previous_champion" in e:
            text += f" (was {e['previous_champion']})"
        text += f"  by {e.get('requested_by')}"
        if e.get("approved_by"):
            text += f", approved by {e['approved_by']}"
        if e.get("audit_status") is not None:
            text += f"  audit {e['audit_status']}"
        text += f": {e.get('reason') or e.get('justification') or ''}"
        if e["spec_changed"]:
            text += f"  [spec changed: now {str(e['spec_hash'])[:12]}]"
        return text

    def human(r: dict[str, Any]) -> str:
        lines = [line(e) for e in r["events"]] or [f"{use_case}: no promotions yet"]
        if mismatches:
            lines.append(
                f"MISMATCH: {len(mismatches)} event(s) differ between the ledger and the"
                " MLflow history tags:"
            )
            lines += [f"  {m.line()}" for m in mismatches]
        return "\n".join(lines)

    emit(result, as_json, human)


@app.command()
@user_errors
def card(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    version: Annotated[
        str | None, typer.Option(help="Version (default: champion, else candidate).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html or json.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """Print the model card of a version (Model Card Toolkit fields in JSON)."""
    from audits.card_source import card_for_version
    from audits.cards import card_json, render_html, render_markdown
    from models import registry
    from models.settings import Settings

    if fmt not in ("md", "html", "json"):
        typer.echo(f"error: --format must be one of ['md', 'html', 'json']; got {fmt!r}", err=True)
        raise typer.Exit(code=2)
    spec = _trained_spec(use_case)
    client = registry.connect(Settings.from_env())
    if version is None:
        version = registry.alias_version(client, spec.name, registry.CHAMPION)
    mv = registry.get_version(client, spec.name, version=version)
    the_card = card_for_version(client, spec, str(mv.version))
    if fmt == "json":
        text = json.dumps(card_json(the_card), indent=2, default=str)
    elif fmt == "html":
        text = render_html(the_card)
    else:
        text = render_markdown(the_card)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        progress(f"wrote {output}")
    else:
        typer.echo(text)


DEMO_SAMPLE = {
    "income": 4200,
    "debt": 2500,
    "years_employed": 6,
    "employment": "permanent",
    "postcode_score": 0.3,
}


def _audit_and_maybe_promote(spec: Any, settings: Any, version: str) -> dict[str, Any]:
    from audits.audit import run_audit
    from audits.promotion import PromotionRefused
    from audits.promotion import promote as do_promote
    from serving.access.promotions import ledger_recorder

    report = run_audit(spec, settings, version=version, progress=progress)
    promotion = "not promoted: audit " + report.outcome
    if report.outcome == "PASS":
        try:
            event = do_promote(
                spec,
                settings,
                version,
                requested_by="docket-demo",
                record=ledger_recorder(open_ledger(), spec),
            )
            promotion = f"promoted to champion (was {event.previous_champion})"
        except PromotionRefused as exc:
            promotion = f"promotion refused: {exc}"
    return {
        "audit": {
            "outcome": report.outcome,
            "audit_id": report.audit_id,
            "failing": [c.id for c in report.failing],
        },
        "promotion": promotion,
    }


@app.command()
@user_errors
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End by serving the champions.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 3000,
    as_json: JsonFlag = False,
) -> None:
    """The main job: train, audit and promote each use case, report honestly, then serve.

    The shipped use cases are trained on real data and audited against their gates;
    a failing one is reported and not promoted. A synthetic use case with a built-in
    group disparity shows the gate failing, mitigation, a passing audit and promotion.
    """
    from docket.usecases import SHIPPED_DIR, resolve_spec
    from models.settings import Settings
    from serving.access.keys import create_key
    from training.synthetic import write_synthetic
    from training.train import train_use_case

    settings = Settings.from_env().ensure()
    progress(f"Docket state in {settings.home} (MLflow: {settings.tracking_uri})")
    results = []
    for path in sorted(SHIPPED_DIR.glob("*.toml")):
        spec = resolve_spec(str(path))
        trained = train_use_case(spec, settings, progress=progress)
        results.append(
            {**trained.to_dict(), **_audit_and_maybe_promote(spec, settings, trained.version)}
        )

    synth_path = write_synthetic(
        settings.home / "specs",
        rows=4000,
        disparity=1.5,
        seed=3,
        spec_file="synthetic-eligibility.toml",
        data_file="synthetic-eligibility.csv",
    )
    synth = resolve_spec(str(synth_path))
    for mitigation in (None, "reweighing"):
        trained = train_use_case(synth, settings, progress=progress, mitigation=mitigation)
        results.append(
            {**trained.to_dict(), **_audit_and_maybe_promote(synth, settings, trained.version)}
        )

    emit(results, as_json, lambda rs: "\n".join(_demo_line(r) for r in rs))
    if not serve_after:
        return
    store = open_ledger()
    key, _ = create_key(store.engine, "application", "docket demo", log=store, by="docket demo")
    # one person holding every role, so the console's pages can all be tried
    from datetime import datetime

    from serving.access import PERSON_ROLES, add_person

    demo_name = f"Demo user {datetime.now():%Y-%m-%d %H:%M:%S}"
    token, _ = add_person(
        store.engine, demo_name, PERSON_ROLES, created_by="docket demo", log=store
    )
    body = json.dumps({"use_case": synth.name, "features": DEMO_SAMPLE})
    typer.echo(
        f"\nServing the champions on http://127.0.0.1:{port} (Ctrl-C to stop). Try:\n"
        f"  curl -s -X POST http://127.0.0.1:{port}/decide \\\n"
        f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"    -d '{body}'\n"
        "The application key above was created for this demo; only its hash is stored.\n"
        f"Web console: http://127.0.0.1:{port}/console/ - sign in as {demo_name!r}"
        f" (every role) with the token\n  {token}",
        err=True,
    )
    serve(host="127.0.0.1", port=port, workers=1)


def _demo_line(r: dict[str, Any]) -> str:
    failing = r["audit"]["failing"]
    mitigation = f" [mitigation: {r['mitigation']}]" if r.get("mitigation") else ""
    shown = ", ".join(failing[:6]) + (f" and {len(failing) - 6} more" if len(failing) > 6 else "")
    return (
        _train_line(r)
        + mitigation
        + f"\n  audit: {r['audit']['outcome']}"
        + (f" (failing: {shown})" if failing else "")
        + f"\n  {r['promotion']}"
    )


keys_app = typer.Typer(help="API keys with roles (stored hashed).", no_args_is_help=True)
people_app = typer.Typer(
    help="People: named accounts with roles and a personal token (stored hashed).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(people_app, name="people")
review_app = typer.Typer(
    help="Human review: reviewer statistics and overdue cases.", no_args_is_help=True
)
app.add_typer(review_app, name="review")


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            help="application, reviewer, auditor, admin or monitoring (reads /metrics only)."
        ),
    ],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; it is shown once and only its hash is stored (a ledger entry)."""
    from serving.access.keys import KeyAdminError, create_key

    store = open_ledger()
    try:
        key, who = create_key(store.engine, role, name, log=store, by=operator_name(by))
    except KeyAdminError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(
        {"key": key, "key_id": who.key_id, "name": who.name, "role": role},
        as_json,
        lambda r: (
            f"{r['key']}\n(key id {r['key_id']}, role {r['role']}: store it now, it is not shown again)"
        ),
    )


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List keys (ids, names, roles; never the secrets)."""
    from serving.access.keys import list_keys

    rows = list_keys(open_ledger().engine)
    emit(
        rows,
        as_json,
        lambda rs: (
            "\n".join(
                f"{r['key_id']}  {r['role']:<11} {r['name']}"
                + ("  (revoked)" if r["revoked_at"] else "")
                for r in rs
            )
            or "no keys"
        ),
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from 'docket keys list'.")],
    by: ByOption = None,
) -> None:
    """Revoke a key (a ledger entry)."""
    from serving.access.keys import revoke_key

    store = open_ledger()
    if not revoke_key(store.engine, key_id, log=store, by=operator_name(by)):
        typer.echo(f"error: no active key with id {key_id!r}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"revoked {key_id}")


@people_app.command("add")
def people_add(
    name: Annotated[str, typer.Option(help="The person's name (unique in any spelling).")],
    role: Annotated[
        list[str],
        typer.Option(help="reviewer, senior_reviewer, auditor or admin; repeat for several."),
    ],
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a person and print their personal token, once (only its hash is stored)."""
    from serving.access.people import PersonAdminError, add_person

    store = open_ledger()
    try:
        token, person = add_person(store.engine, name, role, operator_name(by), log=store)
    except PersonAdminError as exc:
        _usage(str(exc))
    emit(
        {"token": token, **person.to_dict()},
        as_json,
        lambda r: (
            f"{r['token']}\n(person {r['person_id']}, {r['name']}, roles {', '.join(r['roles'])}:"
            " give this token to them now; it is shown only once and cannot be recovered)"
        ),
    )


@people_app.command("list")
def people_list(as_json: JsonFlag = False) -> None:
    """List people (ids, names, roles, who added them; never tokens)."""
    from serving.access.people import list_people

    rows = [p.to_dict() for p in list_people(open_ledger().engine)]
    emit(
        rows,
        as_json,
        lambda rs: (
            "\n".join(
                f"{r['person_id']}  {r['name']:<24} {','.join(r['roles']):<28}"
                f" added {r['created_at'][:10]} by {r['created_by']}"
                + (f"  (disabled {r['disabled_at'][:10]})" if r["disabled_at"] else "")
                for r in rs
            )
            or "no people"
        ),
    )


@people_app.command("disable")
def people_disable(
    name: Annotated[str, typer.Argument(help="The person's name (any spelling).")],
    by: ByOption = None,
) -> None:
    """Disable a person: their token is refused from the very next request."""
    from serving.access.people import PersonAdminError, disable_person

    store = open_ledger()
    try:
        person = disable_person(store.engine, name, operator_name(by), log=store)
    except PersonAdminError as exc:
        _usage(str(exc))
    typer.echo(f"disabled {person.name} (person {person.person_id})")


@app.command()
@user_errors
def replay(
    decision_id: Annotated[
        str | None, typer.Argument(help="Decision id (or --all for many).")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Replay every logged decision (see --use-case, --since).")
    ] = False,
    use_case: Annotated[
        str | None, typer.Option("--use-case", help="With --all: only this use case.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(help="With --all: only decisions made at this time (ISO 8601, UTC) or later."),
    ] = None,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-run logged decisions with their recorded versions and compare every field.

    Validation, score, out-of-distribution check, policy outcome and referral rules,
    each contribution (within 1e-9), reasons and recourse. Exit 1 on any difference.
    """
    from models.settings import Settings
    from serving.decisions.replay import ReplayError, replay_decision, replayed_ids

    if (decision_id is None) == (not every):
        _usage("give a decision id, or --all (with --use-case and --since to narrow it)")
    if not every and (use_case is not None or since is not None):
        _usage("--use-case and --since only go with --all")
    settings, store, reader = Settings.from_env(), open_ledger(), operator_name(by)
    if every:
        ids = list(replayed_ids(store, use_case, since))
    else:
        assert decision_id is not None
        ids = [decision_id]
    results = []
    for one in ids:
        try:
            results.append(replay_decision(settings, store, one, reader=reader))
        except ReplayError as exc:
            _usage(str(exc))
    different = [r for r in results if r["identical"] is False]
    if every:
        summary = {
            "replayed": len(results),
            "identical": sum(r["identical"] is True for r in results),
            "different": len(different),
            "not_replayable": sum(r["identical"] is None for r in results),
            "decisions": results,
        }
        emit(summary, as_json, _replay_summary)
    else:
        emit(results[0], as_json, _replay_line)
    if different:
        raise typer.Exit(code=1)


def _replay_line(r: dict[str, Any]) -> str:
    if r["identical"] is None:
        return f"{r['decision_id']}: not replayable: " + "; ".join(r["differences"])
    if r["identical"]:
        return f"{r['decision_id']}: identical (score {r['score']:.6f}, reasons {r['reasons']})"
    return f"{r['decision_id']}: DIFFERENT: " + "; ".join(r["differences"])


def _replay_summary(s: dict[str, Any]) -> str:
    lines = [
        f"{s['replayed']} decisions replayed: {s['identical']} identical, {s['different']}"
        f" different, {s['not_replayable']} not replayable (personal data erased)"
    ]
    lines += [_replay_line(r) for r in s["decisions"] if r["identical"] is not True]
    return "\n".join(lines)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the champions of every use case with BentoML (POST /decide and the admin routes)."""
    import os
    import sys

    from models.settings import Settings

    settings = Settings.from_env().ensure()
    env = {**os.environ, **settings.as_env()}
    env.setdefault("BENTOML_HOME", str(settings.home / "bentoml"))
    env["BENTOML_CONFIG_OPTIONS"] = (
        env.get("BENTOML_CONFIG_OPTIONS", "") + f" services.Docket.workers={workers}"
    ).strip()
    from serving.decisions.engine import check_registry
    from serving.decisions.errors import RegistryUnavailable

    try:  # one clear message, rather than every worker failing to load its champions
        check_registry(settings)
    except RegistryUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    open_ledger()  # migrate once before the workers start
    progress(f"serving on http://{host}:{port} with {workers} worker(s); state in {settings.home}")
    bentoml_bin = os.path.join(os.path.dirname(sys.executable), "bentoml")
    args = [
        bentoml_bin,
        "serve",
        "serving.http.service:Docket",
        "--host",
        host,
        "--port",
        str(port),
    ]
    os.execve(bentoml_bin, args, env)


@app.command()
def routes(
    as_json: JsonFlag = False,
) -> None:
    """Every route the service answers and the roles that may call it (what the gatekeeper enforces)."""
    from serving.http.service import ROUTES

    emit(
        [
            {"method": r.method, "path": r.path, "roles": sorted(r.roles), "what": r.summary}
            for r in ROUTES.rules
        ],
        as_json,
        lambda _: ROUTES.markdown().rstrip(),
    )


def _desk() -> Any:
    from serving.review import ReviewDesk

    # statistics and deadlines read the cases and the ledger; they need no spec
    return ReviewDesk(open_ledger(), lambda _: None)


def _review_use_case(given: str | None) -> str | None:
    """The use case's name for a --use-case given as a name or a path; unknown names refused."""
    from docket.usecases import UnknownUseCase, use_case_name, use_cases

    if given is None:
        return None
    name = use_case_name(given)
    if name != given:
        return name  # read from the spec file at that path
    known = use_cases()
    if name not in known:
        raise UnknownUseCase(name, sorted(known))
    return name


@review_app.command("stats")
@user_errors
def review_stats(
    use_case: Annotated[
        str | None, typer.Option(help="Only this use case (name or path to a spec .toml).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Per reviewer: cases, agreement rate with the model, overrides by reason, median time."""
    rows = [s.model_dump(mode="json") for s in _desk().stats(use_case=_review_use_case(use_case))]

    def human(found: list[dict[str, Any]]) -> str:
        if not found:
            return "no resolved cases yet"
        lines = []
        for r in found:
            rate = "n/a" if r["agreement_rate"] is None else f"{r['agreement_rate']:.0%}"
            lines.append(
                f"{r['person_name']}: {r['cases']} case(s), agreement with the model {rate},"
                f" overrides {r['overrides']} {r['overrides_by_reason'] or ''}".rstrip()
                + (
                    f", median {r['median_seconds']:.0f} s per case"
                    if r.get("median_seconds") is not None
                    else ""
                )
            )
        return "\n".join(lines)

    emit(rows, as_json, human)


@review_app.command("overdue")
@user_errors
def review_overdue(
    use_case: Annotated[
        str | None, typer.Option(help="Only this use case (name or path to a spec .toml).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every unresolved case past its deadline, with how long it is overdue."""
    rows = [c.model_dump(mode="json") for c in _desk().overdue(use_case=_review_use_case(use_case))]

    def human(found: list[dict[str, Any]]) -> str:
        if not found:
            return "no overdue cases"
        return "\n".join(
            f"{c['case_id']} ({c['use_case']}, {c['kind']}, {c['status']}): deadline"
            f" {c['deadline']}, overdue {c['overdue_seconds'] / 3600:.1f} h"
            + (f", escalated {c['escalated_at']}" if c["escalated_at"] else "")
            for c in found
        )

    emit(rows, as_json, human)


def main() -> None:
    app(prog_name="docket")


if __name__ == "__main__":  # pragma: no cover
    main()


# commands kept in their own modules register themselves on `app` when imported
from docket import (  # noqa: E402, F401  (they register commands)
    cli_alternatives,
    cli_batch,
    cli_ledger,
    cli_monitor,
    cli_retention,
    cli_simulate,
    cli_spec,
    cli_ui,
)
