"""The card's provenance (issue 10): the mitigation tags and the alternatives search.

The search records here are built by hand, as ``training.alternatives`` would store
them in the registered version's run; the card must document the search, and say so
plainly (never crash) when the record is missing or invalid.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from audits.card_source import search_record
from audits.cards import (
    ModelCard,
    build_card,
    card_json,
    missing_sections,
    render_html,
    render_markdown,
)
from audits.report import AuditReport
from audits.search import FRONTIER_ARTIFACT, SEARCH_ARTIFACT, AlternativesSearch, CandidateResult
from models import tags
from models.spec import DecisionSpec
from tests.audits.helpers import DATA_REPORT, RUN_METRICS, RUN_TAGS, build_report, make_spec, parse

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode("ascii")
SEARCH_ID = "0123456789abcdef0123456789abcdef"
CHOSEN_WHY = "Candidate 3 keeps AUC within tolerance and lifts the 18-34 ratio above 0.8."
SEARCH_TAGS = {
    tags.MITIGATION: "threshold_optimizer",
    tags.MITIGATION_ATTRIBUTE: "age_band",
    tags.MITIGATION_SETTING: "constraint=demographic_parity, grid=0.05",
    tags.ALTERNATIVE_SEARCH: SEARCH_ID,
    tags.ALTERNATIVE_CANDIDATE: "3",
}


def candidate(number: int, **fields: Any) -> CandidateResult:
    base: dict[str, Any] = {
        "number": number,
        "name": f"variant {number}",
        "settings": {"variant": number},
        "roc_auc": 0.8,
        "roc_auc_ci_low": 0.78,
        "roc_auc_ci_high": 0.82,
        "worst_impact_ratio": 0.7,
        "worst_impact_ratio_ci_low": 0.6,
        "worst_impact_ratio_ci_high": 0.8,
        "worst_group": "age_band=18-34",
        "equalized_odds_difference": 0.1,
        "equalized_odds_difference_ci_low": 0.05,
        "equalized_odds_difference_ci_high": 0.15,
        "gate_outcome": "FAIL",
        "failing": ["impact_ratio[age_band=18-34]"],
        "seconds": 1.5,
    }
    return CandidateResult.model_validate(base | fields)


def make_search(**fields: Any) -> AlternativesSearch:
    base: dict[str, Any] = {
        "search_id": SEARCH_ID,
        "use_case": "toy-credit",
        "spec_hash": "abc",
        "created_at": "2025-01-03T00:00:00+00:00",
        "budget_seconds": 120.0,
        "max_candidates": 3,
        "stopped_by": "max_candidates",
        "proxies": [],
        "candidates": [
            candidate(1, name="the spec's model", on_frontier=True, roc_auc=0.812),
            candidate(
                2,
                name="drop income_band (proxy of age_band)",
                roc_auc=0.790,
                roc_auc_ci_low=0.771,
                roc_auc_ci_high=0.808,
                worst_impact_ratio=0.76,
                worst_impact_ratio_ci_low=0.69,
                worst_impact_ratio_ci_high=0.83,
                same_predictions_as=None,
            ),
            candidate(
                3,
                name="threshold optimizer on age_band",
                on_frontier=True,
                roc_auc=0.801,
                worst_impact_ratio=0.84,
                worst_impact_ratio_ci_low=0.79,
                worst_impact_ratio_ci_high=0.9,
                worst_group="age_band=35-54",
                equalized_odds_difference=None,
                equalized_odds_difference_ci_low=None,
                equalized_odds_difference_ci_high=None,
                gate_outcome="PASS",
                failing=[],
            ),
        ],
        "best_roc_auc": 0.812,
        "auc_tolerance": 0.02,
        "recommended": 3,
        "recommended_why": "Highest worst impact ratio among candidates within 0.02 AUC.",
        "chosen": 3,
        "chosen_why": CHOSEN_WHY,
        "notes": ["monotone directions were not varied: the spec sets none"],
    }
    return AlternativesSearch.model_validate(base | fields)


@pytest.fixture(scope="module")
def spec() -> DecisionSpec:
    return make_spec()


@pytest.fixture(scope="module")
def report(spec: DecisionSpec) -> AuditReport:
    return build_report(spec).report


def card_for(
    spec: DecisionSpec,
    report: AuditReport,
    run_tags: dict[str, str],
    search: AlternativesSearch | None = None,
    problem: str = "",
    figure: str | None = None,
) -> ModelCard:
    return build_card(
        spec,
        version="3",
        created_at="2025-01-04T00:00:00+00:00",
        run_metrics=RUN_METRICS,
        run_tags={**RUN_TAGS, **run_tags},
        data_report=DATA_REPORT,
        report=report,
        waiver=None,
        previous=None,
        reason_reference="Against the approved held-out applicants.",
        search=search,
        search_problem=problem,
        frontier_figure=figure,
    )


def section(markdown: str) -> str:
    return markdown.split("\n## Provenance: mitigation and alternatives search\n", 1)[1].split(
        "\n## ", 1
    )[0]


def test_a_version_without_mitigation_says_none(spec: DecisionSpec, report: AuditReport) -> None:
    # when: no mitigation tags at all, and an explicit "none"
    for run_tags in ({}, {tags.MITIGATION: "none"}):
        card = card_for(spec, report, run_tags)
        # then
        assert "- Mitigation: none: the spec's model as trained" in section(render_markdown(card))
        assert (
            "Not chosen from an alternatives search." in parse(render_html(card)).ids["provenance"]
        )
        assert "provenance" not in missing_sections(card)


def test_mitigation_tags_are_rendered(spec: DecisionSpec, report: AuditReport) -> None:
    # given
    run_tags = {k: v for k, v in SEARCH_TAGS.items() if k.startswith("docket.mitigation")}
    # when
    card = card_for(spec, report, run_tags)
    # then
    text = section(render_markdown(card))
    assert "- Mitigation: threshold_optimizer\n" in text
    assert "- Target attribute: age_band\n" in text
    assert "- Chosen setting: constraint=demographic_parity, grid=0.05\n" in text
    assert card_json(card)["provenance"]["mitigation"] == {
        "method": "threshold_optimizer",
        "attribute": "age_band",
        "setting": "constraint=demographic_parity, grid=0.05",
    }


def test_the_search_is_documented_with_its_frontier_and_why(
    spec: DecisionSpec, report: AuditReport
) -> None:
    # given
    search = make_search()
    # when
    card = card_for(spec, report, SEARCH_TAGS, search, figure=PNG)
    html_page = render_html(card)
    page = parse(html_page)
    markdown = section(render_markdown(card))
    # then: how many candidates, why it stopped, the recommendation and the choice
    assert "- Candidates tried: 3\n" in markdown
    assert "- Stopped because: the maximum of 3 candidates was reached\n" in markdown
    assert "- Recommended: candidate 3\n" in markdown
    assert "- Why recommended: Highest worst impact ratio among candidates" in markdown
    assert "- Chosen: candidate 3\n" in markdown
    assert f"- Why chosen: {CHOSEN_WHY}\n" in markdown
    assert "- Search note: monotone directions were not varied: the spec sets none\n" in markdown
    assert SEARCH_ID in page.ids["provenance"]
    # and every candidate, the frontier flagged
    rows = page.tables_of("frontier")[0]["rows"]
    assert rows == [
        [
            "1",
            "the spec's model",
            "0.812 [0.780, 0.820]",
            "0.700 [0.600, 0.800] (age_band=18-34)",
            "0.100 [0.050, 0.150]",
            "FAIL",
            "yes",
            "",
        ],
        [
            "2",
            "drop income_band (proxy of age_band)",
            "0.790 [0.771, 0.808]",
            "0.760 [0.690, 0.830] (age_band=18-34)",
            "0.100 [0.050, 0.150]",
            "FAIL",
            "no",
            "",
        ],
        [
            "3",
            "threshold optimizer on age_band",
            "0.801 [0.780, 0.820]",
            "0.840 [0.790, 0.900] (age_band=35-54)",
            "—",
            "PASS",
            "yes",
            "chosen, recommended",
        ],
    ]
    assert "| 3 | threshold optimizer on age_band | 0.801 [0.780, 0.820] |" in markdown
    # the frontier figure inlined like the other figures
    assert [img["alt"] for img in page.images] == ["frontier"]
    assert page.images[0]["src"] == f"data:image/png;base64,{PNG}"
    assert f"![frontier](data:image/png;base64,{PNG})" in markdown
    assert missing_sections(card) == []


def test_a_search_stopped_by_its_budget_with_an_unrecorded_choice(
    spec: DecisionSpec, report: AuditReport
) -> None:
    # given: the record names no choice; the version's tag says candidate 3
    search = make_search(stopped_by="budget", chosen=None, chosen_why="")
    # when
    markdown = section(render_markdown(card_for(spec, report, SEARCH_TAGS, search)))
    # then
    assert "- Stopped because: the time budget of 120 s ran out\n" in markdown
    assert "- Chosen: candidate 3\n- Why chosen: not recorded\n" in markdown


def test_a_record_that_disagrees_with_the_tags_is_flagged(
    spec: DecisionSpec, report: AuditReport
) -> None:
    # given
    search = make_search(search_id="another", chosen=2)
    # when
    card = card_for(spec, report, SEARCH_TAGS, search)
    # then
    note = parse(render_html(card)).ids["provenance-note"]
    assert f"The record is of search another, the version's tags name {SEARCH_ID}." in note
    assert "candidate 2 was chosen, the version's tags say 3" in note


def test_a_missing_search_record_is_said_plainly_and_blocks_promotion(
    spec: DecisionSpec, report: AuditReport
) -> None:
    # when
    card = card_for(spec, report, SEARCH_TAGS, None, problem="alternatives/search.json not found")
    # then
    markdown = section(render_markdown(card))
    assert f"alternatives search {SEARCH_ID} (candidate 3)" in markdown
    assert "could not be read: alternatives/search.json not found" in markdown
    page = parse(render_html(card))
    assert "could not be read" in page.ids["provenance-note"]
    assert page.tables_of("frontier") == []
    assert missing_sections(card) == ["provenance"]


def test_a_frontier_figure_that_is_not_base64_is_refused(
    spec: DecisionSpec, report: AuditReport
) -> None:
    with pytest.raises(ValueError, match="base64"):
        card_for(spec, report, SEARCH_TAGS, make_search(), figure='" onerror="alert(1)')


class FakeArtifacts:
    """``download_artifacts`` over a folder of run artifacts (one run), as MLflow does it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        source = self.root / path
        if not source.exists():
            raise MlflowException(f"no artifact {path} in run {run_id}")
        target = Path(dst_path or self.root) / Path(path).name
        target.write_bytes(source.read_bytes())
        return str(target)


