"""The search for less discriminatory alternatives, on a small synthetic use case."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from audits.search import FRONTIER_ARTIFACT, SEARCH_ARTIFACT, AlternativesSearch, CandidateResult
from models import registry, tags
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from training.alternatives import (
    AlternativesError,
    Searched,
    load_search,
    register_candidate,
    run_search,
)
from training.synthetic import write_synthetic
from training.train import TrainResult

MAX = 5


@dataclass
class Done:
    spec: DecisionSpec
    settings: Settings
    searched: Searched
    registered: TrainResult
    chosen: AlternativesSearch

    @property
    def record(self) -> AlternativesSearch:
        return self.searched.record


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Done:
    root = tmp_path_factory.mktemp("alternatives")
    spec = load_spec(write_synthetic(root / "synth", rows=1500, disparity=1.5, seed=3))
    settings = Settings.local(root / "home")
    searched = run_search(spec, settings, max_candidates=MAX, budget_seconds=600)
    number = searched.record.recommended
    assert number is not None
    registered, chosen = register_candidate(spec, settings, number)
    return Done(spec, settings, searched, registered, chosen)


def _client(settings: Settings) -> MlflowClient:
    return registry.connect(settings)


def test_parent_run_with_one_child_per_candidate(done: Done) -> None:
    client = _client(done.settings)
    parent = client.get_run(done.record.search_id)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == len(done.record.candidates) == MAX
    assert {c.data.tags[tags.ALTERNATIVE_CANDIDATE] for c in children} == {
        str(n) for n in range(1, MAX + 1)
    }
    assert {c.info.run_id for c in children} == {c.run_id for c in done.record.candidates}
    stored = load_search(client, done.spec.name, done.record.search_id)
    assert stored == done.record
    with_png = client.list_artifacts(parent.info.run_id, "alternatives")
    assert {a.path for a in with_png} == {SEARCH_ARTIFACT, FRONTIER_ARTIFACT}


def test_record_is_complete_and_stops_at_max_candidates(done: Done) -> None:
    record = done.record
    assert record.stopped_by == "max_candidates"
    assert [c.number for c in record.candidates] == list(range(1, MAX + 1))
    assert record.candidates[0].name == "spec's own model"
    assert record.spec_hash == done.spec.spec_hash()
    # the planted proxy is ranked strongest and is the first feature dropped
    assert record.proxies[0].feature == "postcode_score"
    assert record.candidates[1].settings["exclude_features"] == ["postcode_score"]
    assert record.best_roc_auc == max(c.roc_auc for c in record.candidates if c.roc_auc)
    assert done.searched.png.startswith(b"\x89PNG")


def test_same_predictions_marked_from_the_score_digests(done: Done) -> None:
    cands = done.record.candidates
    for i, c in enumerate(cands):
        earlier = [e.number for e in cands[:i] if e.scores_sha256 == c.scores_sha256]
        assert c.same_predictions_as == (earlier[0] if earlier else None)
    # the logistic model already follows the data's directions: candidate 4 changes nothing
    assert cands[3].name == "monotone from data"
    assert cands[3].same_predictions_as == 1


def _dominated(c: CandidateResult, others: list[CandidateResult]) -> bool:
    def v(x: CandidateResult) -> tuple[float, float, float]:
        return (
            x.roc_auc if x.roc_auc is not None else -math.inf,
            x.worst_impact_ratio if x.worst_impact_ratio is not None else -math.inf,
            -(x.equalized_odds_difference if x.equalized_odds_difference is not None else math.inf),
        )

    return any(
        all(a >= b for a, b in zip(v(o), v(c), strict=True)) and v(o) != v(c) for o in others
    )


def test_frontier_is_exactly_the_non_dominated_distinct_candidates(done: Done) -> None:
    distinct = [c for c in done.record.candidates if c.same_predictions_as is None]
    for c in done.record.candidates:
        expected = c.same_predictions_as is None and not _dominated(
            c, [o for o in distinct if o is not c]
        )
        assert c.on_frontier == expected, c.name


def test_recommendation_follows_the_rule(done: Done) -> None:
    record = done.record
    distinct = [c for c in record.candidates if c.same_predictions_as is None]
    best = max(c.roc_auc or 0 for c in distinct)
    near = [c for c in distinct if (c.roc_auc or 0) >= best - record.auc_tolerance]
    top_ir = max(c.worst_impact_ratio or -1 for c in near)
    tied = [c for c in near if (c.worst_impact_ratio or -1) == top_ir]
    expected = min(tied, key=lambda c: (c.equalized_odds_difference or 9, -(c.roc_auc or 0)))
    assert record.recommended == expected.number
    assert f"Candidate {expected.number}" in record.recommended_why
    verdict = "passes the gate" if expected.gate_outcome == "PASS" else "not pass"
    assert verdict in record.recommended_why


def test_registered_version_documents_the_search(done: Done) -> None:
    client = _client(done.settings)
    mv = client.get_model_version(done.spec.name, done.registered.version)
    assert mv.tags[tags.ALTERNATIVE_SEARCH] == done.record.search_id
    assert mv.tags[tags.ALTERNATIVE_CANDIDATE] == str(done.record.recommended)
    assert done.spec.name in client.get_registered_model(done.spec.name).name
    assert client.get_model_version_by_alias(done.spec.name, "candidate").version == mv.version
    stored = AlternativesSearch.model_validate(
        registry.load_json(client, registry.run_id_of(mv), SEARCH_ARTIFACT)
    )
    assert stored.chosen == done.record.recommended
    assert stored.chosen_why == done.record.recommended_why
    assert stored.candidates == done.record.candidates
    arts = {a.path for a in client.list_artifacts(registry.run_id_of(mv), "alternatives")}
    assert FRONTIER_ARTIFACT in arts
    # the refit reproduces the audited candidate
    chosen = done.record.candidate(done.record.recommended or 0)
    assert done.registered.metrics["roc_auc"] == chosen.roc_auc


def test_registered_model_ignores_its_dropped_feature(done: Done) -> None:
    chosen = done.record.candidate(done.record.recommended or 0)
    dropped = chosen.settings["exclude_features"]
    if not dropped:
        pytest.skip("the recommended candidate drops no feature")
    client = _client(done.settings)
    model = registry.load_model(client, done.spec.name, done.registered.version)
    rows = pd.read_csv(done.spec.base_dir / "data.csv").head(200)
    phi, _ = model.contributions(model.encode(rows))
    for name in dropped:
        assert (phi[:, model.feature_names.index(name)] == 0).all()


# ---- refusals -----------------------------------------------------------------------------
def test_unknown_candidate_names_the_valid_numbers(done: Done) -> None:
    with pytest.raises(AlternativesError, match=r"one of \[1, 2, 3, 4, 5\]; got 9"):
        register_candidate(done.spec, done.settings, 9)


def test_duplicate_candidate_is_refused(done: Done) -> None:
    with pytest.raises(AlternativesError, match="same held-out scores as candidate 1"):
        register_candidate(done.spec, done.settings, 4)


def test_other_than_recommended_needs_a_reason(done: Done) -> None:
    other = next(
        c.number
        for c in done.record.candidates
        if c.number != done.record.recommended and c.same_predictions_as is None
    )
    with pytest.raises(AlternativesError, match="--why is required"):
        register_candidate(done.spec, done.settings, other)


def test_changed_spec_is_refused_naming_both_hashes(done: Done) -> None:
    assert done.spec.gate is not None
    gate = done.spec.gate.model_copy(update={"min_impact_ratio": 0.75})
    changed = done.spec.model_copy(update={"gate": gate})
    with pytest.raises(AlternativesError) as info:
        register_candidate(changed, done.settings, 1, why="testing a changed spec")
    assert done.spec.spec_hash()[:12] in str(info.value)
    assert changed.spec_hash()[:12] in str(info.value)


def test_no_search_yet_is_a_clear_error(tmp_path: Path, done: Done) -> None:
    with pytest.raises(AlternativesError, match="has no finished search"):
        register_candidate(done.spec, Settings.local(tmp_path / "empty"), 1)


def test_search_id_of_another_run_is_refused(done: Done) -> None:
    child = done.record.candidates[0].run_id
    with pytest.raises(AlternativesError, match="not one"):
        register_candidate(done.spec, done.settings, 1, search_id=child)


def test_zero_budget_still_runs_the_baseline(tmp_path: Path) -> None:
    spec = load_spec(write_synthetic(tmp_path / "s", rows=600, seed=5))
    searched = run_search(spec, Settings.local(tmp_path / "h"), budget_seconds=0)
    assert [c.number for c in searched.record.candidates] == [1]
    assert searched.record.stopped_by == "budget"
    assert searched.record.recommended == 1
    assert np.isfinite(searched.record.candidates[0].seconds)


def test_the_registered_versions_card_documents_the_search(done: Done) -> None:
    from audits.card_source import card_for_version
    from audits.cards import render_markdown

    card = card_for_version(_client(done.settings), done.spec, done.registered.version)
    text = render_markdown(card)
    section = text[text.index("## Provenance") :]
    assert done.record.search_id in section
    assert done.chosen.chosen_why in section
    for candidate in done.record.candidates:
        assert candidate.name in section
