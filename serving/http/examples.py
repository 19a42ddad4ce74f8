"""Example requests and answers of every JSON route, put into ``GET /docs.json``.

The examples are real: ``serving/http/openapi_examples.json`` holds the requests a
test sent to a running ``docket serve`` and the answers it got (a success and the
route's main refusal), written by
``DOCKET_WRITE_OPENAPI_EXAMPLES=1 pytest tests/serving/http/test_openapi_examples.py``.
The same test checks that each example validates against the schema the document
declares for it, and that the route still answers with the same keys.

Which routes are JSON routes (:func:`is_json_route`): every route of the table but
the console's HTML pages (``/console...``), the documentation itself (``/``,
``/docs``, ``/docs.json``, ``/static_content/...``) and the process probes and
metrics BentoML answers in plain text (``/healthz``, ``/livez``, ``/readyz``,
``/metrics``).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import attrs

__all__ = ["EXAMPLES_FILE", "add_examples", "examples", "is_json_route"]

EXAMPLES_FILE = Path(__file__).with_name("openapi_examples.json")

#: routes that answer HTML, files or plain text: documented without JSON examples
NOT_JSON_PATHS = frozenset(
    {"/", "/docs", "/docs.json", "/healthz", "/livez", "/readyz", "/metrics"}
)
NOT_JSON_PREFIXES = ("/console", "/static_content/")


def is_json_route(path: str) -> bool:
    """Whether the route at ``path`` is part of the JSON API (and so carries examples)."""
    return path not in NOT_JSON_PATHS and not path.startswith(NOT_JSON_PREFIXES)


@cache
def _loaded() -> dict[str, dict[str, Any]]:
    found = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    assert isinstance(found, dict)
    return found


def examples() -> dict[str, dict[str, Any]]:
    """``"METHOD /path"`` -> ``{"request": body or absent, "responses": {status: body}}``."""
    return copy.deepcopy(_loaded())


def _example(summary: str, value: Any) -> dict[str, Any]:
    return {"recorded": {"summary": summary, "value": value}}


def _put(content: dict[str, Any], examples_of: dict[str, Any]) -> None:
    media = content.setdefault("application/json", {})
    # BentoML's own API method has its media types as frozen attrs objects, the app dicts
    if isinstance(media, dict):
        # OpenAPI allows `example` or `examples`, not both: the recorded one replaces it
        media.pop("example", None)
        media["examples"] = examples_of
    else:
        content["application/json"] = attrs.evolve(media, examples=examples_of)


def add_examples(paths: dict[str, Any]) -> None:
    """Put each route's examples on its operation's media types (``application/json``).

    ``paths`` is the document's paths: path -> path item (BentoML's object, or a
    dict), each operation a dict. A route the document lacks, or a status it does
    not declare, is an error here, so a stale example file fails loudly.
    """
    for label, recorded in examples().items():
        method, path = label.split(" ", 1)
        item = paths[path]
        operation = (
            item.get(method.lower()) if isinstance(item, dict) else getattr(item, method.lower())
        )
        assert isinstance(operation, dict), f"{label}: not an operation of the document"
        if "request" in recorded:
            _put(
                operation["requestBody"]["content"],
                _example("a request sent to a running service", recorded["request"]),
            )
        responses = operation["responses"]
        for status, body in recorded["responses"].items():
            entry = responses.get(status, responses.get(int(status)))
            assert entry is not None, f"{label}: the document declares no {status} answer"
            _put(
                entry.setdefault("content", {}),
                _example(f"what the service answered ({status})", body),
            )