def write(root: Path, path: str, data: bytes) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)


def client_of(root: Path) -> MlflowClient:
    return cast(MlflowClient, FakeArtifacts(root))


def test_search_record_is_read_with_its_figure(tmp_path: Path) -> None:
    # given
    search = make_search()
    write(tmp_path, SEARCH_ARTIFACT, json.dumps(search.model_dump(mode="json")).encode())
    write(tmp_path, FRONTIER_ARTIFACT, base64.b64decode(PNG))
    # when
    got, problem, figure = search_record(client_of(tmp_path), "run-1")
    # then
    assert got == search and problem == "" and figure == PNG


def test_search_record_without_a_figure_still_reads_the_record(tmp_path: Path) -> None:
    write(tmp_path, SEARCH_ARTIFACT, json.dumps(make_search().model_dump(mode="json")).encode())
    got, problem, figure = search_record(client_of(tmp_path), "run-1")
    assert got is not None and problem == "" and figure is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "could not be loaded (MlflowException"),
        (b"{not json", "could not be loaded (JSONDecodeError"),
        (b'{"search_id": "x"}', "is not a valid search record (use_case: Field required)"),
    ],
)
def test_a_missing_or_invalid_record_is_reported_not_raised(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    # given
    if content is not None:
        write(tmp_path, SEARCH_ARTIFACT, content)
    # when
    got, problem, figure = search_record(client_of(tmp_path), "run-1")
    # then
    assert got is None and figure is None
    assert problem.startswith(SEARCH_ARTIFACT) and expected in problem
