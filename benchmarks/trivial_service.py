"""The trivial endpoint for ``benchmarks/decide_latency.py``: BentoML doing no work.

``POST /decide`` takes the same JSON body as Docket's (``use_case``, ``features``),
lets BentoML parse and validate it, and answers a constant-sized JSON object: no
model, no database, no authentication. Its throughput is the most any BentoML
``/decide`` endpoint can reach with the same worker count on the same machine, so
Docket's throughput is reported as a share of it (the issue-14 goal: at least 60%
at concurrency 8).

Started by the benchmark as
``bentoml serve trivial_service:TrivialDecide --working-dir benchmarks --host 127.0.0.1 --port N``
with ``BENTOML_CONFIG_OPTIONS=services.TrivialDecide.workers=<Docket's workers>``.
It is not part of Docket and must never be deployed.
"""

from __future__ import annotations

from typing import Any

import bentoml


# BentoML's own traffic metrics are off, as in Docket's service (its metrics are per route)
@bentoml.service(name="TrivialDecide", metrics={"enabled": False}, traffic={"timeout": 30})
class TrivialDecide:
    """Answer every request at once: the cost of BentoML and HTTP alone."""

    @bentoml.api(route="/decide")
    def decide(self, use_case: str, features: dict[str, Any]) -> dict[str, Any]:
        """Echo the use case and how many features came; nothing is scored or recorded."""
        return {"use_case": use_case, "features": len(features), "outcome": "none"}
