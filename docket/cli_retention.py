"""`docket ledger retain`, `erase` and `export`: retention, erasure and consent (R30)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from docket.app import ByOption, JsonFlag, emit, open_ledger, operator_name, user_errors
from docket.cli_ledger import ledger_app


def _periods(use_cases: set[str]) -> tuple[dict[str, int], list[str]]:
    """Each use case's ``[retention] payload_days``, from its spec; and the use cases without one."""
    from docket.usecases import UnknownUseCase, resolve_spec

    periods: dict[str, int] = {}
    unknown: list[str] = []
    for name in sorted(use_cases):
        try:
            spec = resolve_spec(name)
        except UnknownUseCase:
            unknown.append(name)
            continue
        if spec.retention is not None:
            periods[name] = spec.retention.payload_days
    return periods, unknown


@ledger_app.command("retain")
@user_errors
def retain(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what is past its period.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Erase personal payloads past the retention period in their spec (retention.payload_days)."""
    from serving.ledger import LogKind
    from serving.review.retention import retain as run

    store = open_ledger()
    use_cases = {e.use_case for e in store.iter_entries() if e.kind == LogKind.DECISION}
    periods, unknown = _periods(use_cases)
    report = run(store, periods, dry_run=dry_run)
    result: dict[str, Any] = {**report.to_dict(), "dry_run": dry_run, "periods_days": periods}
    result["use_cases_without_spec"] = unknown

    def human(r: dict[str, Any]) -> str:
        verb = "would erase" if r["dry_run"] else "erased"
        lines = [
            f"{r['checked']} decisions hold personal data: {verb} {len(r['erased'])},"
            f" {r['not_yet_due']} not yet due, {r['pending_review']} pending review"
        ]
        lines += [
            f"  {verb} {d['decision_id']} ({d['use_case']}, final {d['final_at']}, due {d['due_at']})"
            for d in r["erased"]
        ]
        for name, n in sorted(r["no_retention_period"].items()):
            lines.append(f"  {name}: {n} decisions kept: its spec has no [retention] payload_days")
        return "\n".join(lines)

    emit(result, as_json, human)


@ledger_app.command("erase")
@user_errors
def erase(
    decision: Annotated[str, typer.Option("--decision", help="The decision id.")],
    reason: Annotated[
        str, typer.Option(help="Why (e.g. 'erasure request 2026-118'); no personal data.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Erase one person's personal data about a decision, on their request.

    The erasure is itself a ledger entry; the ledger still verifies, and replay says the
    inputs are gone.
    """
    from serving.ledger import EntryNotFoundError
    from serving.review.retention import erase_decision

    try:
        erased = erase_decision(open_ledger(), decision, reason)
    except (EntryNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(
        {"decision_id": decision, "erased_entries": list(erased)},
        as_json,
        lambda r: (
            f"{r['decision_id']}: erased {len(r['erased_entries'])} personal payload(s)"
            if r["erased_entries"]
            else f"{r['decision_id']}: nothing left to erase (already erased)"
        ),
    )


@ledger_app.command("export")
@user_errors
def export(
    use_case: Annotated[str, typer.Option("--use-case", help="Use-case name or spec path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="A .csv or .parquet file.")],
    purpose: Annotated[
        str, typer.Option(help="Why the data is exported (recorded with every read).")
    ] = "retraining",
    since: Annotated[
        datetime | None, typer.Option(help="Only decisions made at this time (UTC) or later.")
    ] = None,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Export final decisions as data for retraining or monitoring labels, with consent only.

    Only decisions whose person consented to the use of their data for training, and whose
    data was not erased, are exported; every row exported is a logged read.
    """
    import pandas as pd

    from docket.usecases import resolve_spec
    from serving.review.exports import export_decisions

    if output.suffix.lower() not in (".csv", ".parquet"):
        typer.echo(f"error: --output must end in .csv or .parquet; got {str(output)!r}", err=True)
        raise typer.Exit(code=2)
    name = resolve_spec(use_case).name
    found = export_decisions(
        open_ledger(), name, reader=operator_name(by), purpose=purpose, since=since
    )
    frame = pd.DataFrame(found.rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".csv":
        frame.to_csv(output, index=False)
    else:
        frame.to_parquet(output, index=False)
    result = {"use_case": name, "output": str(output), **found.summary()}
    emit(
        result,
        as_json,
        lambda r: (
            f"{r['use_case']}: exported {r['exported']} decisions to {r['output']}; left out"
            f" {r['left_out_without_training_consent']} without consent to training use,"
            f" {r['left_out_erased']} erased, {r['left_out_pending_review']} pending review"
        ),
    )
