"""The `docket` command: a thin shell over the packages.

Progress goes to stderr; ``--json`` puts a machine-readable result on stdout.
User mistakes exit with status 2 and a message naming what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from models.spec import MITIGATIONS

app = typer.Typer(
    name="docket",
    help="Docket: audited decision models with reasons, human review and a tamper-evident log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_app = typer.Typer(help="Decision specs: list and validate.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]
F = TypeVar("F", bound=Callable[..., Any])


def progress(line: str) -> None:
    typer.echo(line, err=True)


def emit(result: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(human(result))


def user_errors(func: F) -> F:
    """Turn the packages' user-facing errors into a message and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from audits.audit import AuditError
        from docket.usecases import UnknownUseCase
        from models.encoder import EncodingError
        from models.registry import RegistryError
        from models.spec import SpecError
        from training.data import DataError

        try:
            return func(*args, **kwargs)
        except (
            SpecError,
            DataError,
            UnknownUseCase,
            EncodingError,
            RegistryError,
            AuditError,
        ) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@spec_app.command("list")
def spec_list(as_json: JsonFlag = False) -> None:
    """List the known use cases and their spec files."""
    from docket.usecases import known_specs

    found = {name: str(path) for name, path in known_specs().items()}
    emit(found, as_json, lambda r: "\n".join(f"{k}\t{v}" for k, v in r.items()))


@spec_app.command("validate")
@user_errors
def spec_validate(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    as_json: JsonFlag = False,
) -> None:
    """Validate a decision spec and print its hash."""
    from docket.usecases import resolve_spec

    spec = resolve_spec(use_case)
    result = {"name": spec.name, "spec_hash": spec.spec_hash(), "features": spec.feature_names}
    emit(result, as_json, lambda r: f"{r['name']}: valid (spec hash {r['spec_hash'][:12]})")


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


def _audit_lines(r: dict[str, Any]) -> str:
    lines = [
        f"{r['use_case']} version {r['model_version']}: {r['outcome']}"
        f"  (audit {r['audit_id'][:12]}, {r['n_test']} test rows, rule: {r['rule']})"
    ]
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
    from docket.usecases import resolve_spec
    from models.settings import Settings

    if version is not None and alias is not None:
        typer.echo("error: give --version or --alias, not both", err=True)
        raise typer.Exit(code=2)
    spec = resolve_spec(use_case)
    report = run_audit(spec, Settings.from_env(), version=version, alias=alias, progress=progress)
    emit(report.model_dump(mode="json"), as_json, _audit_lines)
    raise typer.Exit(code=AUDIT_EXIT[report.outcome])


