"""``GET /docs.json`` documents ``POST /decide``'s real refusals, each an ErrorBody.

BentoML builds the entry of its own API method with BentoML's errors (a 400 whose
``detail`` is a string, no 401/403/413/415/429/503); the service corrects it. The
expected codes come from the statuses the service maps its errors to
(``serving.http.errors.STATUS``) and the gatekeeper's refusals (``API_GATE``).
"""

from __future__ import annotations

from typing import Any

from serving.http.errors import STATUS
from serving.http.responses import API_GATE, ErrorBody
from serving.http.service import Docket

REF = "#/components/schemas/ErrorBody"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = Docket.openapi_spec.asdict()
    return document


def test_decide_documents_each_refusal_as_an_error_body() -> None:
    # given / when: the document GET /docs.json answers
    document = _document()
    responses = {str(k): v for k, v in document["paths"]["/decide"]["post"]["responses"].items()}
    # then: every status the gate or the engine refuses with is there, as an ErrorBody
    refusals = {str(code) for code in [*STATUS.values(), *API_GATE]}
    assert refusals <= set(responses), sorted(refusals - set(responses))
    for code in refusals:
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": REF}, (code, schema)
    assert "Retry-After" in responses["429"]["headers"]
    assert "200" in responses
    # and: the schema referred to is ErrorBody's, its detail a list of problems
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["title"] == ErrorBody.__name__ and body["required"] == ["error"]
    assert {"type": "array", "items": {"additionalProperties": True, "type": "object"}} in body[
        "properties"
    ]["detail"]["anyOf"]
