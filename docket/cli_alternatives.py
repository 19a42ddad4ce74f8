"""`docket alternatives`: search for less discriminatory alternatives (registered on the app)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from docket.app import JsonFlag, app, emit, progress, user_errors


def _quiet(_: str) -> None:
    return None


def _ci(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _table(record: dict[str, Any]) -> str:
    header = (
        "#",
        "candidate",
        "ROC AUC [ci]",
        "worst IR [ci] (group)",
        "EOD [ci]",
        "gate",
        "F",
        "notes",
    )
    lines: list[tuple[str, ...]] = [header]
    for c in record["candidates"]:
        notes = []
        if c["same_predictions_as"] is not None:
            notes.append(f"same scores as {c['same_predictions_as']}")
        if c["number"] == record["recommended"]:
            notes.append("recommended")
        if c["gate_outcome"] != "PASS" and c["failing"]:
            notes.append(
                "fails " + ", ".join(c["failing"][:3]) + ("..." if len(c["failing"]) > 3 else "")
            )
        ir = _ci(
            c["worst_impact_ratio"], c["worst_impact_ratio_ci_low"], c["worst_impact_ratio_ci_high"]
        )
        if c["worst_group"]:
            ir += f" ({c['worst_group']})"
        lines.append(
            (
                str(c["number"]),
                c["name"],
                _ci(c["roc_auc"], c["roc_auc_ci_low"], c["roc_auc_ci_high"]),
                ir,
                _ci(
                    c["equalized_odds_difference"],
                    c["equalized_odds_difference_ci_low"],
                    c["equalized_odds_difference_ci_high"],
                ),
                c["gate_outcome"],
                "*" if c["on_frontier"] else "",
                "; ".join(notes),
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in lines
    )


def _search_text(r: dict[str, Any]) -> str:
    record = r["search"]
    passing = [c["number"] for c in record["candidates"] if c["gate_outcome"] == "PASS"]
    lines = [
        f"{record['use_case']}: {len(record['candidates'])} candidates in {r['seconds']:.0f} s"
        f" (stopped by: {record['stopped_by']}); * = on the frontier",
        "",
        _table(record),
        "",
        f"pass the gate: {passing or 'none'}",
        f"recommended: {record['recommended']}: {record['recommended_why']}",
    ]
    lines += [f"note: {n}" for n in record["notes"]]
    lines += [
        f"search id: {record['search_id']}",
        f"frontier plot: {r['plot']}",
        "nothing was registered; to register candidate K:"
        f" docket alternatives {record['use_case']} --register K",
    ]
    return "\n".join(lines)


def _register_text(r: dict[str, Any]) -> str:
    return (
        f"{r['use_case']}: registered candidate {r['chosen']} of search {r['search_id']} as"
        f" version {r['version']} ('candidate'); test ROC AUC {r['metrics']['roc_auc']:.3f}\n"
        f"why: {r['chosen_why']}"
    )


@app.command()
@user_errors
def alternatives(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    budget_seconds: Annotated[
        float, typer.Option(min=0, help="Start no candidate after this many seconds.")
    ] = 300.0,
    max_candidates: Annotated[
        int, typer.Option(min=1, help="Train at most this many candidates.")
    ] = 16,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the frontier PNG (default under DOCKET_HOME/alternatives)."
        ),
    ] = None,
    register: Annotated[
        int | None,
        typer.Option(help="Register candidate K of a search as a version (does not promote)."),
    ] = None,
    search: Annotated[
        str | None, typer.Option(help="With --register: the search id (default: the latest).")
    ] = None,
    why: Annotated[
        str | None,
        typer.Option(
            help="With --register: why this candidate (required unless it is the recommended one)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Search for less discriminatory alternatives to the spec's model; register one with --register."""
    import time

    from docket.usecases import resolve_spec
    from models.settings import Settings
    from training.alternatives import register_candidate, run_search

    spec = resolve_spec(use_case)
    settings = Settings.from_env()
    say = _quiet if as_json else progress
    if register is None:
        if search is not None or why is not None:
            typer.echo("error: --search and --why are only used with --register K", err=True)
            raise typer.Exit(code=2)
        t0 = time.perf_counter()
        if as_json:
            searched = run_search(
                spec, settings, budget_seconds=budget_seconds, max_candidates=max_candidates
            )
        else:
            with typer.progressbar(
                length=min(max_candidates, 64), label="candidates", file=sys.stderr, show_pos=True
            ) as bar:
                state = {"done": 0}

                def advance(done: int, total: int, name: str) -> None:
                    bar.length = total
                    bar.label = f"candidates (last: {name})"
                    bar.update(done - state["done"])
                    state["done"] = done

                searched = run_search(
                    spec,
                    settings,
                    budget_seconds=budget_seconds,
                    max_candidates=max_candidates,
                    progress=say,
                    on_candidate=advance,
                )
        target = (
            plot or settings.home / "alternatives" / f"{spec.name}-{searched.record.search_id}.png"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(searched.png)
        result = {
            "search": searched.record.model_dump(mode="json"),
            "plot": str(target),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        emit(result, as_json, _search_text)
        return
    trained, chosen = register_candidate(
        spec, settings, register, search_id=search, why=why, progress=say
    )
    out = {
        **trained.to_dict(),
        "search_id": chosen.search_id,
        "chosen": chosen.chosen,
        "chosen_why": chosen.chosen_why,
    }
    emit(out, as_json, _register_text)
