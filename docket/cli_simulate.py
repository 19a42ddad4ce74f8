"""`docket simulate`: what a threshold change would do, before making it (registered on the app).

The held-out rows of a version's training run are scored as the audit scores them,
and the logged decisions of the use case (when there are any) are taken with the
scores they were given; each setting of ``approve_at`` / ``decline_below`` is applied
to both by :func:`audits.simulation.simulate`. Nothing is changed: not the registry,
not the spec, no decision. The plot is written, and reading the logged decisions'
personal data (the features the high-stakes rules need) is recorded in the ledger as
one ``access`` entry per decision, like every other read of personal data (R31); the
log is not opened at all when its database does not exist yet.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from docket.app import ByOption, JsonFlag, app, emit, operator_name, progress, user_errors

DAILY_VOLUME_HELP = "Applications per day, for reviewer hours per day (default 1000)."
MINUTES_HELP = "Reviewer minutes per referred case, for reviewer hours per day (default 15)."
NOTHING_CHANGED = (
    "Nothing was changed: a new policy is a new spec version, and it goes through the gate."
)
NO_GROUPS_LOGGED = (
    "Group membership is not logged with decisions yet, so there are no by-group figures"
    " (impact ratios) for logged decisions."
)


@dataclass(frozen=True)
class LoggedRows:
    """The logged decisions of one use case, as the simulation needs them."""

    scores: np.ndarray
    frame: pd.DataFrame  # the features the high-stakes rules read; NaN where not logged
    out_of_distribution: np.ndarray
    forced: dict[str, np.ndarray]
    lacking_features: int
    stopped: int
    versions: dict[str, int]
    decided_at: list[datetime] = field(default_factory=list)

    @property
    def days(self) -> int:
        """Calendar days from the first decision to the last, both included."""
        if not self.decided_at:
            return 0
        return (max(self.decided_at).date() - min(self.decided_at).date()).days + 1

    @property
    def daily_volume(self) -> float | None:
        """Decisions per day over the days the log covers."""
        return len(self.scores) / self.days if self.days else None


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


SIMULATION_PURPOSE = "policy simulation (docket simulate): the high-stakes rules' features"


def read_logged(
    database_url: str,
    use_case: str,
    version: str | None,
    rule_features: list[str],
    reader: str = "unknown",
) -> LoggedRows | None:
    """The use case's logged decisions (of ``version`` only, when given); None without a log.

    Feature values are read from the erasable payloads only for the high-stakes rules;
    a decision whose payload was erased is counted in ``lacking_features``, and a rule
    that fired on it at the time stays fired (a forced referral), since the rule does not
    depend on the thresholds. Every payload read is an ``access`` entry of the ledger
    naming ``reader`` and the purpose (R31), as any other read of personal data; they
    are written in one transaction after the reads.
    """
    from serving.decisions.search import MAX_PAGE, DecisionQuery, search_decisions
    from serving.ledger import DecisionLog, LogKind
    from serving.ledger.reads import record_reads

    sqlite_file = _sqlite_file(database_url)
    if sqlite_file is not None and not sqlite_file.is_file():
        return None  # opening it would create it
    log = DecisionLog(database_url)
    try:
        records = []
        before: int | None = None
        while True:
            page = search_decisions(
                log, DecisionQuery(use_case=use_case), limit=MAX_PAGE, before_seq=before
            )
            records += [
                row.record
                for row in page.rows
                if version is None or row.record.model_version == version
            ]
            if page.next_before is None:
                break
            before = page.next_before
        records.reverse()  # oldest first
        n = len(records)
        values: dict[str, list[Any]] = {f: [None] * n for f in rule_features}
        lacking = np.zeros(n, dtype=bool)
        if rule_features:
            for i, record in enumerate(records):
                entry = next(
                    e for e in log.entries_for(record.decision_id) if e.kind == LogKind.DECISION
                )
                payload = log.get_payload(entry.entry_id).payload
                features = (payload or {}).get("features") or {}
                lacking[i] = payload is None or any(f not in features for f in rule_features)
                for f in rule_features:
                    values[f][i] = features.get(f)
            read = [r.decision_id for r, gone in zip(records, lacking, strict=True) if not gone]
            record_reads(
                log,
                use_case,
                read,
                reader=reader,
                purpose=SIMULATION_PURPOSE,
                details={"features": rule_features},
            )
    finally:
        log.close()
    fired = [{r.rule for r in record.referral_reasons} for record in records]
    forced = {"consent_withheld": np.array(["consent_withheld" in f for f in fired], dtype=bool)}
    for feature in rule_features:
        name = f"high_stakes:{feature}"
        forced[name] = lacking & np.array([name in f for f in fired], dtype=bool)
    return LoggedRows(
        scores=np.array([r.score for r in records], dtype=np.float64),
        frame=pd.DataFrame(
            {f: pd.Series(v, dtype=object) for f, v in values.items()}, index=range(n)
        ),
        out_of_distribution=np.array(["out_of_distribution" in f for f in fired], dtype=bool),
        forced={k: v for k, v in forced.items() if v.any()},
        lacking_features=int(lacking.sum()),
        stopped=sum("stop_switch" in f for f in fired),
        versions=dict(Counter(r.model_version for r in records)),
        decided_at=[datetime.fromisoformat(r.decided_at) for r in records],
    )


def _logged_notes(logged: LoggedRows, rule_features: list[str]) -> list[str]:
    notes = [NO_GROUPS_LOGGED]
    versions = ", ".join(f"version {v}: {n}" for v, n in sorted(logged.versions.items()))
    notes.append(f"Logged decisions by model version: {versions}; scores as logged.")
    if rule_features:
        notes.append(
            f"{logged.lacking_features} of {len(logged.scores)} logged decisions lacked the"
            f" features the high-stakes rules read ({', '.join(rule_features)}): personal"
            " data erased. For them a rule counts as fired when it fired at the time."
        )
    if logged.stopped:
        notes.append(
            f"{logged.stopped} logged decisions were referred by the stop switch; simulated"
            " as if it were off."
        )
    if logged.forced.get("consent_withheld") is not None:
        notes.append(
            f"{int(logged.forced['consent_withheld'].sum())} logged decisions had consent to an"
            " automated decision withheld: referred at every setting."
        )
    if logged.daily_volume is not None:
        notes.append(
            f"Measured volume: {logged.daily_volume:.1f} decisions per day over {logged.days}"
            " day(s) of logged decisions (pass it as --daily-volume to use it)."
        )
    return notes


def run_simulation(
    use_case: str,
    *,
    version: str | None = None,
    approve_at: float | None = None,
    decline_below: float | None = None,
    sweep: str | None = None,
    daily_volume: float = 1000.0,
    minutes_per_case: float = 15.0,
    plot: Path | None = None,
    logged: bool = True,
    reader: str = "unknown",
) -> dict[str, Any]:
    """Everything `docket simulate` reports, as JSON-ready data (the plot written to a file)."""
    from audits.audit import load_held_out, score_rows
    from audits.simulation import (
        SimulationError,
        Workload,
        parse_sweep,
        policy_settings,
        simulate,
    )
    from audits.simulation_plot import simulation_png
    from docket.usecases import require_registered, resolve_spec
    from models import registry
    from models.settings import Settings

    spec = resolve_spec(use_case)
    require_registered(registry.connect(Settings.from_env()), use_case, spec.name)
    swept = None if sweep is None else parse_sweep(sweep)
    settings_list = policy_settings(
        spec.policy,
        use_case=spec.name,
        approve_at=approve_at,
        decline_below=decline_below,
        sweep=swept,
    )
    if not daily_volume > 0 or not minutes_per_case > 0:
        bad = "--daily-volume" if not daily_volume > 0 else "--minutes-per-case"
        got = daily_volume if bad == "--daily-volume" else minutes_per_case
        raise SimulationError(f"{bad} must be a number > 0; got {got!r} instead.")
    workload = Workload(daily_volume=daily_volume, minutes_per_case=minutes_per_case)
    gate = spec.gate
    min_group_size = 30 if gate is None else gate.min_group_size
    min_share = 0.02 if gate is None else gate.min_share_for_ratios
    gated_intersections = gate is None or gate.intersections == "gate"
    min_impact_ratio = 0.8 if gate is None else gate.min_impact_ratio

    state = Settings.from_env()
    client = registry.connect(state)
    chosen = version
    if chosen is None:
        chosen = registry.alias_version(client, spec.name, registry.CHAMPION)
    mv = registry.get_version(client, spec.name, version=chosen)
    model_version = str(mv.version)
    aliases = [
        a
        for a in (registry.CHAMPION, registry.CANDIDATE)
        if registry.alias_version(client, spec.name, a) == model_version
    ]
    model, rows = load_held_out(client, spec, mv)
    progress(f"[{spec.name}] version {model_version}: {len(rows)} held-out rows")
    scored = score_rows(spec, model, rows)
    held_out = simulate(
        settings_list,
        scored.scores,
        rows,
        source="held_out",
        workload=workload,
        out_of_distribution=scored.out_of_distribution,
        sensitive={c: scored.groups[c].to_numpy() for c in scored.groups.columns},
        min_group_size=min_group_size,
        min_share=min_share,
        gated_intersections=gated_intersections,
        swept=None if swept is None else swept.name,
        notes=[f"Held-out test rows of version {model_version}'s training run, scored by it."],
    )

    logged_result = None
    logged_note = "logged decisions not read (--no-logged)"
    if logged:
        assert spec.policy is not None  # policy_settings checked it
        rule_features = sorted({r.feature for r in spec.policy.rules})
        found = read_logged(state.database_url, spec.name, version, rule_features, reader)
        if found is None or len(found.scores) == 0:
            logged_note = "no logged decisions for this use case" + (
                f" and version {version}" if version is not None else ""
            )
        else:
            progress(f"[{spec.name}] {len(found.scores)} logged decisions")
            logged_result = simulate(
                settings_list,
                found.scores,
                found.frame,
                source="logged",
                workload=workload,
                out_of_distribution=found.out_of_distribution,
                forced=found.forced,
                swept=None if swept is None else swept.name,
                notes=_logged_notes(found, rule_features),
            )
            logged_note = ""

    if plot is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        plot = state.home / "simulations" / f"{spec.name}-v{model_version}-{stamp}.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(
        simulation_png(
            held_out,
            logged_result,
            min_impact_ratio=min_impact_ratio,
            title=f"{spec.name} version {model_version}: threshold simulation",
        )
    )
    return {
        "use_case": spec.name,
        "model_version": model_version,
        "aliases": aliases,
        "spec_version": spec.version,
        "policy_version": spec.policy.version if spec.policy is not None else None,
        "swept": None if swept is None else swept.name,
        "workload": workload.model_dump(mode="json"),
        "min_impact_ratio": min_impact_ratio,
        "held_out": held_out.to_dict(),
        "logged": None if logged_result is None else logged_result.to_dict(),
        "logged_note": logged_note,
        "plot": str(plot),
        "changed": False,
        "note": NOTHING_CHANGED,
    }


# ---- the human-readable table ---------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _settings_table(result: dict[str, Any]) -> list[str]:
    head = (
        f"{'setting':<22}{'approve_at':>11}{'decline_below':>14}{'approved':>10}{'referred':>10}"
        f"{'declined':>10}{'adverse':>9}{'cases/1000':>12}{'hours/day':>11}"
    )
    by_group = result["by_group"]
    if by_group:
        head += "  worst impact ratio"
    lines = [head]
    for s in result["settings"]:
        label = s["label"] + (" (current)" if s["current"] and s["label"] != "current" else "")
        line = (
            f"{label:<22}{s['approve_at']:>11g}{s['decline_below']:>14g}"
            f"{_pct(s['approval_rate']):>10}{_pct(s['referral_rate']):>10}"
            f"{_pct(s['decline_rate']):>10}{_pct(s['adverse_rate']):>9}"
            f"{_num(s['cases_per_1000']):>12}{_num(s['reviewer_hours_per_day']):>11}"
        )
        if by_group:
            worst = s["worst_impact_ratio"]
            line += f"  {_num(worst, 3)}" + (
                f" ({s['worst_impact_group']})" if worst is not None else ""
            )
        lines.append(line)
    return lines


def _group_label(row: dict[str, Any]) -> str:
    # an intersection's label already names its attributes
    return row["group"] if " & " in row["attribute"] else f"{row['attribute']}: {row['group']}"


def _group_table(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Impact ratios of the gated groups by setting, and the groups left out of the ratios."""
    settings = result["settings"]
    gated = [g for g in settings[0]["groups"] if g["gated"]]
    # whether a group is in the ratios depends on its share alone, the same at every setting
    shown = [(g["attribute"], g["group"]) for g in gated if g["included_in_ratios"]]
    left_out = [_group_label(g) for g in gated if not g["included_in_ratios"]]
    if not shown:
        return [], left_out
    labels = {
        (g["attribute"], g["group"]): _group_label(g) for g in gated if g["included_in_ratios"]
    }
    width = max(len(v) for v in labels.values()) + 2
    columns = [s["label"] for s in settings]
    col = max(10, *(len(c) + 2 for c in columns))
    lines = [f"{'group':<{width}}" + "".join(f"{c:>{col}}" for c in columns)]
    for key in shown:
        cells = []
        for s in settings:
            ratio = next(
                (g["impact_ratio"] for g in s["groups"] if (g["attribute"], g["group"]) == key),
                None,
            )
            cells.append(_num(ratio, 3))
        lines.append(f"{labels[key]:<{width}}" + "".join(f"{c:>{col}}" for c in cells))
    return lines, left_out