@app.command()
@user_errors
def promote(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    version: Annotated[str, typer.Option(help="Model version to make champion.")],
    requested_by: Annotated[
        str | None, typer.Option(help="Who asks for the promotion (default: $USER).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the history).")] = "",
    waiver: Annotated[
        str | None, typer.Option(help="Justification for promoting without a PASS audit.")
    ] = None,
    approved_by: Annotated[
        str | None, typer.Option(help="Approver of the waiver (not the requester).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Move alias 'champion' to a version whose audit passed (or with a four-eyes waiver)."""
    import os

    from audits.promotion import PromotionRefused, event_dict, make_waiver, record_refusal
    from audits.promotion import promote as do_promote
    from docket.usecases import resolve_spec
    from models import registry
    from models.settings import Settings

    spec = resolve_spec(use_case)
    who = requested_by or os.environ.get("DOCKET_USER") or os.environ.get("USER") or ""
    if not who.strip():
        typer.echo("error: --requested-by is required (no $USER to default to)", err=True)
        raise typer.Exit(code=2)
    settings = Settings.from_env()
    try:
        try:
            w = make_waiver(waiver, who, approved_by)
        except PromotionRefused as exc:
            client = registry.connect(settings)
            mv = registry.get_version(client, spec.name, version=version)
            record_refusal(client, spec.name, mv, who, str(exc), approved_by=approved_by)
            raise
        event = do_promote(spec, settings, version, requested_by=who, reason=reason, waiver=w)
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


@app.command()
@user_errors
def history(
    use_case: Annotated[str, typer.Argument(help="Use-case name")],
    as_json: JsonFlag = False,
) -> None:
    """Every promotion, waiver and rollback of a use case: who, when and why."""
    from audits.promotion import event_dict
    from audits.promotion import history as load_history
    from models import registry
    from models.settings import Settings

    client = registry.connect(Settings.from_env())
    registry.require_model(client, use_case)
    events = [event_dict(e) for e in load_history(client, use_case)]

    def human(es: list[dict[str, Any]]) -> str:
        if not es:
            return f"{use_case}: no promotions yet"
        return "\n".join(
            f"{e['at']}  {e['action']:<8} v{e['version']} (was {e['previous_champion']})"
            f"  by {e['requested_by']}"
            + (f", approved by {e['approved_by']}" if e["approved_by"] else "")
            + f"  audit {e['audit_status']}: {e['reason']}"
            for e in es
        )

    emit(events, as_json, human)


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
    from docket.usecases import resolve_spec
    from models import registry
    from models.settings import Settings

    if fmt not in ("md", "html", "json"):
        typer.echo(f"error: --format must be one of ['md', 'html', 'json']; got {fmt!r}", err=True)
        raise typer.Exit(code=2)
    spec = resolve_spec(use_case)
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

    report = run_audit(spec, settings, version=version, progress=progress)
    promotion = "not promoted: audit " + report.outcome
    if report.outcome == "PASS":
        try:
            event = do_promote(spec, settings, version, requested_by="docket-demo")
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
    from serving.keys import create_key
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
    key, _ = create_key(_log_store().engine, "application", "docket demo")
    body = json.dumps({"use_case": synth.name, "features": DEMO_SAMPLE})
    typer.echo(
        f"\nServing the champions on http://127.0.0.1:{port} (Ctrl-C to stop). Try:\n"
        f"  curl -s -X POST http://127.0.0.1:{port}/decide \\\n"
        f"    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
        f"    -d '{body}'\n"
        "The application key above was created for this demo; only its hash is stored.",
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
log_app = typer.Typer(help="The decision log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(log_app, name="log")


def _log_store() -> Any:
    from models.settings import Settings
    from serving.log import DecisionLog

    store = DecisionLog(Settings.from_env().ensure().database_url)
    store.migrate()
    return store


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="application, reviewer, auditor or admin.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; it is shown once and only its hash is stored."""
    from serving.keys import KeyAdminError, create_key

    try:
        key, who = create_key(_log_store().engine, role, name)
    except KeyAdminError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(
        {"key": key, "key_id": who.key_id, "name": who.name, "role": who.role},
        as_json,
        lambda r: (
            f"{r['key']}\n(key id {r['key_id']}, role {r['role']}: store it now, it is not shown again)"
        ),
    )


@keys_app.command("list")
def keys_list(as_json: JsonFlag = False) -> None:
    """List keys (ids, names, roles; never the secrets)."""
    from serving.keys import list_keys

    rows = list_keys(_log_store().engine)
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
) -> None:
    """Revoke a key."""
    from serving.keys import revoke_key

    if not revoke_key(_log_store().engine, key_id):
        typer.echo(f"error: no active key with id {key_id!r}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"revoked {key_id}")


@log_app.command("verify")
def log_verify(as_json: JsonFlag = False) -> None:
    """Check the whole hash chain; name the first broken record. Exit 1 if broken."""
    result = _log_store().verify()
    out = result.to_dict()
    emit(
        out,
        as_json,
        lambda r: (
            f"ok: {r['entries_checked']} entries verified"
            if r["ok"]
            else f"BROKEN at seq {r['first_broken_seq']} (entry {r['first_broken_entry_id']}):"
            f" {r['problem']}: {r['detail']}"
        ),
    )
    if not result.ok:
        raise typer.Exit(code=1)


@app.command()
@user_errors
def replay(
    decision_id: Annotated[str, typer.Argument(help="Decision id")],
    as_json: JsonFlag = False,
) -> None:
    """Re-score and re-explain a logged decision with its recorded versions. Exit 1 on any difference."""
    from models.settings import Settings
    from serving.replay import ReplayError, replay_decision

    try:
        out = replay_decision(Settings.from_env(), _log_store(), decision_id)
    except ReplayError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(
        out,
        as_json,
        lambda r: (
            f"{r['decision_id']}: identical (score {r['score']:.6f}, reasons {r['reasons']})"
            if r["identical"]
            else f"{r['decision_id']}: DIFFERENT: " + "; ".join(r["differences"])
        ),
    )
    if not out["identical"]:
        raise typer.Exit(code=1)


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
    _log_store()  # migrate once before the workers start
    progress(f"serving on http://{host}:{port} with {workers} worker(s); state in {settings.home}")
    bentoml_bin = os.path.join(os.path.dirname(sys.executable), "bentoml")
    args = [bentoml_bin, "serve", "serving.service:Docket", "--host", host, "--port", str(port)]
    os.execve(bentoml_bin, args, env)


def main() -> None:
    app(prog_name="docket")


if __name__ == "__main__":  # pragma: no cover
    main()
