"""`docket monitor <use-case>`: drift, live fairness and the human-plus-model system (R32).

Exit status: 0 no alert in the report, 1 at least one alert (raised now or still
raised), 2 bad input (unknown use case, bad window or range).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from docket.app import JsonFlag, app, open_ledger, progress, user_errors


def _since(text: str | None) -> datetime | None:
    """``7d`` / ``12w`` ago, or an ISO date; None: everything."""
    if text is None:
        return None
    now = datetime.now(UTC)
    try:
        if text.endswith("d"):
            return now - timedelta(days=int(text[:-1]))
        if text.endswith("w"):
            return now - timedelta(weeks=int(text[:-1]))
        moment = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"error: '--since' must be like 7d, 4w or an ISO date (got {text!r})", err=True)
        raise typer.Exit(code=2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _human(result: dict[str, Any]) -> str:
    lines = [f"monitoring {result['use_case']} ({result['window']} windows)"]
    report = result["report"]
    for w in report["windows"]:
        lines.append(
            f"  {w['window']['label']}: {w['n']} decisions, {w['unknown_group']} without group"
        )
    worst: dict[str, float] = {}
    for row in report["drift"]:
        worst[row["column"]] = max(worst.get(row["column"], 0.0), row["psi"])
    if worst:
        lines.append("drift (largest PSI over the windows):")
        lines += [f"  {c}: {v:.3f}" for c, v in sorted(worst.items(), key=lambda kv: -kv[1])]
    for s in report["fairness_summaries"]:
        ratio = s.get("min_approval_impact_ratio")
        shown = "n/a" if ratio is None else f"{ratio:.3f}"
        lines.append(f"fairness {s['window']['label']} {s['attribute']}: min impact ratio {shown}")
    reviewers = sorted({r["reviewer"] for r in report["system"] if r["reviewer"]})
    if report["system"]:
        lines.append(
            f"human-plus-model rows: {len(report['system'])} (reviewers: {', '.join(reviewers) or 'none'})"
        )
    lines.append(f"alerts: {len(result['alerts'])}")
    lines += [f"  {a['message']}" for a in result["alerts"]]
    lines.append(f"page: {result['page']}")
    return "\n".join(lines)


#: the issue's and the README's spelling of the two window kinds
_WINDOW_ALIASES = {"1d": "day", "7d": "week"}


@app.command("monitor")
@user_errors
def monitor(
    use_case: Annotated[str, typer.Argument(help="Use case name or spec path.")],
    window: Annotated[str, typer.Option(help="Window kind: day (or 1d) or week (or 7d).")] = "week",
    since: Annotated[
        str | None, typer.Option(help="Only decisions since: 7d, 4w or an ISO date.")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Only this model version (default: every version).")
    ] = None,
    record: Annotated[
        bool,
        typer.Option(help="Record raised and cleared alerts in the ledger (and the webhook)."),
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Print the monitoring report and its alerts; write the HTML page to the state folder."""
    from audits.monitoring import (
        MonitoringInputError,
        check_alerts,
        feature_kinds,
        monitoring_report,
        to_plain,
    )
    from docket.usecases import resolve_spec
    from models import registry
    from models.settings import Settings
    from models.spec import MonitoringSection
    from serving.monitoring.alerts import record_alerts
    from serving.monitoring.page import render_page
    from serving.monitoring.reader import read_spec_decisions, reference_sample

    window = _WINDOW_ALIASES.get(window, window)
    if window not in ("day", "week"):
        typer.echo(
            f"error: '--window' must be one of ['day', 'week', '1d', '7d'] (got {window!r})",
            err=True,
        )
        raise typer.Exit(code=2)
    spec = resolve_spec(use_case)
    settings = spec.monitoring or MonitoringSection()
    store = open_ledger()
    read = read_spec_decisions(store, spec, start=_since(since), model_version=version)
    progress(f"[monitor] {len(read.frame)} decisions of {spec.name} read from the ledger")
    reference = None
    client = registry.connect(Settings.from_env())
    served = version or registry.alias_version(client, spec.name, registry.CHAMPION)
    if served is not None:
        reference = reference_sample(client, spec, served)
    try:
        report = monitoring_report(
            read.frame,
            settings=settings,
            window=window,  # type: ignore[arg-type]
            features=feature_kinds(spec),
            attributes=read.attributes,
            reference=reference,
        )
    except MonitoringInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    alerts = check_alerts(report, settings)
    written = (
        record_alerts(store, spec.name, report, alerts, webhook=settings.webhook) if record else []
    )
    home = Settings.from_env().ensure().home
    page = home / "monitoring" / f"{spec.name}-{window}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render_page(spec.name, report, alerts), encoding="utf-8")
    result = {
        "use_case": spec.name,
        "window": window,
        "reference_version": served,
        "report": to_plain(report),
        "alerts": [{**to_plain(a), "message": a.message} for a in alerts],
        "recorded": [{"seq": e.seq, **e.digest} for e in written],
        "page": str(page),
    }
    if as_json:
        typer.echo(__import__("json").dumps(result, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(_human(result))
    if alerts:
        raise typer.Exit(code=1)