def simulation_lines(r: dict[str, Any]) -> str:
    """The report as text: a table per source, impact ratios by group, notes, the plot."""
    w = r["workload"]
    alias = f" ({', '.join(r['aliases'])})" if r["aliases"] else ""
    lines = [
        f"{r['use_case']}: model version {r['model_version']}{alias}, spec version"
        f" {r['spec_version']}, policy version {r['policy_version']}",
        f"Workload: {w['daily_volume']:g} applications per day, {w['minutes_per_case']:g} minutes"
        " per referred case (set with --daily-volume and --minutes-per-case).",
        "",
        f"Held-out rows (n={r['held_out']['n']}):",
        *_settings_table(r["held_out"]),
    ]
    groups, left_out = _group_table(r["held_out"])
    if groups:
        lines += [
            "",
            "Approval impact ratio by group (held-out rows; the gate asks for"
            f" >= {r['min_impact_ratio']:g}):",
            *groups,
        ]
    if left_out:
        lines.append(f"Under the share for ratios, not in them: {', '.join(left_out)}.")
    if r["logged"] is not None:
        lines += ["", f"Logged decisions (n={r['logged']['n']}):", *_settings_table(r["logged"])]
    else:
        lines += ["", f"Logged decisions: {r['logged_note']}."]
    notes = r["held_out"]["notes"] + ([] if r["logged"] is None else r["logged"]["notes"])
    lines += ["", *(f"- {n}" for n in notes), "", f"Plot: {r['plot']}", NOTHING_CHANGED]
    return "\n".join(lines)


