"""Render a model card as Markdown, HTML or JSON.

Markdown and HTML are two templates (``audits/templates/card.md.j2`` and
``card.html.j2``) filled from one :class:`CardView`: the section titles, the order,
every table's header and every cell are decided here once, so the two renderings can
differ in markup but not in content. JSON is the card itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audits.cards.schema import (
    ConfidenceInterval,
    Dataset,
    FairnessRow,
    ModelCard,
    OutcomeRow,
    Outcomes,
    Provenance,
    missing_sections,
)
from audits.display import ci, comparator, num, pct, yes_no
from audits.rendering import render
from audits.report import check_figures

__all__ = [
    "SECTION_TITLES",
    "CardView",
    "Table",
    "card_json",
    "card_view",
    "render_html",
    "render_markdown",
]

# Section ids (the R19 names of ``SECTIONS`` where there is one) and titles, in order.
SECTION_TITLES: dict[str, str] = {
    "model_details": "Model details",
    "intended_use": "Intended use",
    "out_of_scope_use": "Out-of-scope use",
    "factors": "Factors",
    "metrics": "Metrics",
    "evaluation_data": "Evaluation data",
    "training_data": "Training data",
    "unitary_fairness": "Unitary fairness",
    "intersectional_fairness": "Intersectional fairness",
    "outcome_mix": "Outcomes at the operating thresholds",
    "gate_outcome": "Gate outcome",
    "provenance": "Provenance: mitigation and alternatives search",
    "review_policy": "Review policy",
    "reason_codes": "Reason-code catalogue",
    "ethical_considerations": "Ethical considerations",
    "limitations": "Limitations and trade-offs",
    "caveats": "Caveats",
    "changes_since_champion": "Changes since champion",
    "graphics": "Figures",
}
_GROUP_HEADER = (
    "Attribute",
    "Group",
    "n",
    "Share",
    "Selection rate",
    "Interval",
    "Impact ratio",
    "Interval",
    "In ratios",
    "Insufficient",
    "Verdict",
)
_OUTCOME_HEADER = (
    "Group",
    "n",
    "Share",
    "Approved",
    "Approval rate [CI]",
    "Referred",
    "Referral rate [CI]",
    "Declined",
    "Decline rate [CI]",
    "Adverse",
    "Adverse rate [CI]",
    "Adverse impact ratio [CI]",
    "In ratios",
    "Insufficient",
)
_FRONTIER_HEADER = (
    "Candidate",
    "Name",
    "ROC AUC [CI]",
    "Worst impact ratio [CI] (group)",
    "Equalized-odds difference [CI]",
    "Gate",
    "On frontier",
    "Note",
)
NO_AUDIT = "No audit: no results."
NO_SEARCH = "Not chosen from an alternatives search."
RULES_NOTE = "A row can fire several rules, so the counts can add up to more than the referrals."


@dataclass(frozen=True)
class Table:
    """A table as both renderings show it: header and cells already formatted."""

    name: str
    header: tuple[str, ...]
    rows: list[list[str]]
    empty: str = ""
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class CardView:
    """Everything the card templates print, in the order they print it."""

    title: str
    outcome: str | None
    missing: list[str]
    sections: list[tuple[str, str]]
    overview: str
    details: list[tuple[str, str]]
    regulatory: str
    use_cases: list[str]
    users: list[str]
    out_of_scope: list[str]
    factors: Table
    metrics: Table
    evaluation_data: list[tuple[str, str]]
    training_data: list[tuple[str, str]]
    unitary: Table
    intersectional: Table
    summaries: Table
    outcome_basis: list[tuple[str, str]]
    outcome_note: str
    outcome_overall: Table
    outcome_groups: list[tuple[str, Table]]
    referral_rules: Table
    gate: list[tuple[str, str]]
    rule_text: str
    failing: Table
    served: Table
    waiver: list[tuple[str, str]]
    mitigation: list[tuple[str, str]]
    search: list[tuple[str, str]]
    frontier: Table
    provenance_note: str
    frontier_figure: str | None
    policy: list[str]
    reasons_version: str
    reasons_reference: str
    reasons: Table
    ethics: Table
    limitations: list[str]
    caveats: list[str]
    changes: str
    deltas: Table
    figures: list[tuple[str, str]] = field(default_factory=list)
    referral_note: str = ""

    @property
    def titles(self) -> dict[str, str]:
        """Section id to title, for the sections this card shows."""
        return dict(self.sections)


def card_json(card: ModelCard) -> dict[str, Any]:
    """The card as JSON-ready data (MCT field names plus Docket's sections)."""
    return card.model_dump(mode="json")


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown, one heading per section (text from the spec is escaped)."""
    return render("card.md.j2", view=card_view(card))


def render_html(card: ModelCard) -> str:
    """The card as a self-contained, autoescaped HTML page."""
    return render("card.html.j2", view=card_view(card))


def card_view(card: ModelCard) -> CardView:
    """What both renderings of ``card`` show."""
    d = card.model_details
    p = card.model_parameters
    c = card.considerations
    g = card.gate
    figures = list(
        check_figures(
            {x.name: x.image for x in card.quantitative_analysis.graphics.collection}
        ).items()
    )
    shown = [key for key in SECTION_TITLES if key != "graphics" or figures]
    o = card.outcomes
    frontier_figure = card.provenance.frontier_figure
    if frontier_figure:
        check_figures({"frontier": frontier_figure})
    return CardView(
        title=f"Model card: {d.name} version {d.version.name}",
        outcome=g.outcome,
        missing=missing_sections(card),
        sections=[(key, SECTION_TITLES[key]) for key in shown],
        overview=d.overview,
        details=[
            ("Version", f"{d.version.name} ({d.version.date})"),
            ("Changes", d.version.diff),
            ("Path", d.path),
            *(("Owner", o.name) for o in d.owners),
            *(("Reference", r.reference) for r in d.references),
            ("Architecture", p.model_architecture),
            ("Input", p.input_format),
            ("Output", p.output_format),
        ],
        regulatory=d.regulatory_requirements,
        use_cases=[u.description for u in c.use_cases],
        users=[u.description for u in c.users],
        out_of_scope=[u.description for u in c.out_of_scope_uses],
        factors=Table(
            "factors",
            ("Attribute", "Derived from", "Groups", "Model input", "Note"),
            [
                [
                    f.attribute,
                    f.derived_from or "",
                    ", ".join(f.groups),
                    yes_no(f.model_input),
                    f.note,
                ]
                for f in card.factors
            ],
            empty="No sensitive attributes.",
        ),
        metrics=Table(
            "metrics",
            ("Metric", "Slice", "Value", "Interval"),
            [
                [m.type, m.slice, num(m.value), _interval(m.confidence_interval)]
                for m in card.quantitative_analysis.performance_metrics
                if m.slice.startswith("overall")
            ],
            empty="No audit: no metrics with intervals.",
            numeric=frozenset({2, 3}),
        ),
        evaluation_data=_dataset(p.data.eval),
        training_data=_dataset(p.data.train),
        unitary=_groups(card.fairness.unitary, NO_AUDIT),
        intersectional=_groups(card.fairness.intersectional, card.fairness.note or NO_AUDIT),
        summaries=Table(
            "summaries",
            ("Attribute", "Summary", "Value", "Interval", "Groups", "Insufficient"),
            [
                [
                    s.attribute,
                    s.name,
                    num(s.value),
                    _interval(s.confidence_interval),
                    str(s.groups_compared),
                    yes_no(s.insufficient),
                ]
                for s in card.fairness.summaries
            ],
            empty="No audit: no summaries.",
            numeric=frozenset({2, 3, 4}),
        ),
        outcome_basis=_outcome_basis(o),
        outcome_note=o.note,
        outcome_overall=Table(
            "outcome-overall",
            ("Outcome", "Rows", "Rate", "Interval"),
            _overall_rows(o.overall),
            numeric=frozenset({1, 2, 3}),
        ),
        outcome_groups=_outcome_tables([*o.unitary, *o.intersectional]),
        referral_rules=Table(
            "referral-rules",
            ("Referral rule", "Rows it fired on", "Share of rows"),
            [
                [rule, str(count), pct(count / o.overall.n if o.overall.n else None)]
                for rule, count in o.referral_rules.items()
            ]
            if o.overall is not None
            else [],
            empty="No referral rule fired." if o.overall is not None else "",
            numeric=frozenset({1, 2}),
        ),
        gate=[
            ("Outcome", g.outcome or "no audit"),
            ("Audit id", g.audit_id or "—"),
            ("Spec hash", g.spec_hash or "—"),
            ("Rule", g.rule or "—"),
            *(
                [("Basis", g.basis), ("Fairness checks judge", g.basis_text)]
                if g.basis is not None
                else []
            ),
            *(
                [
                    ("Decision threshold", num(g.decision_threshold)),
                    ("Justification", g.decision_threshold_justification or "none given"),
                ]
                if g.basis == "decision_threshold"
                else []
            ),
        ],
        rule_text=g.rule_text,
        failing=Table(
            "checks",
            ("Check", "Value", "Threshold", "Verdict", "Detail", "Basis"),
            [
                [
                    f.id,
                    num(f.value),
                    f"{comparator(f.comparator)} {num(f.threshold)}",
                    f.verdict,
                    f.detail,
                    f.basis,
                ]
                for f in g.failing_checks
            ],
            empty="No failing checks." if g.outcome else "",
            numeric=frozenset({1, 2}),
        ),
        served=_groups(g.served_fairness, "", name="served-groups"),
        waiver=[]
        if g.waiver is None
        else [
            ("Justification", g.waiver.justification),
            ("Requested by", g.waiver.requested_by),
            ("Approved by", g.waiver.approved_by),
            ("At", g.waiver.at or "time not recorded"),
        ],
        policy=_policy_lines(card.review_policy) or ["No review policy."],
        reasons_version=card.reason_codes.version or "—",
        reasons_reference=card.reason_codes.reference or "Not stated.",
        reasons=Table(
            "reasons",
            ("Code", "Features", "Adverse", "Favourable"),
            [
                [r.code, ", ".join(r.features), _one_line(r.adverse), _one_line(r.favourable)]
                for r in card.reason_codes.codes
            ],
            empty="No reason codes.",
        ),
        ethics=Table(
            "ethics",
            ("Consideration", "Mitigation"),
            [[r.name, r.mitigation_strategy] for r in c.ethical_considerations],
            empty="No ethical considerations recorded.",
        ),
        limitations=[
            *(u.description for u in c.limitations),
            *(f"Trade-off: {u.description}" for u in c.tradeoffs),
        ],
        caveats=card.caveats,
        changes=card.changes_since_champion.summary,
        deltas=Table(
            "deltas",
            ("Metric", "Previous", "Current", "Change"),
            [
                [m.metric, num(m.previous), num(m.current), num(m.delta)]
                for m in card.changes_since_champion.deltas
            ],
            numeric=frozenset({1, 2, 3}),
        ),
        mitigation=_mitigation(card.provenance),
        search=_search(card.provenance),
        frontier=_frontier(card.provenance),
        provenance_note=card.provenance.note,
        frontier_figure=frontier_figure,
        figures=figures,
        referral_note=RULES_NOTE if o.referral_rules else "",
    )


def _with_ci(value: float | None, interval: ConfidenceInterval | None) -> str:
    return f"{num(value)} {_interval(interval)}".strip()


def _outcome_basis(o: Outcomes) -> list[tuple[str, str]]:
    pairs = []
    if o.gated_decision:
        pairs.append(("The gate's fairness checks judge", o.gated_decision))
    if o.thresholds:
        pairs.append(("Operating thresholds", o.thresholds))
    if o.adverse_definition:
        pairs.append(("Adverse impact ratios compare", o.adverse_definition))
    if o.overall is not None:
        pairs.append(("Held-out rows", str(o.overall.n)))
    if o.n_boot is not None and o.confidence is not None:
        pairs.append(
            (
                "Intervals",
                f"seeded percentile bootstrap ({o.n_boot} resamples, seed {o.seed},"
                f" {o.confidence:.0%})",
            )
        )
    return pairs


def _overall_rows(row: OutcomeRow | None) -> list[list[str]]:
    if row is None:
        return []
    return [
        [label, str(count), num(rate), _interval(interval)]
        for label, count, rate, interval in (
            ("Approved automatically", row.approved, row.approval_rate, row.approval_rate_ci),
            ("Referred to a person", row.referred, row.referral_rate, row.referral_rate_ci),
            ("Declined automatically", row.declined, row.decline_rate, row.decline_rate_ci),
            (
                "Adverse (declined, or referred for adverse review)",
                row.adverse,
                row.adverse_rate,
                row.adverse_rate_ci,
            ),
        )
    ]


def _outcome_tables(rows: list[OutcomeRow]) -> list[tuple[str, Table]]:
    by_attribute: dict[str, list[OutcomeRow]] = {}
    for row in rows:
        by_attribute.setdefault(row.attribute, []).append(row)
    return [
        (
            attribute,
            Table(
                "outcomes",
                _OUTCOME_HEADER,
                [
                    [
                        r.group,
                        str(r.n),
                        pct(r.share),
                        str(r.approved),
                        _with_ci(r.approval_rate, r.approval_rate_ci),
                        str(r.referred),
                        _with_ci(r.referral_rate, r.referral_rate_ci),
                        str(r.declined),
                        _with_ci(r.decline_rate, r.decline_rate_ci),
                        str(r.adverse),
                        _with_ci(r.adverse_rate, r.adverse_rate_ci),
                        _with_ci(r.adverse_impact_ratio, r.adverse_impact_ratio_ci),
                        yes_no(r.included_in_ratios),
                        "INSUFFICIENT_DATA" if r.insufficient else "no",
                    ]
                    for r in group_rows
                ],
                numeric=frozenset(range(1, 12)),
            ),
        )
        for attribute, group_rows in by_attribute.items()
    ]


def _mitigation(p: Provenance) -> list[tuple[str, str]]:
    m = p.mitigation
    if m.method == "none":
        return [("Mitigation", "none: the spec's model as trained")]
    return [
        ("Mitigation", m.method),
        ("Target attribute", m.attribute or "not recorded"),
        ("Chosen setting", m.setting or "not recorded"),
    ]


def _search(p: Provenance) -> list[tuple[str, str]]:
    s = p.search
    if s is None:
        return []
    stopped = {
        "budget": f"the time budget of {s.budget_seconds:g} s ran out",
        "max_candidates": f"the maximum of {s.max_candidates} candidates was reached",
        "exhausted": "every candidate of the search space was tried",
    }.get(s.stopped_by, s.stopped_by)
    return [
        ("Search", f"{s.search_id} ({s.created_at}, spec hash {s.spec_hash})"),
        ("Candidates tried", str(s.candidates_tried)),
        ("Stopped because", stopped),
        (
            "Best ROC AUC",
            f"{num(s.best_roc_auc)}; candidates within {s.auc_tolerance:g} of it are comparable",
        ),
        ("Recommended", _candidate_label(s.recommended)),
        ("Why recommended", s.recommended_why or "not recorded"),
        ("Chosen", _candidate_label(s.chosen)),
        ("Why chosen", s.chosen_why or "not recorded"),
        *(("Search note", note) for note in s.notes),
    ]


def _candidate_label(number: int | None) -> str:
    return "none" if number is None else f"candidate {number}"


def _frontier(p: Provenance) -> Table:
    s = p.search
    if s is None:
        return Table("frontier", _FRONTIER_HEADER, [], empty=NO_SEARCH if not p.note else "")
    rows = []
    for c in s.candidates:
        notes = [
            text
            for flag, text in (
                (c.number == s.chosen, "chosen"),
                (c.number == s.recommended, "recommended"),
                (c.same_predictions_as is not None, f"same scores as {c.same_predictions_as}"),
            )
            if flag
        ]
        worst = _with_ci(c.worst_impact_ratio, c.worst_impact_ratio_ci)
        rows.append(
            [
                str(c.number),
                c.name,
                _with_ci(c.roc_auc, c.roc_auc_ci),
                f"{worst} ({c.worst_group})" if c.worst_group else worst,
                _with_ci(c.equalized_odds_difference, c.equalized_odds_difference_ci),
                c.gate_outcome,
                yes_no(c.on_frontier),
                ", ".join(notes),
            ]
        )
    return Table(
        "frontier",
        _FRONTIER_HEADER,
        rows,
        empty="The search recorded no candidates.",
        numeric=frozenset({0, 2, 3, 4}),
    )


def _interval(interval: ConfidenceInterval | None) -> str:
    return "" if interval is None else ci(interval.lower_bound, interval.upper_bound)


def _dataset(data: Dataset) -> list[tuple[str, str]]:
    return [
        ("Name", data.name),
        ("Source", data.source),
        ("Rows", str(data.rows) if data.rows is not None else "unknown"),
        ("Sensitive data", ", ".join(data.sensitive.sensitive_data)),
        ("Datasheet", data.description),
    ]


def _groups(rows: list[FairnessRow], empty: str, name: str = "groups") -> Table:
    return Table(
        name,
        _GROUP_HEADER,
        [
            [
                r.attribute,
                r.group,
                str(r.n),
                pct(r.share),
                num(r.selection_rate),
                _interval(r.selection_rate_ci),
                num(r.impact_ratio),
                _interval(r.impact_ratio_ci),
                "yes" if r.included_in_ratios else f"no: {r.excluded_reason}",
                "INSUFFICIENT_DATA" if r.insufficient else "no",
                r.verdict,
            ]
            for r in rows
        ],
        empty=empty,
        numeric=frozenset({2, 3, 4, 5, 6, 7}),
    )


def _one_line(text: str) -> str:
    """A reason text in one table cell: per-value texts (one per line in the card) joined by "; "."""
    return "; ".join(line for line in text.splitlines() if line.strip())


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in policy.items():
        if key == "rules":
            for rule in value or []:
                condition = " ".join(
                    f"{op} {rule[op]}"
                    for op in ("above", "below", "equals")
                    if rule.get(op) is not None
                )
                lines.append(
                    f"rule: refer when {rule.get('feature')} {condition}: {rule.get('reason')}"
                )
        else:
            lines.append(f"{key}: {value}")
    return lines
