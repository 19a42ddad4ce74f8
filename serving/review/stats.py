"""Per-reviewer statistics (R8), computed from the chained review entries alone.

For each person who resolved cases: how many resolutions (a proposal sent to
a second reviewer counts: it is the reviewer's own judgment, whatever the
second reviewer then does), how often the outcome agreed with the model's
recommendation (over the cases where the model recommended approve or
decline), overrides by reason code, and the median seconds between opening
the case and resolving it. Second reviews are counted apart. Because the
figures come from the ledger, an auditor can recompute them from the chain.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger import LogKind
from serving.ledger.schema import LogEntryRow
from serving.ledger.times import stamp
from serving.review.entries import ReviewEntry
from serving.review.views import ReviewerStats

__all__ = ["reviewer_stats"]

_JUDGMENTS = ("resolved", "second_review_requested")
_SECOND = ("second_review_confirmed", "second_review_rejected")
_AGREES = {"approve": "approved", "decline": "declined"}


def reviewer_stats(
    session: Session, *, use_case: str | None = None, since: datetime | None = None
) -> list[ReviewerStats]:
    """Statistics of every reviewer (optionally of one use case, from ``since`` on), by name."""
    query = select(LogEntryRow.digest).where(LogEntryRow.kind == str(LogKind.REVIEW_ACTION))
    if use_case is not None:
        query = query.where(LogEntryRow.use_case == use_case)
    judgments: dict[str, list[ReviewEntry]] = defaultdict(list)
    seconds_reviews: Counter[str] = Counter()
    names: dict[str, str] = {}
    start = None if since is None else stamp(since)
    for digest in session.scalars(query.order_by(LogEntryRow.seq)):
        entry = ReviewEntry.model_validate(json.loads(digest))
        if entry.person_id is None or (start is not None and entry.at < start):
            continue
        if entry.action in _JUDGMENTS:
            judgments[entry.person_id].append(entry)
        elif entry.action in _SECOND:
            seconds_reviews[entry.person_id] += 1
        else:
            continue
        names[entry.person_id] = entry.person_name or entry.person_id
    result = []
    for person_id in set(judgments) | set(seconds_reviews):
        mine = judgments.get(person_id, [])
        judged = [e for e in mine if e.model_recommendation in _AGREES]
        agreements = sum(1 for e in judged if _AGREES[e.model_recommendation or ""] == e.outcome)
        overrides = Counter(e.reason_code or "" for e in mine if e.override)
        times = [e.review_seconds for e in mine if e.review_seconds is not None]
        result.append(
            ReviewerStats(
                person_id=person_id,
                person_name=names[person_id],
                cases=len(mine),
                with_recommendation=len(judged),
                agreements=agreements,
                agreement_rate=agreements / len(judged) if judged else None,
                overrides=sum(overrides.values()),
                overrides_by_reason=dict(sorted(overrides.items())),
                median_seconds=statistics.median(times) if times else None,
                second_reviews=seconds_reviews[person_id],
            )
        )
    return sorted(result, key=lambda s: (s.person_name.casefold(), s.person_id))