@app.command()
@user_errors
def simulate(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    version: Annotated[
        str | None, typer.Option(help="Model version (default: champion, else candidate).")
    ] = None,
    approve_at: Annotated[
        float | None, typer.Option("--approve-at", help="approve_at to try (0 < A < 1).")
    ] = None,
    decline_below: Annotated[
        float | None, typer.Option("--decline-below", help="decline_below to try (0 < D < 1).")
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(
            help="Sweep one threshold, end included: approve_at=0.6:0.9:0.05 or"
            " decline_below=0.2:0.4:0.05; the other stays at its option or the spec's value."
        ),
    ] = None,
    daily_volume: Annotated[float, typer.Option(help=DAILY_VOLUME_HELP)] = 1000.0,
    minutes_per_case: Annotated[float, typer.Option(help=MINUTES_HELP)] = 15.0,
    plot: Annotated[
        Path | None,
        typer.Option(help="Where to write the PNG (default: DOCKET_HOME/simulations/...)."),
    ] = None,
    logged: Annotated[
        bool, typer.Option("--logged/--no-logged", help="Also simulate on logged decisions.")
    ] = True,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Simulate other approve_at / decline_below values on held-out rows and logged decisions.

    Reports automated approval, referral and decline rates, reviewer workload and impact
    ratios by group for each setting, the spec's current one first. Nothing is changed.
    """
    from audits.simulation import SimulationError
    from serving.ledger import LogReadError

    try:
        result = run_simulation(
            use_case,
            version=version,
            approve_at=approve_at,
            decline_below=decline_below,
            sweep=sweep,
            daily_volume=daily_volume,
            minutes_per_case=minutes_per_case,
            plot=plot,
            logged=logged,
            reader=operator_name(by),
        )
    except (SimulationError, LogReadError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(result, as_json, simulation_lines)
    if as_json:
        progress(f"plot: {result['plot']}")
